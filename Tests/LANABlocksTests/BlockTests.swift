import LANABlocks
import LANACore
import LANAEmbedded
import XCTest

/// The built-in blocks, run through the embedded harness (the real registry,
/// snapshot and engine burst loop, on the test's thread).
final class BlockTests: XCTestCase {
    func frame(_ tag: UInt8, length: Int = 64) -> [UInt8] {
        (0..<length).map { UInt8(truncatingIfNeeded: $0) ^ tag }
    }

    func testDummyForwardsUnchangedBothWays() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types)
        try g.registry.add("low", type: "capture")
        try g.registry.add("d", type: "dummy")
        try g.registry.add("high", type: "capture")
        try g.registry.bind("d", "low")
        try g.registry.bind("high", "d")
        try g.send(frame(1), to: "d", direction: .ingress)
        try g.send(frame(2), to: "d", direction: .egress)
        g.run()
        XCTAssertEqual(g.captured("high").map(\.bytes), [frame(1)])
        XCTAssertEqual(g.captured("high").map(\.direction), [.ingress])
        XCTAssertEqual(g.captured("high").map(\.source), [g.registry.idp(of: "d")!])
        XCTAssertEqual(g.captured("low").map(\.bytes), [frame(2)])
        XCTAssertEqual(g.counters.delivered, 2)
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
    }

    func testTopOfTheGraphEndsAndAnUnboundLowerPortDrops() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types)
        try g.registry.add("d", type: "dummy")
        for _ in 0..<3 { try g.send(frame(0), to: "d", direction: .ingress) }
        for _ in 0..<2 { try g.send(frame(0), to: "d", direction: .egress) }
        g.run()
        XCTAssertEqual(g.counters.ended, 3, "ingress packets with nothing on top end there")
        XCTAssertEqual(g.counters.drops(.unboundPort), 2, "egress packets with nothing below are lost")
        XCTAssertEqual(g.counters.totalDrops, 2)
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
    }

    func testCounterCountsPerDirectionAndResets() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types)
        try g.registry.add("c", type: "counter")
        try g.registry.add("up", type: "capture")
        try g.registry.add("down", type: "capture")
        try g.registry.bind("up", "c")
        try g.registry.bind("c", "down")
        for n in [60, 100, 1514] { try g.send(frame(3, length: n), to: "c", direction: .ingress) }
        try g.send(frame(4, length: 70), to: "c", direction: .egress)
        g.run()
        let c = g.registry.block(named: "c") as! CounterBlock
        XCTAssertEqual(c.totals.ingressPackets, 3)
        XCTAssertEqual(c.totals.ingressBytes, 1674)
        XCTAssertEqual(c.totals.egressPackets, 1)
        XCTAssertEqual(c.totals.egressBytes, 70)
        XCTAssertEqual(c.statusText(), "4 1744\n")
        XCTAssertEqual(g.captured("up").count, 3)
        XCTAssertEqual(g.captured("down").count, 1)
        XCTAssertEqual(c.detailLines().first, "ingress packets=3 bytes=1674")
        try g.registry.set("c", "reset=1")
        XCTAssertEqual(c.statusText(), "0 0\n")
        try g.send(frame(5), to: "c")
        g.run()
        XCTAssertEqual(c.statusText(), "1 64\n")
    }

    func testTeeCopiesToClonePortThroughBacklog() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types)
        try g.registry.add("eth", type: "capture")
        try g.registry.add("t", type: "tee")
        try g.registry.add("a", type: "capture")
        try g.registry.add("b", type: "capture")
        try g.registry.bind("t", "eth")
        try g.registry.bind("a", "t")
        try g.registry.bind("b", "t")
        for i in 0..<5 { try g.send(frame(UInt8(i)), to: "t", direction: .ingress) }
        g.run()
        XCTAssertEqual(g.captured("a").map(\.bytes), (0..<5).map { frame(UInt8($0)) })
        XCTAssertEqual(g.captured("b").map(\.bytes), (0..<5).map { frame(UInt8($0)) }, "clone port gets copies")
        XCTAssertEqual(g.captured("b").map(\.source), Array(repeating: g.registry.idp(of: "t")!, count: 5))
        XCTAssertEqual(g.captured("eth").count, 0)
        let c = g.counters
        XCTAssertEqual(c.created, 5)
        XCTAssertEqual(c.backlogEnqueued, 5)
        XCTAssertEqual(c.delivered, 10)
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
        // Egress has no clone: packets going down are not copied.
        try g.send(frame(9), to: "t", direction: .egress)
        g.run()
        XCTAssertEqual(g.captured("eth").count, 1)
        XCTAssertEqual(g.counters.created, 5)
    }

    func testTeeNeverCopiesBackTowardsTheSource() throws {
        /// Sends a packet on along its direction but turned around, so it
        /// reaches the next block going the other way.
        final class Turn: FunctionalBlock, @unchecked Sendable {
            override func receive(_ packet: Packet, _ context: BlockContext) -> Verdict {
                let out = context.ports.verdict(for: packet.direction)
                packet.direction = packet.direction.reversed
                return out
            }
        }
        let g = EmbeddedGraph(types: BuiltinBlocks.types + [BlockType(name: "turn", summary: "") { _ in Turn() }])
        try g.registry.add("t", type: "tee")
        try g.registry.add("a", type: "capture")
        try g.registry.add("r", type: "turn")
        try g.registry.bind("a", "t")   // t.ingress = a
        try g.registry.bind("r", "t")   // t.ingress clone = r
        // r sends the packet down to t, turned into ingress: t's ingress
        // clone port is r itself, the packet's source, so no copy.
        try g.send(frame(7), to: "r", direction: .egress)
        g.run()
        XCTAssertEqual(g.captured("a").count, 1)
        XCTAssertEqual(g.captured("a").first?.source, g.registry.idp(of: "t"))
        XCTAssertEqual(g.counters.created, 0, "a copy went back towards its source")
        // The same packet entering t from below is copied to r as usual.
        try g.send(frame(8), to: "t", direction: .ingress)
        g.run()
        XCTAssertEqual(g.counters.created, 1)
    }

    func testTeeBacklogOverflowIsCounted() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types, poolCapacity: 256, backlogCapacity: 2)
        try g.registry.add("t", type: "tee")
        try g.registry.add("a", type: "capture")
        try g.registry.add("b", type: "capture")
        try g.registry.bind("a", "t")
        try g.registry.bind("b", "t")
        for i in 0..<8 { try g.send(frame(UInt8(i)), to: "t") }
        g.run()
        let c = g.counters
        XCTAssertEqual(g.captured("a").count, 8)
        XCTAssertEqual(c.drops(.backlogFull) + UInt64(g.captured("b").count), 8)
        XCTAssertGreaterThan(c.drops(.backlogFull), 0)
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
    }
}
