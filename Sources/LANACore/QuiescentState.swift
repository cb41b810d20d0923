import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One engine's quiescent-state epoch, padded to its own cache lines.
final class EpochSlot: @unchecked Sendable {
    /// 0 = offline (sleeping or not started: holds no references);
    /// otherwise the global epoch this engine observed at its last
    /// quiescent point.
    let value = Atomic<UInt64>(0)
    private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                          UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

/// Read-copy-update with quiescent-state-based reclamation (QSBR) for the
/// dispatch table.
///
/// The control plane builds a new immutable ``DispatchTable``, swaps it in
/// with one atomic exchange, then waits for a *grace period*: every engine
/// either passes a quiescent point (the gap between two bursts, where it holds
/// no table reference) or is offline (asleep). Only then is the old table —
/// and any block only it referenced — released. Engines never wait and never
/// lock: per burst they do one sequentially consistent store (their epoch)
/// and one acquiring load (the table).
public final class DataPlane: @unchecked Sendable {
    let current: Atomic<Unmanaged<DispatchTable>>
    let globalEpoch = Atomic<UInt64>(1)
    let slots: [EpochSlot]
    public let engineCount: Int
    /// Wakes engines (their eventfds); set by the engine group.
    let wakers: Mutex<[@Sendable () -> Void]> = Mutex([])
    /// Grace periods waited so far (for statistics and tests).
    public let gracePeriods = Atomic<UInt64>(0)

    public init(engineCount: Int) {
        self.engineCount = engineCount
        slots = (0..<engineCount).map { _ in EpochSlot() }
        let empty = DispatchTable(generation: 0, blocks: [], sources: Array(repeating: [], count: engineCount))
        current = Atomic(Unmanaged.passRetained(empty))
    }

    deinit {
        current.load(ordering: .acquiring).release()
    }

    /// The current snapshot (control-plane use; engines use `Unmanaged`).
    public var table: DispatchTable {
        current.load(ordering: .acquiring).takeUnretainedValue()
    }

    /// Publishes `table`, waits for a grace period, then releases the old
    /// snapshot. Serialized by the caller (the registry's lock).
    ///
    /// Engines are woken only when their sources changed: a sleeping engine
    /// is offline and loads the newest snapshot when anything wakes it, so
    /// a change of blocks or ports alone gives it nothing to do, while a
    /// changed source list changes the descriptors it must sleep on. Not
    /// waking it on every `bind` keeps control operations cheap and the
    /// engine threads asleep.
    public func publish(_ table: DispatchTable) {
        let new = Unmanaged.passRetained(table)
        let old = current.exchange(new, ordering: .sequentiallyConsistent)
        let sourcesChanged = !old._withUnsafeGuaranteedRef { Self.sameSources($0, table) }
        synchronize()
        old.release()
        if sourcesChanged { wakeAll() }
    }

    /// Whether both snapshots give every engine the same source objects.
    private static func sameSources(_ a: DispatchTable, _ b: DispatchTable) -> Bool {
        guard a.sourceRanges == b.sourceRanges else { return false }
        let total = a.sourceRanges.last?.upperBound ?? 0
        for i in 0..<total where a.sources[i].toOpaque() != b.sources[i].toOpaque() { return false }
        return true
    }

    /// Waits until every engine has passed a quiescent point or is offline.
    public func synchronize() {
        let target = globalEpoch.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
        for slot in slots {
            var spins = 0
            while true {
                let v = slot.value.load(ordering: .sequentiallyConsistent)
                if v == 0 || v >= target { break }
                spins += 1
                if spins < 64 { continue }
                sched_yield()
            }
        }
        gracePeriods.wrappingAdd(1, ordering: .relaxed)
    }

    func addWaker(_ wake: @escaping @Sendable () -> Void) {
        wakers.withLock { $0.append(wake) }
    }

    /// Wakes sleeping engines so they pick up a new snapshot or new sources.
    public func wakeAll() {
        let list = wakers.withLock { $0 }
        for w in list { w() }
    }

    // MARK: Engine side

    func quiescent(_ slot: EpochSlot) {
        slot.value.store(globalEpoch.load(ordering: .sequentiallyConsistent), ordering: .sequentiallyConsistent)
    }

    func goOffline(_ slot: EpochSlot) {
        slot.value.store(0, ordering: .sequentiallyConsistent)
    }
}
