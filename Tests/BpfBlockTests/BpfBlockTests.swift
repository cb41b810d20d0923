@testable import LANABlocks
import LANABPF
import LANACore
import LANAEmbedded
import XCTest

/// The `bpf` block in the embedded harness: the real registry, dispatch
/// snapshots and engine burst loop, with the thesis's Appendix C.3 programs.
final class BpfBlockTests: XCTestCase {
    /// The thesis's `ipv4.bpf` and `arp.bpf`, comments included.
    static let ipv4Source = """
        ldh #proto ; Load packets Ethernet type field into accumulator
        jeq #0x800,L1,L2 ; Compare with Ethernet type for IPv4
        L1: ret #0xffff ; Accept packet
        L2: ret #0 ; Drop packet

        """
    static let arpSource = """
        ldh #proto ; Load packets Ethernet type field into accumulator
        jeq #0x806,L1,L2 ; Compare with Ethernet type for ARP
        L1:  ret #0xffff ; Accept packet
        L2:  ret #0 ; Drop packet

        """
    /// What Debian's `bpfc arp.bpf` prints for it.
    static let arpTuples = """
        { 0x28, 0, 0, 0xfffff000 },
        { 0x15, 0, 1, 0x00000806 },
        { 0x6, 0, 0, 0x0000ffff },
        { 0x6, 0, 0, 0x00000000 },

        """

    /// A frame of `etherType`, `length` bytes, tagged with `tag` after the header.
    func frame(_ etherType: UInt16, tag: UInt8 = 0, length: Int = 60, destination: [UInt8] = [2, 0, 0, 0, 0, 2]) -> [UInt8] {
        var f = destination + [2, 0, 0, 0, 0, 1, UInt8(etherType >> 8), UInt8(etherType & 0xFF)]
        while f.count < length { f.append(tag) }
        return f
    }

    func graph(_ setup: (EmbeddedGraph) throws -> Void) rethrows -> EmbeddedGraph {
        let g = EmbeddedGraph(types: BuiltinBlocks.types)
        try setup(g)
        return g
    }

    /// A bpf block as the registry shows it: its status and details (as
    /// `fbctl show` gets them), its configuration and its counters.
    struct View {
        let registry: Registry
        let name: String
        let block: BpfBlock
        var configuration: BpfConfiguration { registry.configuration(named: name) as! BpfConfiguration }
        func statusText() -> String? { try? registry.show(name).status }
        func detailLines() -> [String] { (try? registry.show(name).details) ?? [] }
        func optionValues() -> [(key: String, value: String)] { configuration.values }
        var loadedProgram: BPFProgram { configuration.program }
        var filterDirection: BpfBlock.FilterDirection { configuration.direction }
        var totals: BpfBlock.Totals { block.totals }
        func engineTotals(_ e: Int) -> BpfBlock.Totals { block.engineTotals(e) }
    }

    func block(_ g: EmbeddedGraph, _ name: String) throws -> View {
        View(registry: g.registry, name: name,
             block: try XCTUnwrap(g.registry.block(named: name) as? BpfBlock, "\(name) should be a bpf block"))
    }

    // MARK: Matching

    func testThesisIPv4ProgramForwardsMatchesAndDropsTheRestAsFiltered() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.set("f", "bpf=" + Self.ipv4Source)
        }
        let ipv4 = (0..<5).map { frame(0x0800, tag: UInt8($0)) }
        for f in ipv4 { try g.send(f, to: "f") }
        for i in 0..<3 { try g.send(frame(0x0806, tag: UInt8(i)), to: "f") }
        for i in 0..<2 { try g.send(frame(0x88B5, tag: UInt8(i)), to: "f") }
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), ipv4)
        XCTAssertEqual(g.counters.drops(.filtered), 5)
        let b = try block(g, "f")
        XCTAssertEqual(b.totals, BpfBlock.Totals(matched: 5, notMatched: 5, passed: 0))
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
    }

    func testNoMatchGoesToTheSecondBlockBoundOnThatSide() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("yes", type: "capture")
            try g.registry.add("no", type: "capture")
            try g.registry.bind("yes", "f")
            try g.registry.bind("no", "f")
            try g.registry.set("f", "bpf=" + Self.arpSource)
        }
        try g.send(frame(0x0806, tag: 1), to: "f")
        try g.send(frame(0x0800, tag: 2), to: "f")
        try g.send(frame(0x0806, tag: 3), to: "f")
        g.run()
        XCTAssertEqual(g.captured("yes").map(\.bytes), [frame(0x0806, tag: 1), frame(0x0806, tag: 3)])
        XCTAssertEqual(g.captured("no").map(\.bytes), [frame(0x0800, tag: 2)])
        XCTAssertEqual(g.captured("no").map(\.source), [g.registry.idp(of: "f")!])
        XCTAssertEqual(g.counters.drops(.filtered), 0)
        XCTAssertEqual(try block(g, "f").totals, BpfBlock.Totals(matched: 2, notMatched: 1, passed: 0))
    }

    func testNoMatchPortIsPerSide() throws {
        // Two blocks below (egress side), one above: an egress non-match goes
        // to the second lower block, an ingress non-match is dropped.
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.add("low", type: "capture")
            try g.registry.add("low2", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.bind("f", "low")
            try g.registry.bind("f", "low2")
            try g.registry.set("f", "filter=arp")
        }
        try g.send(frame(0x0800, tag: 1), to: "f", direction: .egress)
        try g.send(frame(0x0806, tag: 2), to: "f", direction: .egress)
        try g.send(frame(0x0800, tag: 3), to: "f", direction: .ingress)
        g.run()
        XCTAssertEqual(g.captured("low").map(\.bytes), [frame(0x0806, tag: 2)])
        XCTAssertEqual(g.captured("low2").map(\.bytes), [frame(0x0800, tag: 1)])
        XCTAssertEqual(g.captured("up").count, 0)
        XCTAssertEqual(g.counters.drops(.filtered), 1)
    }

    func testDirectionChoosesWhatIsFilteredAndTheOtherDirectionPasses() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.add("low", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.bind("f", "low")
            try g.registry.set("f", "bpf=" + Self.ipv4Source)
            try g.registry.set("f", "direction=ingress")
        }
        try g.send(frame(0x0806, tag: 1), to: "f", direction: .ingress)   // filtered out
        try g.send(frame(0x0806, tag: 2), to: "f", direction: .egress)    // passes
        g.run()
        XCTAssertEqual(g.captured("up").count, 0)
        XCTAssertEqual(g.captured("low").map(\.bytes), [frame(0x0806, tag: 2)])
        XCTAssertEqual(try block(g, "f").totals, BpfBlock.Totals(matched: 0, notMatched: 1, passed: 1))

        try g.registry.set("f", "direction=egress")
        try g.send(frame(0x0806, tag: 3), to: "f", direction: .ingress)   // passes
        try g.send(frame(0x0806, tag: 4), to: "f", direction: .egress)    // filtered out
        try g.send(frame(0x0800, tag: 5), to: "f", direction: .egress)    // matches
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), [frame(0x0806, tag: 3)])
        XCTAssertEqual(g.captured("low").map(\.bytes), [frame(0x0806, tag: 2), frame(0x0800, tag: 5)])
        XCTAssertEqual(g.counters.drops(.filtered), 2)
        XCTAssertTrue(try block(g, "f").optionValues().contains { $0.key == "direction" && $0.value == "egress" })

        XCTAssertThrowsError(try g.registry.set("f", "direction=up")) { error in
            let e = error as? RegistryError
            XCTAssertEqual(e?.errno, .invalidArgument)
            XCTAssertTrue(e?.message.contains("direction takes ingress, egress or both, not 'up'") == true, "\(error)")
        }
    }

    func testANewBlockPassesEverythingAndShowsThatProgram() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
        }
        for t: UInt16 in [0x0800, 0x0806, 0x88B5] { try g.send(frame(t), to: "f") }
        try g.send([1, 2, 3], to: "f")   // even a runt
        g.run()
        XCTAssertEqual(g.captured("up").count, 4)
        let b = try block(g, "f")
        XCTAssertEqual(b.statusText(), "{ 0x6, 0, 0, 0xffffffff },\n")
        XCTAssertTrue(b.detailLines().contains("no program loaded: every packet matches"), "\(b.detailLines())")
    }

    // MARK: Loading

    func testStatusShowsTheLoadedProgramAsBpfcPrintsIt() throws {
        let g = try graph { g in try g.registry.add("f", type: "bpf") }
        try g.registry.set("f", "bpf=" + Self.arpSource)
        XCTAssertEqual(try block(g, "f").statusText(), Self.arpTuples)
        // bpfc's output loads back to the same program.
        try g.registry.set("f", "bpf=" + Self.arpTuples)
        XCTAssertEqual(try block(g, "f").statusText(), Self.arpTuples)
        XCTAssertEqual(try block(g, "f").loadedProgram.count, 4)
    }

    func testFilterOptionCompilesATcpdumpExpression() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.set("f", "filter=arp")
        }
        // tcpdump -s 65535 -dd arp
        XCTAssertEqual(try block(g, "f").statusText(), """
            { 0x28, 0, 0, 0x0000000c },
            { 0x15, 0, 1, 0x00000806 },
            { 0x6, 0, 0, 0x0000ffff },
            { 0x6, 0, 0, 0x00000000 },

            """)
        try g.send(frame(0x0806, tag: 9), to: "f")
        try g.send(frame(0x0800), to: "f")
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), [frame(0x0806, tag: 9)])
        XCTAssertTrue(try block(g, "f").detailLines().contains("filter: arp"))

        XCTAssertThrowsError(try g.registry.set("f", "filter=tcp port eighty")) { error in
            XCTAssertEqual((error as? RegistryError)?.errno, .invalidArgument)
            XCTAssertTrue("\(error)".contains("filter refused, the loaded program stays: tcpdump expression:"), "\(error)")
        }
    }

    func testFilter64LoadsAClientCompiledProgramAndKeepsItsExpression() throws {
        let g = try graph { g in try g.registry.add("f", type: "bpf") }
        // What fbctl sends for `filter=arp`: compiled in a bounded child process.
        let option = try CompiledFilterOption.make("arp")
        XCTAssertTrue(option.hasPrefix("filter64=") && option.hasSuffix(" arp"), option)
        try g.registry.set("f", option)
        XCTAssertEqual(try block(g, "f").loadedProgram, try BPFProgram(filter: "arp"))
        XCTAssertTrue(try block(g, "f").detailLines().contains("filter: arp"))
        // A program the verifier refuses never loads, whatever the expression says.
        let endless = BPFProgram.base64Encoded([BPFInstruction(code: 0x28, k: 12)])
        XCTAssertThrowsError(try g.registry.set("f", "filter64=\(endless) arp")) { error in
            XCTAssertEqual((error as? RegistryError)?.errno, .invalidArgument)
            XCTAssertTrue("\(error)".contains("filter refused, the loaded program stays:"), "\(error)")
        }
        XCTAssertThrowsError(try g.registry.set("f", "filter64=\(endless)")) { error in
            XCTAssertTrue("\(error)".hasSuffix("expected filter64=<base64 instructions> <expression>"), "\(error)")
        }
        XCTAssertEqual(try block(g, "f").loadedProgram, try BPFProgram(filter: "arp"))
    }

    func testRefusedProgramNamesLineAndReasonAndTheOldProgramStays() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.set("f", "bpf=" + Self.ipv4Source)
        }
        let refusals: [(source: String, expected: String)] = [
            // Syntax error on line 2.
            ("ldh [12]\njeq #0x800 L1\nL1: ret #1\n", "line 2"),
            // A jump beyond the end (verifier): instruction 1.
            ("{ 0x28, 0, 0, 0x0000000c },\n{ 0x15, 0, 7, 0x00000800 },\n{ 0x6, 0, 0, 0x0000ffff },\n", "instruction 1"),
            // Division by the constant 0.
            ("ld #1\ndiv #0\nret a\n", "instruction 1"),
            // Scratch index out of range.
            ("ld #1\nst M[16]\nret #1\n", "line 2"),
            // No return at the end.
            ("ldh [12]\n", "instruction 0"),
            ("", "the program has no instructions"),
        ]
        for r in refusals {
            XCTAssertThrowsError(try g.registry.set("f", "bpf=" + r.source), r.source) { error in
                let e = error as? RegistryError
                XCTAssertEqual(e?.errno, .invalidArgument)
                XCTAssertTrue(e?.message.contains("program refused, the loaded one stays: ") == true, "\(error)")
                XCTAssertTrue(e?.message.contains(r.expected) == true, "\(r.source.debugDescription) → \(error)")
            }
        }
        let b = try block(g, "f")
        XCTAssertEqual(b.statusText(), try BPFProgram(source: Self.ipv4Source).tuples)
        try g.send(frame(0x0800, tag: 1), to: "f")
        try g.send(frame(0x0806, tag: 2), to: "f")
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), [frame(0x0800, tag: 1)])
    }

    func testBase64FormLoadsTheSameProgram() throws {
        let g = try graph { g in try g.registry.add("f", type: "bpf") }
        let program = try BPFProgram(filter: "tcp port 80 and (ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0")
        try g.registry.set("f", "bpf64=" + BPFProgram.base64Encoded(program.instructions))
        XCTAssertEqual(try block(g, "f").loadedProgram, program)
        XCTAssertThrowsError(try g.registry.set("f", "bpf64=AAAA")) { error in
            XCTAssertTrue("\(error)".contains("expected a multiple of 8"), "\(error)")
        }
        XCTAssertThrowsError(try g.registry.set("f", "bpf64=ABC*")) { error in
            XCTAssertTrue("\(error)".contains("not base64"), "\(error)")
        }
        // A record that fails verification (jump beyond the end).
        let bad = [BPFInstruction(code: 0x15, jt: 5, jf: 0, k: 1), BPFInstruction(code: 0x06, k: 0)]
        XCTAssertThrowsError(try g.registry.set("f", "bpf64=" + BPFProgram.base64Encoded(bad))) { error in
            XCTAssertTrue("\(error)".contains("instruction 0"), "\(error)")
        }
        XCTAssertEqual(try block(g, "f").loadedProgram, program)
    }

    func testSwapsFreeTheReplacedProgramAfterTheGracePeriod() throws {
        let g = try graph { g in try g.registry.add("f", type: "bpf") }
        for i in 0..<20 {
            var before = g.registry.configuration(named: "f")
            weak let replaced = before
            before = nil
            try g.registry.set("f", i.isMultiple(of: 2) ? "bpf=" + Self.arpSource : "filter=ip")
            XCTAssertNil(replaced, "set \(i): the replaced configuration (and the code it compiled) is freed once no snapshot holds it")
            XCTAssertNotNil(g.registry.configuration(named: "f"))
        }
        // A refused program changes nothing: the configuration stays the same object.
        let kept = g.registry.configuration(named: "f")
        XCTAssertThrowsError(try g.registry.set("f", "bpf=ret #0\nld [0]"))
        XCTAssertTrue(g.registry.configuration(named: "f") === kept)
    }

    // MARK: Extensions and counters

    func testPacketTypeAndMarkComeFromThePacket() throws {
        // #type: 4 (outgoing) for egress, 1 for broadcast ingress, 0 otherwise.
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.add("low", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.bind("f", "low")
            try g.registry.set("f", "bpf=ld #type\njeq #1, yes, no\nyes: ret #1\nno: ret #0\n")
        }
        let broadcast = frame(0x0800, tag: 1, destination: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        try g.send(broadcast, to: "f", direction: .ingress)
        try g.send(frame(0x0800, tag: 2), to: "f", direction: .ingress)
        try g.send(broadcast, to: "f", direction: .egress)
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), [broadcast])
        XCTAssertEqual(g.captured("low").count, 0)
        XCTAssertEqual(g.counters.drops(.filtered), 2)
    }

    func testCountersArePerEngineAndShownInDetails() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
            try g.registry.set("f", "bpf=" + Self.ipv4Source)
        }
        for _ in 0..<7 { try g.send(frame(0x0800), to: "f") }
        for _ in 0..<3 { try g.send(frame(0x86DD), to: "f") }
        g.run()
        let b = try block(g, "f")
        XCTAssertEqual(b.engineTotals(0), BpfBlock.Totals(matched: 7, notMatched: 3, passed: 0))
        XCTAssertEqual(b.detailLines(), ["matched=7 not-matched=3 passed=0", "engine 0 matched=7 not-matched=3 passed=0"])
        let machine = BPFMachine.nativeAvailable ? "jit" : "interpreter"
        XCTAssertEqual(b.optionValues().map { "\($0.key)=\($0.value)" },
                       ["direction=both", "program=bpf", "instructions=4", "jit=on", "machine=\(machine)"])
    }

    // MARK: Machine

    /// `jit=on` (the default) runs native code where the processor has an
    /// emitter, `jit=off` the interpreter; both filter the same frames, the
    /// choice survives a new program, and `fbctl show` says which runs.
    func testJitOptionChoosesTheMachineAndBothFilterAlike() throws {
        let g = try graph { g in
            try g.registry.add("f", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "f")
        }
        // IPv4 with a payload byte at [x + 16] after the header, and #proto.
        let source = "ld #proto\njneq #0x800, drop\nldxb 4*([14]&0xf)\nldb [x + 16]\njlt #3, drop\nret #0xffff\ndrop: ret #0"
        var frames: [[UInt8]] = []
        for i in 0..<12 {
            var f = frame(i % 3 == 0 ? 0x0806 : 0x0800, tag: UInt8(i), length: 14 + i * 4)
            if f.count > 14 { f[14] = 0x45 }
            frames.append(f)
        }
        func filtered(jit: String) throws -> [[UInt8]] {
            try g.registry.set("f", "jit=\(jit)")
            try g.registry.set("f", "bpf=" + source)
            let values = try block(g, "f").optionValues()
            let expected = jit == "on" && BPFMachine.nativeAvailable ? "jit" : "interpreter"
            XCTAssertEqual(values.first { $0.key == "machine" }?.value, expected)
            XCTAssertEqual(values.first { $0.key == "jit" }?.value, jit)
            XCTAssertEqual(try block(g, "f").configuration.loaded.view.isNative, expected == "jit")
            let before = g.captured("up").count
            for f in frames { try g.send(f, to: "f") }
            g.run()
            return Array(g.captured("up").map(\.bytes)[before...])
        }
        let native = try filtered(jit: "on")
        let interpreted = try filtered(jit: "off")
        XCTAssertEqual(native, interpreted)
        XCTAssertGreaterThan(native.count, 0)
        XCTAssertLessThan(native.count, frames.count)
        XCTAssertThrowsError(try g.registry.set("f", "jit=maybe")) { error in
            XCTAssertTrue("\(error)".contains("jit takes on or off, not 'maybe'"), "\(error)")
        }
        XCTAssertEqual(try block(g, "f").configuration.jit, false, "a refused jit= keeps the loaded setting")
    }

    // MARK: Replace

    func testReplaceMovesProgramDirectionAndCounters() throws {
        let g = try graph { g in
            try g.registry.add("old", type: "bpf")
            try g.registry.add("new", type: "bpf")
            try g.registry.add("up", type: "capture")
            try g.registry.bind("up", "old")
            try g.registry.set("old", "bpf=" + Self.arpSource)
            try g.registry.set("old", "direction=ingress")
        }
        try g.send(frame(0x0806), to: "old")
        try g.send(frame(0x0800), to: "old")
        g.run()
        try g.registry.replace("old", with: "new")
        let b = try block(g, "old")   // the new block, under the old name
        XCTAssertEqual(b.statusText(), Self.arpTuples)
        XCTAssertEqual(b.filterDirection, .ingress)
        XCTAssertEqual(b.totals, BpfBlock.Totals(matched: 1, notMatched: 1, passed: 0))
        try g.send(frame(0x0806, tag: 5), to: "old")
        try g.send(frame(0x0800, tag: 6), to: "old")
        g.run()
        XCTAssertEqual(g.captured("up").map(\.bytes), [frame(0x0806), frame(0x0806, tag: 5)])
        XCTAssertEqual(b.totals, BpfBlock.Totals(matched: 2, notMatched: 2, passed: 0))
    }

    func testReplaceDropKeepsTheNewBlocksOwnProgram() throws {
        let g = try graph { g in
            try g.registry.add("old", type: "bpf")
            try g.registry.add("new", type: "bpf")
            try g.registry.set("old", "bpf=" + Self.arpSource)
            try g.registry.set("new", "bpf=" + Self.ipv4Source)
        }
        try g.registry.replace("old", with: "new", dropState: true)
        XCTAssertEqual(try block(g, "old").statusText(), try BPFProgram(source: Self.ipv4Source).tuples)
    }
}
