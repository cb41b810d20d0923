import Foundation
import Glibc
import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import Synchronization
import XCTest

/// The eth block's receive path when the engine's pool is short of
/// buffers: it takes no more frames from the ring than it has buffers for
/// (the rest wait for the next burst), and drops frames as `pool-empty`
/// only when no buffer at all is left.
///
/// In-process, with pools far smaller than a burst (32).
final class PoolPressureTests: InterfaceTestCase, @unchecked Sendable {
    private func hookedRegistry(_ link: TestNetwork.VethLink, extra: BlockType? = nil) throws -> (Registry, EthBlock) {
        let registry = Registry(engineCount: 1)
        BuiltinBlocks.register(in: registry)
        registry.register(EthBlock.type)
        if let extra { registry.register(extra) }
        let (block, _) = try hookInProcess(link.inside, registry: registry, engineCount: 1)
        return (registry, block)
    }

    func testAPoolSmallerThanABurstLosesNothing() throws {
        let link = try net.addLink()
        let (registry, eth) = try hookedRegistry(link)
        try registry.add("c", type: "counter")
        try registry.bind("c", link.inside)
        let counter = try XCTUnwrap(registry.block(named: "c") as? CounterBlock)

        let engines = EngineGroup(registry: registry, cpus: [nil], poolCapacity: 5)
        engines.start()
        defer { engines.stop() }

        let count = 3_000
        XCTAssertEqual(try sendFromPeer(link.peer, count: count, sizes: [60, 1514]), count)
        XCTAssertTrue(waitUntil(within: 20) { counter.totals.packets >= UInt64(count) }, "\(counter.totals)")
        XCTAssertTrue(engines.waitUntilIdle())

        XCTAssertEqual(counter.totals.packets, UInt64(count))
        XCTAssertEqual(counter.totals.bytes, UInt64(count / 2 * (60 + 1514)))
        XCTAssertEqual(eth.totals.rxPackets, UInt64(count))
        XCTAssertEqual(eth.totals.rxDropped, 0, "frames dropped on arrival with buffers to spare")
        let stats = engines.stats.total()
        XCTAssertEqual(stats.drops(.poolEmpty), 0)
        XCTAssertEqual(stats.ended, UInt64(count), "each frame ends above the counter")
        XCTAssertEqual(stats.totalDrops, 0, "drops: \(stats.drops)")
        XCTAssertEqual(engines.engines[0].pool.available, 5, "every buffer back in the pool")
    }

    func testFramesThatFindNoBufferAreDroppedAsPoolEmpty() throws {
        let link = try net.addLink()
        let hoard = HoardingBlock()
        let hoardType = BlockType(name: "hoard", summary: "test: keeps every packet") { _ in hoard }
        let (registry, eth) = try hookedRegistry(link, extra: hoardType)
        try registry.add("h", type: "hoard")
        try registry.bind("h", link.inside)

        let capacity = 16
        let engines = EngineGroup(registry: registry, cpus: [nil], poolCapacity: capacity)
        engines.start()
        defer { engines.stop() }

        let count = 200
        XCTAssertEqual(try sendFromPeer(link.peer, count: count, sizes: [60]), count)
        XCTAssertTrue(waitUntil(within: 20) { engines.stats.total().received >= UInt64(count) },
                      "\(engines.stats.total())")
        XCTAssertTrue(engines.waitUntilIdle())

        let stats = engines.stats.total()
        XCTAssertEqual(hoard.kept, capacity, "the block holds every buffer of the pool")
        XCTAssertEqual(stats.received, UInt64(count), "frames taken out of the ring, buffer or not")
        XCTAssertEqual(stats.drops(.poolEmpty), UInt64(count - capacity))
        XCTAssertEqual(stats.totalDrops, UInt64(count - capacity), "drops: \(stats.drops)")
        XCTAssertEqual(eth.totals.rxPackets, UInt64(capacity))
        XCTAssertEqual(eth.totals.rxDropped, UInt64(count - capacity))
    }
}

/// Keeps every packet it gets (detached from the ring), never frees one:
/// drains the engine's pool.
private final class HoardingBlock: FunctionalBlock, @unchecked Sendable {
    private let count = Atomic<Int>(0)
    var kept: Int { count.load(ordering: .acquiring) }

    override func process(_ burst: Burst, _ context: BlockContext) {
        for i in 0..<burst.count {
            let p = burst[i]
            _ = context.engine.detach(p)
            p.verdict = .consumed
        }
        count.add(burst.count, ordering: .releasing)
    }
}
