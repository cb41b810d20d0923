import CLANASupport
import Foundation
import LANABlocks
import LANACore
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Consumes packets for good (a terminal block, like an interface's
/// transmit) and counts them as delivered.
final class SinkBlock: FunctionalBlock, @unchecked Sendable {
    static let type = BlockType(name: "sink", summary: "consumes packets (tests)") { _ in SinkBlock() }
    /// Both ways a terminal block can finish a burst: the bulk helper
    /// (even-sized groups) and verdicts packet by packet (odd-sized ones).
    override func process(_ burst: Burst, _ context: BlockContext) {
        if burst.count % 2 == 0 {
            burst.consumeAll()
            return
        }
        for i in 0..<burst.count {
            let p = burst[i]
            p.verdict = .consumed
            context.engine.free(p)
        }
        context.engine.countDelivered(burst.count)
    }
}

/// Forwards like `dummy`, and detects being called after it was freed: its
/// deinit marks its serial number in a global table that `process` checks.
/// An engine that could still see a reclaimed block would trip it.
final class SentinelBlock: FunctionalBlock, @unchecked Sendable {
    static let capacity = 1 << 16
    nonisolated(unsafe) static let freed: UnsafeMutablePointer<UInt64> = {
        let p = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        p.initialize(repeating: 0, count: capacity)
        return p
    }()
    static let violations = Atomic<Int>(0)
    static let next = Atomic<Int>(0)
    static let type = BlockType(name: "sentinel", summary: "dummy that detects use after free (tests)") { _ in
        SentinelBlock()
    }

    let serial: Int
    override init() {
        serial = SentinelBlock.next.wrappingAdd(1, ordering: .relaxed).newValue % SentinelBlock.capacity
        lana_store_relaxed_u64(SentinelBlock.freed + serial, 0)
    }

    deinit { lana_store_relaxed_u64(SentinelBlock.freed + serial, 1) }

    override func process(_ burst: Burst, _ context: BlockContext) {
        if lana_load_relaxed_u64(SentinelBlock.freed + serial) != 0 {
            SentinelBlock.violations.wrappingAdd(1, ordering: .relaxed)
        }
        burst.forwardAll(context.ports)
    }
}

final class EngineTests: XCTestCase {
    static let frame: [UInt8] = (0..<64).map { UInt8($0) }

    func makeRegistry(engines: Int) -> Registry {
        let r = Registry(engineCount: engines)
        BuiltinBlocks.register(in: r)
        r.register(SinkBlock.type)
        r.register(SentinelBlock.type)
        return r
    }

    /// source → counter → dummy × 3 → sink on two engines, drained exactly.
    func testTwoEnginesDrainExactly() throws {
        let registry = makeRegistry(engines: 2)
        let group = EngineGroup(registry: registry)
        try registry.add("c", type: "counter")
        var below = "c"
        for i in 1...3 {
            try registry.add("d\(i)", type: "dummy")
            try registry.bind("d\(i)", below)
            below = "d\(i)"
        }
        try registry.add("end", type: "sink")
        try registry.bind("end", below)
        group.start()
        let perEngine: UInt64 = 200_000
        for e in 0..<2 {
            registry.attachSource(MemorySource(frame: Self.frame, count: perEngine, entry: registry.idp(of: "c")!), engine: e)
        }
        XCTAssertTrue(group.waitUntilIdle(), "engines did not drain")
        let t = group.stats.total()
        XCTAssertEqual(t.received, 2 * perEngine)
        XCTAssertEqual(t.receivedBytes, 2 * perEngine * 64)
        XCTAssertEqual(t.delivered, 2 * perEngine)
        XCTAssertEqual(t.totalDrops, 0)
        XCTAssertEqual(t.blockCalls, 2 * perEngine * 5)
        XCTAssertEqual(registry.block(named: "c")?.statusText(), "\(2 * perEngine) \(2 * perEngine * 64)\n")
        for e in 0..<2 { XCTAssertEqual(group.stats.counters(e).received, perEngine, "engine \(e)") }
        group.stop()
        for e in group.engines { XCTAssertEqual(e.pool.available, e.pool.capacity, "pool of engine \(e.index) leaked") }
    }

    /// Unbound ends, IDP 0 and removed blocks are each counted with their
    /// reason; in = out + drops to the packet.
    func testDropsAreCountedByReason() throws {
        let registry = makeRegistry(engines: 1)
        let group = EngineGroup(registry: registry, cpus: [nil])
        try registry.add("c", type: "counter")
        try registry.add("d", type: "dummy")
        try registry.bind("d", "c")
        registry.attachSource(MemorySource(frame: Self.frame, count: 100, entry: registry.idp(of: "c")!), engine: 0)
        registry.attachSource(MemorySource(frame: Self.frame, count: 7, entry: IDP(99)), engine: 0)
        registry.attachSource(MemorySource(frame: Self.frame, count: 3, entry: .none), engine: 0)
        registry.attachSource(MemorySource(frame: Self.frame, count: 5, entry: registry.idp(of: "c")!, direction: .egress), engine: 0)
        XCTAssertEqual(group.engines[0].runUntilIdle(), 115)
        let t = group.stats.total()
        XCTAssertEqual(t.ended, 100, "d is the top of the graph: the end of the path, not a drop")
        XCTAssertEqual(t.drops(.unboundPort), 5, "c's lower port is unbound: egress packets are lost")
        XCTAssertEqual(t.drops(.unknownIDP), 7)
        XCTAssertEqual(t.drops(.noNextHop), 3)
        XCTAssertEqual(t.totalDrops, 15)
        XCTAssertEqual(t.received, t.delivered + t.ended + t.totalDrops)
        XCTAssertEqual(group.engines[0].pool.available, group.engines[0].pool.capacity)
    }

    /// A source that always has a full burst waiting does not starve the
    /// engine's other sources: they take turns at being asked first.
    func testASourceThatIsNeverEmptyDoesNotStarveTheOthers() throws {
        let registry = makeRegistry(engines: 1)
        let group = EngineGroup(registry: registry, cpus: [nil])
        try registry.add("busy", type: "counter")
        try registry.add("quiet", type: "counter")
        let endless = MemorySource(frame: Self.frame, count: .max, entry: registry.idp(of: "busy")!)
        let few = MemorySource(frame: Self.frame, count: 100, entry: registry.idp(of: "quiet")!)
        registry.attachSource(endless, engine: 0)
        registry.attachSource(few, engine: 0)
        XCTAssertEqual(group.engines[0].runUntilIdle(maxBursts: 200), 200 * Engine.burstSize, "never idle")
        XCTAssertEqual(few.remaining, 0, "the second source was served")
        XCTAssertEqual(registry.block(named: "quiet")?.statusText(), "100 6400\n")
        XCTAssertEqual(group.stats.total().received, UInt64(200 * Engine.burstSize))
        XCTAssertEqual(group.engines[0].pool.available, group.engines[0].pool.capacity)
    }

    /// A loop the registry cannot see (a block that turns packets around)
    /// ends at the hop limit instead of spinning forever.
    func testHopLimit() throws {
        final class Bounce: FunctionalBlock, @unchecked Sendable {
            // Turns a packet around at the end of the chain.
            override func receive(_ packet: Packet, _ context: BlockContext) -> Verdict {
                if context.ports[packet.direction].isNone { packet.direction = packet.direction.reversed }
                return context.ports.verdict(for: packet.direction)
            }
        }
        let registry = makeRegistry(engines: 1)
        registry.register(BlockType(name: "bounce", summary: "turns packets around") { _ in Bounce() })
        let group = EngineGroup(registry: registry, cpus: [nil])
        try registry.add("a", type: "bounce")
        try registry.add("b", type: "bounce")
        try registry.bind("b", "a")
        registry.attachSource(MemorySource(frame: Self.frame, count: 10, entry: registry.idp(of: "a")!), engine: 0)
        XCTAssertEqual(group.engines[0].runUntilIdle(), 10)
        let t = group.stats.total()
        XCTAssertEqual(t.drops(.hopLimit), 10)
        XCTAssertEqual(t.blockCalls, 10 * UInt64(Engine.hopLimit))
    }

    /// A chain longer than the hop limit, all `forwardAll` (the engine lets
    /// hop counts lag along it): packets still stop after exactly 64 hops.
    func testHopLimitOnAForwardAllChain() throws {
        let registry = makeRegistry(engines: 1)
        let group = EngineGroup(registry: registry, cpus: [nil])
        try registry.add("b0", type: "dummy")
        for i in 1..<70 {
            try registry.add("b\(i)", type: "dummy")
            try registry.bind("b\(i)", "b\(i - 1)")
        }
        registry.attachSource(MemorySource(frame: Self.frame, count: 100, entry: registry.idp(of: "b0")!), engine: 0)
        XCTAssertEqual(group.engines[0].runUntilIdle(), 100)
        let t = group.stats.total()
        XCTAssertEqual(t.drops(.hopLimit), 100)
        XCTAssertEqual(t.totalDrops, 100)
        XCTAssertEqual(t.blockCalls, 100 * UInt64(Engine.hopLimit))
        XCTAssertEqual(group.engines[0].pool.available, group.engines[0].pool.capacity)
    }

    /// A block that reads packet history after a chain of `forwardAll`
    /// blocks sees the exact hop count and the block it came from.
    func testHistoryIsExactWhereABlockReadsIt() throws {
        final class Probe: FunctionalBlock, @unchecked Sendable {
            let seen = Mutex<[String]>([])
            override var readsPacketHistory: Bool { true }
            override func process(_ burst: Burst, _ context: BlockContext) {
                for i in 0..<burst.count {
                    let p = burst[i]
                    seen.withLock { $0.append("\(p.hops) \(p.source.rawValue)") }
                }
                burst.consumeAll()
            }
        }
        let registry = makeRegistry(engines: 1)
        registry.register(BlockType(name: "probe", summary: "records history") { _ in Probe() })
        let group = EngineGroup(registry: registry, cpus: [nil])
        try registry.add("c", type: "counter")
        var below = "c"
        for i in 1...5 {
            try registry.add("d\(i)", type: "dummy")
            try registry.bind("d\(i)", below)
            below = "d\(i)"
        }
        try registry.add("p", type: "probe")
        try registry.bind("p", below)
        registry.attachSource(MemorySource(frame: Self.frame, count: 40, entry: registry.idp(of: "c")!), engine: 0)
        XCTAssertEqual(group.engines[0].runUntilIdle(), 40)
        let probe = try XCTUnwrap(registry.block(named: "p") as? Probe)
        let d5 = try XCTUnwrap(registry.idp(of: "d5"))
        XCTAssertEqual(probe.seen.withLock { $0 }, Array(repeating: "6 \(d5.rawValue)", count: 40))
    }

    /// Thousands of replace / bind / unbind / add / rm while two engines run
    /// traffic: nothing unaccounted, only drops the old or new graph would
    /// make, pools full afterwards, no block used after it was freed.
    func testContinuousReconfigurationUnderLoad() throws {
        let registry = makeRegistry(engines: 2)
        let group = EngineGroup(registry: registry)
        try registry.add("c", type: "counter")
        try registry.add("t", type: "tee")
        try registry.add("mid", type: "sentinel")
        try registry.add("end", type: "sink")
        try registry.bind("t", "c")
        try registry.bind("mid", "t")
        try registry.bind("end", "mid")
        group.start()
        // Endless traffic while the graph changes; stopped afterwards so the
        // ledger can be checked to the packet.
        for e in 0..<2 {
            registry.attachSource(MemorySource(frame: Self.frame, count: .max, entry: registry.idp(of: "c")!), engine: e)
        }
        let violationsBefore = SentinelBlock.violations.load(ordering: .relaxed)
        var operations = 0
        var serial = 0
        // Sanitizer runs are 10-50x slower: they may ask for fewer.
        let target = Int(ProcessInfo.processInfo.environment["LANA_STRESS_OPERATIONS"] ?? "") ?? 3000
        // A hang detector, not a speed goal: every change waits for a grace
        // period, which on a loaded machine can take a scheduler time slice.
        let deadline = monotonicSeconds() + 240
        while operations < target && monotonicSeconds() < deadline {
            serial += 1
            let fresh = "m\(serial)"
            try registry.add(fresh, type: "sentinel")
            try registry.replace("mid", with: fresh, dropState: serial % 2 == 0)
            // A side branch on tee's clone port, added and removed again.
            let side = "s\(serial)"
            try registry.add(side, type: serial % 3 == 0 ? "counter" : "sentinel")
            try registry.bind(side, "t")
            if serial % 2 == 0 {
                try registry.add("x\(serial)", type: "sink")
                try registry.bind("x\(serial)", side)
                try registry.unbind("x\(serial)", side)
                try registry.remove("x\(serial)")
            }
            try registry.unbind(side, "t")
            try registry.remove(side)
            operations += serial % 2 == 0 ? 10 : 6
        }
        let trafficDuringChanges = group.stats.total().received
        registry.detachSources()
        XCTAssertTrue(group.waitUntilIdle(), "engines did not drain")
        group.stop()
        let t = group.stats.total()
        XCTAssertGreaterThanOrEqual(operations, target, "changes stopped making progress (grace periods never ended?)")
        XCTAssertGreaterThan(trafficDuringChanges, 10_000, "too little traffic ran during the changes")
        // Every original packet reaches the sink: no replace loses one.
        // Copies end at the top of a side branch (or are lost while it is
        // being unbound): they are all that is not delivered.
        XCTAssertEqual(t.delivered - (t.created - t.ended - t.drops(.unboundPort) - t.drops(.backlogFull) - t.drops(.poolEmpty)),
                       t.received, "main path lost packets")
        XCTAssertEqual(t.received + t.created, t.delivered + t.ended + t.totalDrops, "unaccounted packets")
        for r in DropReason.allCases where ![.ended, .unboundPort, .backlogFull, .poolEmpty].contains(r) {
            XCTAssertEqual(t.drops(r), 0, "unexpected drops: \(r)")
        }
        XCTAssertEqual(registry.block(named: "c")?.statusText(), "\(t.received) \(t.received * 64)\n")
        XCTAssertEqual(SentinelBlock.violations.load(ordering: .relaxed), violationsBefore, "a block ran after it was freed")
        for e in group.engines { XCTAssertEqual(e.pool.available, e.pool.capacity, "pool of engine \(e.index) leaked") }
        print("reconfiguration: \(operations) operations, \(t.received) packets, \(t.created) copies, drops \(t.totalDrops)")
    }

    /// Engines with nothing to do sleep instead of spinning.
    func testIdleEnginesSleep() throws {
        let registry = makeRegistry(engines: 2)
        let group = EngineGroup(registry: registry)
        group.start()
        defer { group.stop() }
        XCTAssertTrue(group.waitUntilIdle())
        var before = rusage(), after = rusage()
        getrusage(RUSAGE_SELF.rawValue, &before)
        let turns = group.engines.map(\.idleTurns)
        usleep(300_000)
        getrusage(RUSAGE_SELF.rawValue, &after)
        let cpu = seconds(after.ru_utime) + seconds(after.ru_stime) - seconds(before.ru_utime) - seconds(before.ru_stime)
        XCTAssertLessThan(cpu, 0.1, "idle engines used \(cpu) s of CPU in 0.3 s")
        for (e, t) in zip(group.engines, turns) { XCTAssertLessThan(e.idleTurns - t, 10, "engine \(e.index) woke repeatedly") }
    }

    /// A sleeping engine wakes when told to (the control plane does when
    /// its sources change), not at its 500 ms safety timeout: twenty
    /// wake-ups in a row take far less than the ten seconds that twenty
    /// timeouts would.
    func testASleepingEngineWakesWhenWoken() throws {
        let registry = makeRegistry(engines: 1)
        let group = EngineGroup(registry: registry)
        group.start()
        defer { group.stop() }
        XCTAssertTrue(group.waitUntilIdle())
        let engine = group.engines[0]
        let start = ContinuousClock.now
        for i in 0..<20 {
            let before = engine.idleTurns
            engine.wake()
            let deadline = ContinuousClock.now + .seconds(5)
            while engine.idleTurns == before && ContinuousClock.now < deadline { usleep(200) }
            XCTAssertGreaterThan(engine.idleTurns, before, "wake-up \(i) went unnoticed")
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertLessThan(elapsed, .seconds(5), "the engine slept out its timeouts instead of waking")
    }

    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
