import CLANASupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The engines of one daemon: one per CPU by default, each pinned.
///
/// ```swift
/// let registry = Registry(engineCount: 2)
/// let engines = EngineGroup(registry: registry)
/// engines.start()
/// … registry.add / bind …
/// engines.stop()   // drains backlogs, joins threads
/// ```
public final class EngineGroup: @unchecked Sendable {
    public let engines: [Engine]
    public let stats: EngineStatsTable
    private let running = Mutex(false)

    /// The most engines a group runs: a packet's metadata names its engine
    /// in one byte.
    public static let maximumEngines = 256

    /// - Parameters:
    ///   - cpus: CPU for each engine (`nil` entries are not pinned); the
    ///     default pins engine `i` to CPU `i % online CPUs`.
    ///   - poolCapacity: packet buffers per engine.
    ///   - backlogCapacity: backlog slots per engine (power of two).
    ///   - measureStalls: time every burst (see ``EngineCounter/maxBurstNanos``).
    public init(registry: Registry, cpus: [Int?]? = nil, poolCapacity: Int = 8192, backlogCapacity: Int = 1024,
                measureStalls: Bool = false) {
        let count = registry.dataPlane.engineCount
        precondition(count <= Self.maximumEngines, "at most \(Self.maximumEngines) engines")
        let online = Int(lana_online_cpus())
        let placement = cpus ?? (0..<count).map { $0 % online }
        precondition(placement.count == count, "one CPU entry per engine")
        let table = EngineStatsTable(engineCount: count)
        stats = table
        engines = (0..<count).map {
            Engine(index: $0, cpu: placement[$0], dataPlane: registry.dataPlane, stats: table,
                   poolCapacity: poolCapacity, backlogCapacity: backlogCapacity, measureStalls: measureStalls)
        }
        for e in engines { registry.dataPlane.addWaker { [unowned e] in e.wake() } }
    }

    deinit { stop() }

    /// Number of online CPUs (the default engine count).
    public static var onlineCPUs: Int { Int(lana_online_cpus()) }

    public func start() {
        let start = running.withLock { r -> Bool in
            if r { return false }
            r = true
            return true
        }
        if start { for e in engines { e.start() } }
    }

    /// Stops every engine after it has drained its backlog. Idempotent.
    public func stop() {
        let stop = running.withLock { r -> Bool in
            if !r { return false }
            r = false
            return true
        }
        if stop { for e in engines { e.stop() } }
    }

    public func wakeAll() { for e in engines { e.wake() } }

    /// Waits until every engine has gone idle after this call began (its
    /// sources had nothing and its backlog was empty). Returns `false` on
    /// timeout.
    public func waitUntilIdle(timeoutMilliseconds: Int = 10_000) -> Bool {
        let marks = engines.map(\.idleTurns)
        wakeAll()
        var waited = 0
        while waited < timeoutMilliseconds * 1000 {
            if zip(engines, marks).allSatisfy({ $0.idleTurns > $1 + 1 }) { return true }
            usleep(200)
            waited += 200
            // An engine asleep since before the call needs a second nudge to
            // show a fresh idle turn.
            if waited % 2000 == 0 { wakeAll() }
        }
        return false
    }
}
