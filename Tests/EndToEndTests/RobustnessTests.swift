import Foundation
import Glibc
import LANATestSupport
import XCTest

/// docs/design.md §3 and §10: malformed messages are answered with EINVAL/EOPNOTSUPP
/// and never crash or stall lanad, make it grow without bound, or change
/// the registry; clients that vanish mid-request do no harm.
final class RobustnessTests: EndToEndTestCase {
    /// One malformed message and what the daemon must answer.
    struct Case {
        var bytes: [UInt8]
        var expected: Set<Int32>   // negative errnos
        var sequence: UInt32       // echoed sequence (0 when the header is incomplete)
        var kind: String
    }

    static let einval: Set<Int32> = [-EINVAL]
    static let eopnotsupp: Set<Int32> = [-EOPNOTSUPP]
    static let either: Set<Int32> = [-EINVAL, -EOPNOTSUPP]

    /// Requests that would be valid (and, for most, change the registry of
    /// the fixture) if the daemon accepted them; each case breaks one.
    static let templates: [(command: NL.Cmd, attributes: [[UInt8]])] = [
        (.add, [Wire.string(.name, "fz"), Wire.string(.type, "dummy")]),
        (.rm, [Wire.string(.name, "spare")]),
        (.set, [Wire.string(.name, "cnt"), Wire.string(.option, "reset=1")]),
        (.bind, [Wire.string(.name, "spare"), Wire.string(.name2, "keep2")]),
        (.unbind, [Wire.string(.name, "top"), Wire.string(.name2, "keep1")]),
        (.replace, [Wire.string(.name, "keep1"), Wire.string(.name2, "spare"), Wire.u32(.flags, 1)]),
        (.subscribe, [Wire.string(.name, "spare"), Wire.string(.name2, "keep2")]),
        (.unsubscribe, [Wire.string(.name, "keep1"), Wire.string(.name2, "keep2")]),
        (.list, []),
        (.show, [Wire.string(.name, "keep1")]),
        (.hook, [Wire.string(.ifname, "lo")]),
        (.unhook, [Wire.string(.ifname, "nosuch0")]),
        (.vadd, [Wire.string(.name, "v0"), Wire.string(.ifname, "lo"), Wire.u32(.tag, 7)]),
        (.vrm, [Wire.string(.name, "v0")]),
        (.apply, [Wire.attribute(NL.Attr.command.rawValue, Wire.u32(.cmd, 1) + Wire.string(.name, "fz2") + Wire.string(.type, "dummy")),
                  Wire.attribute(NL.Attr.command.rawValue, Wire.u32(.cmd, 2) + Wire.string(.name, "spare"))]),
    ]

    /// Attributes a command does not take (besides reply-only ones).
    static func foreignAttribute(for command: NL.Cmd) -> [UInt8] {
        switch command {
        case .add: return Wire.string(.option, "x=1")
        case .rm, .show, .vrm: return Wire.string(.type, "dummy")
        case .set: return Wire.string(.name2, "x")
        case .bind, .unbind, .subscribe, .unsubscribe: return Wire.u32(.flags, 1)
        case .replace: return Wire.string(.type, "dummy")
        case .list, .watch: return Wire.string(.name, "keep1")
        case .hook, .unhook: return Wire.string(.name, "lo")
        case .vadd: return Wire.u32(.flags, 0)
        case .apply: return Wire.string(.name, "x")
        }
    }

    struct Generator {
        var rng: SplitMix64
        var sequence: UInt32

        init(seed: UInt64, firstSequence: UInt32) {
            rng = SplitMix64(seed: seed)
            sequence = firstSequence
        }

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

        mutating func template() -> (NL.Cmd, [[UInt8]]) {
            let t = RobustnessTests.templates[int(0...(RobustnessTests.templates.count - 1))]
            return (t.command, t.attributes)
        }

        mutating func nextSequence() -> UInt32 {
            sequence &+= 1
            if sequence == 0 { sequence = 1 }
            return sequence
        }

        /// A whole message of a template with one field replaced.
        mutating func message(_ command: UInt8, _ attributes: [UInt8], type: UInt16 = NL.family,
                              flags: UInt16 = NL.request | NL.ack, version: UInt8 = 1, length: UInt32? = nil)
            -> (bytes: [UInt8], sequence: UInt32)
        {
            let seq = nextSequence()
            return (Wire.message(command: command, attributes: attributes, sequence: seq, type: type, flags: flags,
                                 version: version, length: length), seq)
        }

        mutating func next() -> Case {
            let (command, attributes) = template()
            let flat = attributes.flatMap { $0 }
            switch int(0...27) {
            case 0, 1:
                // Random bytes.
                let count = int(0...200)
                var bytes = rng.bytes(count)
                // A random datagram that happened to be a valid request is
                // beyond astronomically unlikely; make it impossible anyway.
                if count >= 6 && bytes[4] == 0x20 && bytes[5] == 0 { bytes[4] = 0x21 }
                let seq: UInt32 = count >= 16 ? bytes[8..<12].enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) } : 0
                return Case(bytes: bytes, expected: RobustnessTests.either, sequence: seq, kind: "random bytes")
            case 2:
                // Truncated header.
                let m = message(command.rawValue, flat)
                return Case(bytes: Array(m.bytes.prefix(int(1...15))), expected: RobustnessTests.einval, sequence: 0,
                            kind: "truncated header")
            case 3:
                // Truncated message: nlmsg_len larger than the datagram.
                let m = message(command.rawValue, flat)
                guard m.bytes.count > 16 else { return next() }
                return Case(bytes: Array(m.bytes.prefix(int(16...(m.bytes.count - 1)))), expected: RobustnessTests.einval,
                            sequence: m.sequence, kind: "truncated message")
            case 4:
                // nlmsg_len larger than the (complete) datagram.
                let m = message(command.rawValue, flat, length: UInt32(20 + flat.count + int(1...5000)))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "nlmsg_len too large")
            case 5:
                // nlmsg_len shorter than the headers.
                let m = message(command.rawValue, flat, length: UInt32(int(0...19)))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "nlmsg_len too small")
            case 6:
                // Bytes after the message.
                let m = message(command.rawValue, flat)
                return Case(bytes: m.bytes + rng.bytes(int(4...64)), expected: RobustnessTests.einval, sequence: m.sequence,
                            kind: "trailing bytes")
            case 7:
                // Not the LANA family (including netlink's own types).
                var type = UInt16(int(0...0xffff))
                if type == NL.family { type = 0x10 }
                let m = message(command.rawValue, flat, type: type)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "wrong nlmsg_type")
            case 8:
                var version = UInt8(int(0...255))
                if version == 1 { version = 2 }
                let m = message(command.rawValue, flat, version: version)
                return Case(bytes: m.bytes, expected: RobustnessTests.eopnotsupp, sequence: m.sequence, kind: "bad version")
            case 9, 10:
                // Unknown commands, including the daemon-only EVENT (0x40).
                let choices: [UInt8] = [0, 18, 19, 0x40, 0x41, 0x7f, 0x80, 0xff, UInt8(int(18...255))]
                let m = message(choices[int(0...(choices.count - 1))], flat)
                return Case(bytes: m.bytes, expected: RobustnessTests.eopnotsupp, sequence: m.sequence, kind: "unknown command")
            case 11:
                // Not flagged as a request.
                let flags = UInt16(int(0...0xffff)) & ~NL.request
                let m = message(command.rawValue, flat, flags: flags)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "no NLM_F_REQUEST")
            case 12:
                // nla_len below the attribute header.
                let bad = Wire.le16(UInt16(int(0...3))) + Wire.le16(NL.Attr.name.rawValue)
                let m = message(command.rawValue, bad + flat)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "nla_len < 4")
            case 13:
                // nla_len past the end of the message.
                let payload = Array("keep1".utf8) + [0]
                let bad = Wire.attribute(NL.Attr.name.rawValue, payload, declaredLength: 4 + payload.count + int(1...400), pad: false)
                let m = message(command.rawValue, flat + bad)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "nla_len too large")
            case 14:
                // Unknown attribute types, with or without flag bits.
                let unknown: [UInt16] = [0, 8, 16, 100, 0x3fff, UInt16(int(16...0x3fff))]
                var type = unknown[int(0...(unknown.count - 1))]
                if int(0...1) == 1 { type |= [0x8000, 0x4000, 0xc000][int(0...2)] }
                let m = message(command.rawValue, flat + Wire.attribute(type, rng.bytes(int(0...16))))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "unknown attribute type")
            case 15:
                // A known attribute with NLA_F_NESTED / NLA_F_NET_BYTEORDER.
                guard let first = attributes.first else { return next() }
                var bad = first
                // NLA_F_NESTED is right on APPLY's COMMAND, wrong elsewhere.
                bad[3] |= command == .apply ? 0x40 : [0x80, 0x40][int(0...1)]
                let m = message(command.rawValue, ([bad] + attributes.dropFirst()).flatMap { $0 })
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "attribute flag bits")
            case 16:
                // An attribute the command does not take, or a reply-only one.
                let replyOnly: [[UInt8]] = [Wire.u32(.commandIndex, 1), Wire.string(.text, "t"), Wire.string(.json, "{}"),
                                            Wire.string(.event, "added x 1 dummy")]
                let extra = int(0...1) == 0 ? RobustnessTests.foreignAttribute(for: command) : replyOnly[int(0...3)]
                let m = message(command.rawValue, flat + extra)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "attribute not allowed")
            case 17:
                // A duplicate (non-repeatable) attribute.
                guard let first = attributes.first, command != .apply else { return next() }
                let m = message(command.rawValue, flat + first)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "duplicate attribute")
            case 18:
                // A u32 of the wrong size.
                let size = [0, 1, 2, 3, 5, 6, 8, 12][int(0...7)]
                let (cmd, rest, attr): (NL.Cmd, [UInt8], NL.Attr) = int(0...1) == 0
                    ? (.replace, Wire.string(.name, "keep1") + Wire.string(.name2, "spare"), .flags)
                    : (.vadd, Wire.string(.name, "v0") + Wire.string(.ifname, "lo"), .tag)
                let m = message(cmd.rawValue, rest + Wire.attribute(attr.rawValue, rng.bytes(size)))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "u32 size")
            case 19:
                // A string without its NUL.
                let m = message(NL.Cmd.add.rawValue,
                                Wire.attribute(NL.Attr.name.rawValue, Array("fz".utf8)) + Wire.string(.type, "dummy"))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "string without NUL")
            case 20:
                // A NUL inside a string: "fz\0x" would be cut to "fz" by a careless parser.
                let m = message(NL.Cmd.add.rawValue,
                                Wire.attribute(NL.Attr.name.rawValue, Array("fz".utf8) + [0] + Array("x".utf8) + [0])
                                    + Wire.string(.type, "dummy"))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "NUL inside string")
            case 21:
                // Invalid UTF-8.
                let invalid: [[UInt8]] = [[0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]
                let m = message(NL.Cmd.add.rawValue,
                                Wire.attribute(NL.Attr.name.rawValue, Array("fz".utf8) + invalid[int(0...4)] + [0])
                                    + Wire.string(.type, "dummy"))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "invalid UTF-8")
            case 22:
                // A string over the policy's limit (255 bytes for names).
                let long = String(repeating: "n", count: int(256...1000))
                let m = message(NL.Cmd.add.rawValue, Wire.string(.name, long) + Wire.string(.type, "dummy"))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "string too long")
            case 23:
                // A required attribute missing.
                guard !attributes.isEmpty, command != .apply else { return next() }
                var kept = attributes
                kept.remove(at: int(0...(kept.count - 1)))
                if command == .replace && kept.count == 2 && kept[1] == Wire.u32(.flags, 1) && kept[0] == Wire.string(.name, "keep1") {
                    // Dropped NAME2: still invalid.
                }
                if command == .replace && kept == [Wire.string(.name, "keep1"), Wire.string(.name2, "spare")] {
                    // Dropped only the optional FLAGS: that is valid, drop NAME too.
                    kept.removeFirst()
                }
                let m = message(command.rawValue, kept.flatMap { $0 })
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "missing attribute")
            case 24:
                // Unknown FLAGS bits in REPLACE.
                let bits = UInt32(truncatingIfNeeded: rng.next()) | 2
                let m = message(NL.Cmd.replace.rawValue,
                                Wire.string(.name, "keep1") + Wire.string(.name2, "spare") + Wire.u32(.flags, bits))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "unknown flags")
            case 25:
                // Nested garbage: a nested attribute holding more attributes
                // (and garbage), where a string is expected.
                let inner = Wire.string(.name, "fz") + Wire.u32(.tag, 1) + Wire.attribute(0x8001, rng.bytes(int(0...24)))
                let nested = Wire.attribute(NL.Attr.name.rawValue | [0x8000, 0][int(0...1)], inner + rng.bytes(int(0...8)))
                let m = message(NL.Cmd.add.rawValue, nested + Wire.string(.type, "dummy"))
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "nested garbage")
            case 26:
                // A random attribute stream, closed by an attribute with
                // nla_len 3 so that no stream can be valid.
                let stream = rng.bytes(int(0...120)) + [3, 0, 1, 0]
                let m = message(command.rawValue, stream)
                return Case(bytes: m.bytes, expected: RobustnessTests.einval, sequence: m.sequence, kind: "random attributes")
            default:
                // An empty datagram.
                return Case(bytes: [], expected: RobustnessTests.einval, sequence: 0, kind: "empty datagram")
            }
        }
    }

    /// Sends `total` generated cases over one connection after another
    /// (`perConnection` each), with up to `window` requests in flight, and
    /// checks every reply. Returns failure descriptions (at most 20).
    static func fuzz(path: String, seed: UInt64, total: Int, perConnection: Int = 5_000, window: Int = 8,
                     firstSequence: UInt32) -> (failures: [String], failureCount: Int, kinds: [String: Int]) {
        var generator = Generator(seed: seed, firstSequence: firstSequence)
        var failures: [String] = []
        var failureCount = 0
        var kinds: [String: Int] = [:]
        func fail(_ s: String) {
            failureCount += 1
            if failures.count < 20 { failures.append(s) }
        }
        var sent = 0
        while sent < total {
            let socket: RawSocket
            do { socket = try RawSocket(path: path) } catch {
                fail("connect after \(sent) messages: \(error)")
                return (failures, failureCount, kinds)
            }
            var pending: [(Case, Int)] = []
            var onThisConnection = 0
            func receiveOne() -> Bool {
                let (c, index) = pending.removeFirst()
                guard let bytes = socket.receive() else {
                    fail("#\(index) \(c.kind): no reply within the timeout (errno \(errno)); lanad stalled?")
                    return false
                }
                let reply = RawReply(bytes: bytes)
                if reply.type != NL.error || reply.error.map({ !c.expected.contains($0) }) ?? true
                    || reply.sequence != c.sequence || (reply.length.map { Int($0) } ?? -1) != bytes.count
                    || (reply.extendedAckMessage ?? "").isEmpty
                {
                    fail("#\(index) \(c.kind) (seed \(seed)): sent \(c.bytes.prefix(48).map { String(format: "%02x", $0) }.joined()) expected \(c.expected.sorted()) seq \(c.sequence), got \(reply)")
                }
                return true
            }
            while sent < total && onThisConnection < perConnection {
                let c = generator.next()
                kinds[c.kind, default: 0] += 1
                guard socket.send(c.bytes) else {
                    fail("#\(sent) \(c.kind): send failed: \(String(cString: strerror(errno)))")
                    return (failures, failureCount, kinds)
                }
                pending.append((c, sent))
                sent += 1
                onThisConnection += 1
                if pending.count >= window { guard receiveOne() else { return (failures, failureCount, kinds) } }
            }
            while !pending.isEmpty { guard receiveOne() else { return (failures, failureCount, kinds) } }
        }
        return (failures, failureCount, kinds)
    }

    /// Clients that connect and vanish at awkward moments.
    static func vanishingClients(path: String, round: Int) -> [String] {
        var problems: [String] = []
        let list = Wire.message(command: NL.Cmd.list.rawValue, sequence: 1, flags: NL.request | NL.ack | NL.dump)
        let show = Wire.message(command: NL.Cmd.show.rawValue, attributes: Wire.string(.name, "keep1"), sequence: 2)
        let watch = Wire.message(command: NL.Cmd.watch.rawValue, sequence: 3)
        let refusedRemove = Wire.message(command: NL.Cmd.rm.rawValue, attributes: Wire.string(.name, "nosuch"), sequence: 4)
        func connect() -> RawSocket? {
            do { return try RawSocket(path: path) } catch {
                problems.append("round \(round): connect: \(error)")
                return nil
            }
        }
        for i in 0..<25 {
            // Connect and go.
            _ = connect()
            // Half a request, then go.
            if let s = connect() { s.send(Array(show.prefix(show.count / 2))) }
            // A dump request, gone before the reply.
            if let s = connect() { s.send(list) }
            // A request and a half-close, reply never read.
            if let s = connect() {
                s.send(i % 2 == 0 ? refusedRemove : show)
                s.shutdownWrite()
            }
        }
        // Watchers that vanish without reading (events are made later).
        for _ in 0..<10 { if let s = connect() { s.send(watch) } }
        // A client that floods requests without reading any reply.
        if let s = connect() {
            var sentCount = 0
            while sentCount < 2_000 && s.send(list, flags: Int32(MSG_DONTWAIT)) { sentCount += 1 }
        }
        // More connections at once than the daemon serves, then all gone.
        var many: [RawSocket] = []
        for _ in 0..<300 {
            guard let s = try? RawSocket(path: path, timeoutSeconds: 1) else { break }
            s.send(show, flags: Int32(MSG_DONTWAIT))
            many.append(s)
        }
        if many.count < 256 { problems.append("round \(round): only \(many.count) of 300 simultaneous connects succeeded") }
        many.removeAll()
        return problems
    }

    /// What must not change: the registry as fblocks and as `fbctl list`.
    private func snapshot(_ lanad: LanadProcess) -> (String?, String) {
        (lanad.fblocks, lanad.fbctl("list").stdout)
    }

    func testMalformedMessagesAndVanishingClients() throws {
        let lanad = try startLanad()
        // A fixture the malformed requests would change if accepted.
        for (name, type) in [("keep1", "dummy"), ("keep2", "dummy"), ("top", "counter"), ("cnt", "counter"), ("spare", "dummy")] {
            assertOK(lanad.fbctl("add", name, type))
        }
        assertOK(lanad.fbctl("bind", "top", "keep1"))
        assertOK(lanad.fbctl("subscribe", "keep1", "keep2"))
        // Some bulk, so that LIST replies are multi-part and sizeable.
        assertOK(lanad.fbctl(["apply", "-"], stdin: (0..<40).map { "fbctl add bulk\($0) dummy\n" }.joined()))
        let before = snapshot(lanad)
        XCTAssertEqual(before.1.split(separator: "\n").count, 45)

        let seed = UInt64.random(in: 0...UInt64.max)
        let threads = 2
        let total = 100_000
        let warmUp = 10_000
        let start = Date()
        let path = lanad.controlPath

        // Warm-up: the first tenth of the messages and one round of vanishing clients.
        let warm = Locked<[(failures: [String], failureCount: Int, kinds: [String: Int])]>([])
        runOnThreads(threads, timeout: 60) { t in
            let r = RobustnessTests.fuzz(path: path, seed: seed &+ UInt64(t), total: warmUp / threads,
                                         firstSequence: UInt32(t) << 28)
            warm.withLock { $0.append(r) }
        }
        var problems = RobustnessTests.vanishingClients(path: path, round: 0)
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { lanad.fbctl("list").status == 0 })
        let rssBefore = try XCTUnwrap(residentKilobytes(of: lanad.pid))

        let main = Locked<[(failures: [String], failureCount: Int, kinds: [String: Int])]>([])
        let finished = runOnThreads(threads, timeout: 120) { t in
            let r = RobustnessTests.fuzz(path: path, seed: seed &+ UInt64(100 + t), total: (total - warmUp) / threads,
                                         firstSequence: (UInt32(t) << 28) | 0x0800_0000)
            main.withLock { $0.append(r) }
        }
        XCTAssertTrue(finished, "fuzzing threads did not finish in time")
        for round in 1...3 { problems += RobustnessTests.vanishingClients(path: path, round: round) }
        // Events to the vanished watchers: an option change keeps fblocks as it was.
        assertOK(lanad.fbctl("set", "cnt", "reset=1"))
        // Oversized datagrams (above the 64 KiB limit).
        let big = try RawSocket(path: path)
        for i in 0..<10 {
            let m = Wire.message(command: NL.Cmd.set.rawValue,
                                 attributes: Wire.string(.option, String(repeating: "#", count: 70_000)), sequence: UInt32(500 + i))
            XCTAssertTrue(big.send(m), "send of an oversized datagram: \(String(cString: strerror(errno)))")
            let reply = RawReply(bytes: big.receive() ?? [])
            XCTAssertEqual(reply.type, NL.error, "\(reply)")
            XCTAssertEqual(reply.error, -EINVAL, "\(reply)")
            XCTAssertEqual(reply.sequence, UInt32(500 + i), "\(reply)")
        }

        let results = warm.current + main.current
        let sentCount = results.reduce(0) { $0 + $1.kinds.values.reduce(0, +) }
        let failureCount = results.reduce(0) { $0 + $1.failureCount }
        XCTAssertGreaterThanOrEqual(sentCount, total, "messages sent")
        XCTAssertEqual(failureCount, 0, "wrong replies (seed \(seed)):\n" + results.flatMap(\.failures).prefix(20).joined(separator: "\n"))
        var kinds: [String: Int] = [:]
        for r in results { kinds.merge(r.kinds, uniquingKeysWith: +) }
        XCTAssertGreaterThanOrEqual(kinds.count, 26, "every kind of malformation was sent: \(kinds)")
        XCTAssertEqual(problems, [])

        // Still alive, still answering, registry unchanged.
        XCTAssertTrue(lanad.process.isRunning, "lanad died; log:\n\(lanad.log)")
        let after = snapshot(lanad)
        XCTAssertEqual(after.0, before.0, "fblocks changed")
        XCTAssertEqual(after.1, before.1, "fbctl list changed")
        assertOK(lanad.fbctl("add", "afterwards", "dummy"))
        XCTAssertTrue(lanad.fblocks?.hasSuffix("afterwards dummy 46 1 []\n") == true,
                      "no IDP was handed out by a malformed request: \(lanad.fblocks ?? "-")")
        assertOK(lanad.fbctl("rm", "afterwards"))

        // Bounded memory.
        let rssAfter = try XCTUnwrap(residentKilobytes(of: lanad.pid))
        // 90,000 messages and 300+ vanished clients after the warm-up: a
        // leak of even 40 bytes per message would show as 3.5 MB.
        XCTAssertLessThan(rssAfter - rssBefore, 3 * 1024, "VmRSS grew from \(rssBefore) kB to \(rssAfter) kB")
        let elapsed = Date().timeIntervalSince(start)
        print("robustness: \(sentCount) malformed messages, \(kinds.count) kinds, VmRSS \(rssBefore) → \(rssAfter) kB, \(String(format: "%.1f", elapsed)) s")
    }
}
