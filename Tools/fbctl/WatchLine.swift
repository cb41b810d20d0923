import Glibc
import LANAControl

/// One event as `fbctl watch` prints it: the time fbctl received it and
/// the event's fields, as a line of text or a JSON object.
struct WatchLine {
    /// `2026-01-02T03:04:05.678901Z`: UTC, so that lines from several
    /// machines or time zones compare as text.
    let time: String
    /// The event as lanad sent it: `<event> <block> <idp> [<detail>]`.
    let text: String

    init(_ text: String, now: timespec = WatchLine.now()) {
        self.text = text
        self.time = WatchLine.format(now)
    }

    func render(json: Bool) -> String {
        guard json else { return "\(time) \(text)" }
        let fields = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        var out = "{\"time\":\(JSONText.string(time))"
        // Every event lanad sends has a kind, a block and its IDP; anything
        // else is passed on whole rather than guessed at.
        guard fields.count >= 3, let idp = UInt32(fields[2]) else {
            return out + ",\"event\":\(JSONText.string(text))}"
        }
        out += ",\"event\":\(JSONText.string(fields[0])),\"block\":\(JSONText.string(fields[1])),\"idp\":\(idp)"
        out += ",\"detail\":\(JSONText.string(fields.count > 3 ? fields[3] : ""))}"
        return out
    }

    static func now() -> timespec {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return t
    }

    static func format(_ t: timespec) -> String {
        var seconds = t.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
            + ".\(pad(Int(t.tv_nsec) / 1_000, 6))Z"
    }
}
