import LANABPF
import LANATestSupport
import XCTest

/// LANA's machine against the Linux kernel's socket filter, Linux
/// extensions included: the same program is attached to an `AF_PACKET`
/// socket on one end of a veth pair (in namespaces the test creates), the
/// other end sends a known set of frames, and the frames the kernel lets
/// through (cut to the program's result, as `AF_PACKET` does) must be
/// those LANA's machine lets through given the matching `BPFEnvironment`.
final class BPFKernelMachineTests: XCTestCase {
    /// Marks the two frames that end a burst.
    static let sentinelType = 0x88B6
    static let magic: [UInt8] = Array("LANA-BPF-SENTINEL".utf8)

    static func sentinel(_ n: UInt8) -> [UInt8] {
        BPFTestFrames.ethernet(BPFTestFrames.localMAC, sentinelType, magic + [n] + Array(repeating: 0, count: 28))
    }

    static func isSentinel(_ bytes: [UInt8], _ n: UInt8) -> Bool {
        bytes.count == 60 && Array(bytes[14..<(14 + magic.count)]) == magic && bytes[14 + magic.count] == n
    }

    /// A live link and the sockets on it.
    struct Link {
        let pair: BPFVethPair
        let filtered: BPFPacketSocket
        let observer: BPFPacketSocket
        let sender: BPFPacketSocket
    }

    func makeLink() throws -> Link {
        try BPFTools.requireRoot()
        try BPFTools.require(tool: "ip", package: "iproute2")
        let pair = try BPFVethPair()
        let (filtered, observer) = try BPFVethPair.inNamespace(pair.namespaceA) {
            (try BPFPacketSocket(interface: pair.interfaceA), try BPFPacketSocket(interface: pair.interfaceA))
        }
        let sender = try BPFVethPair.inNamespace(pair.namespaceB) {
            try BPFPacketSocket(interface: pair.interfaceB, receiving: false)
        }
        return Link(pair: pair, filtered: filtered, observer: observer, sender: sender)
    }

    /// The environment the kernel had for a frame, from `PACKET_AUXDATA`.
    static func environment(_ frame: BPFPacketSocket.Frame, interfaceIndex: Int32) -> BPFEnvironment {
        var environment = BPFEnvironment()
        environment.protocol = frame.protocolType
        environment.packetType = frame.packetType
        environment.interfaceIndex = UInt32(interfaceIndex)
        environment.hardwareType = 1
        environment.vlanPresent = frame.vlanTCI != nil
        environment.vlanTCI = frame.vlanTCI ?? 0
        environment.vlanTPID = frame.vlanTPID
        return environment
    }

    struct Outcome {
        /// Frames the kernel's filter saw (from the unfiltered observer).
        var seen: [BPFPacketSocket.Frame]
        /// Frames that came through the filter.
        var passed: [[UInt8]]
    }

    /// Attaches `program`, sends `frames` and the two sentinels, and waits
    /// (at most 5 s) until the observer has the second sentinel: by then
    /// the filtered socket has every earlier frame too.
    func exchange(_ link: Link, _ program: [BPFInstruction], _ frames: [[UInt8]]) throws -> Outcome {
        let (attached, error) = BPFKernel.attach(program, to: link.filtered.fd)
        try require(attached, "the kernel refused a verified program (errno \(error)):\n\(BPFDisassembler.listing(program))")
        link.filtered.drain()
        link.observer.drain()
        for frame in frames { try link.sender.send(frame) }
        try link.sender.send(Self.sentinel(1))
        try link.sender.send(Self.sentinel(2))
        var seen: [BPFPacketSocket.Frame] = []
        let deadline = Date().addingTimeInterval(5)
        while true {
            guard let frame = link.observer.receive(timeoutMilliseconds: 200) else {
                try require(Date() < deadline, "the second sentinel never arrived (\(seen.count) frames seen)")
                continue
            }
            if Self.isSentinel(frame.bytes, 2) { break }
            seen.append(frame)
        }
        var passed: [[UInt8]] = []
        while let frame = link.filtered.receive(timeoutMilliseconds: 0) { passed.append(frame.bytes) }
        return Outcome(seen: seen, passed: passed)
    }

    /// Runs `program` on the kernel and on LANA's machine; returns how
    /// many frames passed.
    @discardableResult
    func compare(_ link: Link, _ program: [BPFInstruction], _ frames: [[UInt8]], _ name: String) throws -> Int {
        let machines = BPFMachines.all(try BPFProgram(program))
        let outcome = try exchange(link, program, frames)
        XCTAssertEqual(outcome.seen.count, frames.count + 1, "\(name): frames lost on the link")
        var expected: [[UInt8]] = []
        for frame in outcome.seen {
            let results = machines.map { compiled in
                var environment = Self.environment(frame, interfaceIndex: link.observer.interfaceIndex)
                return frame.bytes.withUnsafeBytes { compiled.run($0, &environment) }
            }
            XCTAssertEqual(Set(results).count, 1, "\(name): machines differ (fused, unfused, native: \(results))")
            let result = results[0]
            if result != 0 { expected.append(Array(frame.bytes.prefix(Int(min(UInt32(frame.bytes.count), result))))) }
        }
        // The second sentinel may or may not have reached the filtered
        // socket yet; it is not part of the comparison.
        var passed = outcome.passed
        if let last = passed.last, passed.count == expected.count + 1, last.count <= 60,
           Self.sentinel(2).starts(with: last), !last.isEmpty {
            passed.removeLast()
        }
        if passed != expected {
            let firstDifference = zip(passed, expected).enumerated().first { $0.element.0 != $0.element.1 }
            XCTFail("""
                \(name): the kernel passed \(passed.count) frames, LANA \(expected.count); first difference at \
                \(firstDifference.map { "#\($0.offset): kernel \($0.element.0.count) bytes, LANA \($0.element.1.count) bytes" } ?? "the end")
                \(BPFDisassembler.listing(program))
                """)
        }
        return passed.count
    }

    static func frames<G: RandomNumberGenerator>(using rng: inout G) -> [[UInt8]] {
        var frames = BPFTestFrames.mixed(using: &rng, minimumLength: 14, random: 12)
        // The kernel drops a VLAN frame too short to untag before any
        // socket sees it; keep those out.
        frames.removeAll { f in f.count < 18 && (f[12] == 0x81 && f[13] == 0x00 || f[12] == 0x88 && f[13] == 0xA8) }
        return frames
    }

    /// Programs that read each deterministic extension, and the helpers
    /// that fill an environment from a frame.
    func testExtensionsMatchTheKernel() throws {
        let link = try makeLink()
        defer { link.pair.destroy() }
        var rng = SplitMix64(seed: 0xB9F0_0005)
        let frames = Self.frames(using: &rng)
        let sources: [(String, String)] = [
            ("proto", "ld #proto\nret a"), ("proto-arp", "ldh #proto\njeq #0x806, yes, no\nyes: ret #-1\nno: ret #0"),
            ("type", "ld #type\nadd #1\nret a"), ("type-host", "ldb #type\njeq #0, yes, no\nyes: ret #-1\nno: ret #0"),
            ("ifidx", "ld #ifidx\nret a"), ("mark", "ld #mark\nadd #1\nret a"), ("queue", "ld #queue\nadd #1\nret a"),
            ("hatype", "ld #hatype\nret a"), ("vlan_tci", "ld #vlan_tci\nadd #1\nret a"), ("vlanp", "ld #vlanp\nadd #1\nret a"),
            ("vlan_tpid", "ld #vlan_tpid\nadd #1\nret a"), ("poff", "ld #poff\nret a"), ("poff-plus", "ld #poff\nadd #1\nret a"),
            ("nla", "ldx #1\nld #0\nld #nla\nadd #1\nret a"), ("nla-at-14", "ldx #2\nld #14\nld #nla\nadd #1\nret a"),
            ("nlan", "ldx #1\nld #16\nld #nlan\nadd #1\nret a"),
            ("xor_x", "ldx #0x55\nld #0xf0\nld #xor_x\nret a"),
            ("len", "ld #len\nret a"), ("net-off", "ldb [-1048576]\nadd #1\nret a"), ("ll-off", "ldh [-2097140]\nret a"),
            ("net-ind", "ldx #9\nldb [x + -1048576]\nadd #1\nret a"), ("neg-fail", "ld [-2097153]\nret #1"), ("ll-far", "ldb [-1048577]\nret #1"),
            ("wrap-ind", "ldx #0xfffffff4\nldh [x + 24]\nadd #1\nret a"),
        ]
        var passedTotal = 0
        for (name, source) in sources {
            passedTotal += try compare(link, try BPFAssembler.assemble(source), frames, name)
        }
        XCTAssertGreaterThan(passedTotal, frames.count * 5)
        // LANA's own helpers give the kernel's skb->protocol and pkt_type
        // (except PACKET_OTHERHOST: LANA does not know the MAC address).
        let outcome = try exchange(link, [BPFInstruction(code: BPFOpcode.ret | BPFOpcode.retK)], frames)
        XCTAssertEqual(outcome.seen.count, frames.count + 1, "frames lost on the link")
        var taggedFrames = 0
        for (index, (frame, sent)) in zip(outcome.seen, frames).enumerated() {
            // Tagged frames: the kernel took the outer tag out; the frame
            // as sent is the kernel's bytes with it put back (what LANA's
            // receive ring does), and LANA's environment for that frame
            // is the kernel's.
            var ours = BPFEnvironment()
            sent.withUnsafeBytes { ours.setReceivedEthernet($0) }
            XCTAssertEqual(ours.protocol, frame.protocolType, "frame \(index): skb->protocol")
            XCTAssertEqual(ours.vlanPresent, frame.vlanTCI != nil, "frame \(index): vlan present")
            if let tci = frame.vlanTCI {
                taggedFrames += 1
                XCTAssertEqual(Self.restoringTag(frame), sent, "frame \(index): restored")
                XCTAssertEqual(ours.vlanTCI, tci, "frame \(index): vlan tci")
                XCTAssertEqual(ours.vlanTPID, frame.vlanTPID, "frame \(index): vlan tpid")
                continue
            }
            XCTAssertEqual(frame.bytes, sent, "frame \(index) changed on the way")
            sent.withUnsafeBytes { bytes in
                XCTAssertEqual(BPFEnvironment.ethernetProtocol(bytes), frame.protocolType, "frame \(index): skb->protocol")
                let ours = BPFEnvironment.packetType(bytes, outgoing: false)
                if frame.packetType == BPFEnvironment.PacketType.otherHost {
                    XCTAssertEqual(ours, BPFEnvironment.PacketType.host, "frame \(index)")
                } else {
                    XCTAssertEqual(ours, frame.packetType, "frame \(index): pkt_type")
                }
            }
        }
        XCTAssertGreaterThan(taggedFrames, 0, "no tagged frame in the set")
    }

    /// The frame as it was on the wire: the kernel's bytes with the tag it
    /// reported put back after the MAC addresses.
    static func restoringTag(_ frame: BPFPacketSocket.Frame) -> [UInt8] {
        guard let tci = frame.vlanTCI, frame.bytes.count >= 12 else { return frame.bytes }
        let tpid = frame.vlanTPID == 0 ? 0x8100 : frame.vlanTPID
        return Array(frame.bytes[0..<12]) + [UInt8(tpid >> 8), UInt8(tpid & 0xFF), UInt8(tci >> 8), UInt8(tci & 0xFF)]
            + Array(frame.bytes[12...])
    }

    /// `#poff` frame by frame, so a difference names the frame: the kernel
    /// cuts each frame to its payload offset.
    func testPayloadOffsetPerFrameMatchesTheKernel() throws {
        let link = try makeLink()
        defer { link.pair.destroy() }
        let program = try BPFAssembler.assemble("ld #poff\nret a")
        var differences: [String] = []
        var tagged = 0
        for compiled in BPFMachines.all(try BPFProgram(program)) {
            for (index, frame) in BPFTestFrames.catalogue().enumerated() {
                let outcome = try exchange(link, program, [frame])
                guard let seen = outcome.seen.first else { XCTFail("frame \(index) lost"); continue }
                var environment = Self.environment(seen, interfaceIndex: link.observer.interfaceIndex)
                let ours = seen.bytes.withUnsafeBytes { compiled.run($0, &environment) }
                let kernel = outcome.passed.first.map { isSentinelOrEmpty($0) ? 0 : $0.count } ?? 0
                if kernel != min(Int(ours), seen.bytes.count) {
                    differences.append("\(BPFMachines.name(compiled)), frame \(index) (type 0x\(String(environment.protocol, radix: 16)), \(seen.bytes.count) bytes): kernel \(kernel), LANA \(ours)")
                }
                // The same frame with its tag restored, as LANA's interfaces
                // deliver it: the payload is 4 bytes further in.
                if seen.vlanTCI != nil {
                    tagged += 1
                    let restored = Self.restoringTag(seen)
                    var received = BPFEnvironment()
                    restored.withUnsafeBytes { received.setReceivedEthernet($0) }
                    let onTheWire = restored.withUnsafeBytes { compiled.run($0, &received) }
                    let want = kernel == 0 ? 0 : kernel + 4
                    if want != min(Int(onTheWire), restored.count) {
                        differences.append("frame \(index) restored (\(restored.count) bytes): kernel \(kernel) + 4, LANA \(onTheWire)")
                    }
                }
            }
        }
        XCTAssertGreaterThan(tagged, 0, "no tagged frame in the catalogue")
        XCTAssertTrue(differences.isEmpty, "#poff differs:\n" + differences.joined(separator: "\n"))
    }

    private func isSentinelOrEmpty(_ bytes: [UInt8]) -> Bool {
        bytes.isEmpty || (bytes.count >= 14 + Self.magic.count && Array(bytes[14..<(14 + Self.magic.count)]) == Self.magic)
    }

    /// Random verified programs with deterministic extensions, negative
    /// offsets and every operation, plus every corpus program the kernel
    /// accepts and every tcpdump expression.
    func testRandomProgramsMatchTheKernel() throws {
        let link = try makeLink()
        defer { link.pair.destroy() }
        var rng = SplitMix64(seed: 0xB9F0_0006)
        let frames = Self.frames(using: &rng)
        var programs: [(String, [BPFInstruction])] = []
        for (name, source) in BPFAssemblerCorpus.all {
            let program = try BPFAssembler.assemble(source)
            // #cpu, #rxhash and #rand are left to testNondeterministicExtensionsRun.
            guard let verified = try? BPFProgram(program),
                  BPFCompiledProgram(verified).uses.isDisjoint(with: [.cpu, .rxHash, .random]) else { continue }
            programs.append((name, program))
        }
        for expression in BPFExpressions.all { programs.append((expression, try PcapFilterCompiler.compile(expression))) }
        let generator = BPFRandomProgram(dialect: .linux)
        let randomCount = 1000
        for round in 0..<randomCount {
            programs.append(("random \(round)", generator.make(count: Int.random(in: 2...60, using: &rng), using: &rng)))
        }
        var passedTotal = 0
        for (name, program) in programs {
            passedTotal += try compare(link, program, frames, name)
        }
        XCTAssertGreaterThan(passedTotal, programs.count * 3)
    }

    /// `#rand`, `#cpu` and `#rxhash` cannot be predicted; the kernel accepts
    /// them and LANA's machine runs them.
    func testNondeterministicExtensionsRun() throws {
        let link = try makeLink()
        defer { link.pair.destroy() }
        var rng = SplitMix64(seed: 7)
        let frames = Array(Self.frames(using: &rng).prefix(10))
        for name in ["cpu", "rxhash"] {
            let program = try BPFAssembler.assemble("ld #\(name)\nret #1")
            XCTAssertEqual(try compare(link, program, frames, name), frames.count + 1, name)
        }
        let random = try BPFProgram(source: "ld #rand\nret a")
        XCTAssertTrue(try BPFKernel.accepts(random.instructions).0)
        // Every machine draws the same sequence from the same state.
        var sequences: [[UInt32]] = []
        for compiled in BPFMachines.all(random) {
            var environment = BPFEnvironment()
            let values = (0..<100).map { _ in frames[0].withUnsafeBytes { compiled.run($0, &environment) } }
            XCTAssertGreaterThan(Set(values).count, 95, "#rand repeats itself")
            sequences.append(values)
        }
        XCTAssertEqual(Set(sequences).count, 1, "#rand differs between machines")
        let outcome = try exchange(link, random.instructions, frames)
        XCTAssertEqual(outcome.seen.count, frames.count + 1)
        for cpu in BPFMachines.all(try BPFProgram(source: "ld #cpu\njge #4096, no, yes\nyes: ret #1\nno: ret #0")) {
            var environment = BPFEnvironment()
            environment.cpu = 3
            XCTAssertEqual(frames[0].withUnsafeBytes { cpu.run($0, &environment) }, 1)
        }
    }
}
