import LANACore

/// How the state files present the registry and the engines' counters
/// (docs/design.md §2). Rendered as bytes, not interpolated: the writer
/// renders `ppe` and `drops` five times a second while traffic flows, and
/// `fblocks` for graphs of tens of thousands of blocks.
enum StateText {
    /// `fblocks`: one line per block, ascending IDP.
    static func fblocks(_ blocks: [RegistrySnapshot.Block]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(48 * blocks.count)
        for b in blocks {
            appendFblocksLine(to: &out, name: b.name, type: b.type, idp: b.idp, refs: b.refs, subscribers: b.subscribers)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// One `fblocks` line, without its newline:
    /// `<name> <type> <idp> <refs> [<subscriber idps…>]`.
    static func appendFblocksLine(to out: inout [UInt8], name: String, type: String, idp: IDP, refs: Int,
                                  subscribers: [IDP]) {
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: type.utf8)
        out.append(UInt8(ascii: " "))
        out.appendDecimal(UInt64(idp.rawValue))
        out.append(UInt8(ascii: " "))
        out.appendDecimal(UInt64(refs))
        out.append(contentsOf: " [".utf8)
        for (i, sub) in subscribers.enumerated() {
            if i > 0 { out.append(UInt8(ascii: " ")) }
            out.appendDecimal(UInt64(sub.rawValue))
        }
        out.append(UInt8(ascii: "]"))
    }

    static let ppeHeader = Array("#cpu\tpackets\tbytes\tcalls\tenqueued\tdrops\tbacklog\tended\n".utf8)

    /// `ppe`: a header line naming the columns, then per engine
    /// `CPU<n>:\t<pkts>\t<bytes>\t<fblock calls>\t<backlog enq>\t<drops>\t<backlog len>\t<ended>`
    /// (`ended`: packets that reached the top of the graph, not drops).
    static func ppe(_ engines: EngineGroup) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 * (engines.engines.count + 1))
        out.append(contentsOf: ppeHeader)
        for e in engines.engines {
            let c = engines.stats.counters(e.index)
            out.append(contentsOf: "CPU".utf8)
            out.appendDecimal(UInt64(e.cpu ?? e.index))
            out.append(UInt8(ascii: ":"))
            for value in [c.received, c.receivedBytes, c.blockCalls, c.backlogEnqueued, c.totalDrops, c.backlogLength, c.ended] {
                out.append(UInt8(ascii: "\t"))
                out.appendDecimal(value)
            }
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// `drops`: `<reason> <count>` for every reason of loss, summed over
    /// engines.
    static func drops(_ engines: EngineGroup) -> [UInt8] {
        let t = engines.stats.total()
        var out: [UInt8] = []
        out.reserveCapacity(24 * DropReason.count)
        for reason in DropReason.losses {
            out.append(contentsOf: reason.description.utf8)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(t.drops(reason))
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// `stalls` (with --measure-stalls): `CPU<n>: max_burst_ns=<x> max_gap_ns=<y>`.
    static func stalls(_ engines: EngineGroup) -> [UInt8] {
        Array(engines.engines.map { e in
            let c = engines.stats.counters(e.index)
            return "CPU\(e.cpu ?? e.index): max_burst_ns=\(c.maxBurstNanos) max_gap_ns=\(c.maxGapNanos)\n"
        }.joined().utf8)
    }

    /// Lines, each followed by a newline.
    static func lines(_ lines: [String]) -> [UInt8] {
        var out: [UInt8] = []
        for line in lines {
            out.append(contentsOf: line.utf8)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }
}

extension [UInt8] {
    /// Appends `value` in decimal ASCII without building a `String`
    /// (string interpolation costs ten times as much).
    mutating func appendDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes, enough for 20 digits
        Swift.withUnsafeMutableBytes(of: &digits) { buf in
            var v = value
            var at = buf.count
            repeat {
                at -= 1
                buf[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v != 0
            append(contentsOf: buf[at...])
        }
    }
}
