import CLANASupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A packet processing engine (PPE): one thread, pinned to one CPU, with its
/// own packet pool, backlog and statistics slot.
///
/// Each turn of the loop is a *burst*: the engine passes a quiescent point,
/// loads the current dispatch snapshot, takes up to ``burstSize`` packets
/// from its backlog and sources, and drives them through the graph until
/// every one is consumed or dropped (see `Engine+Burst.swift`). With no
/// work it goes offline and sleeps in `ppoll(2)` on its sources'
/// descriptors, without a timeout; the control plane wakes it with a
/// signal when the sources change (blocked while the engine works, so a
/// wake-up is never lost; an eventfd would be one more descriptor to poll
/// on every sleep).
public final class Engine: @unchecked Sendable {
    public static let burstSize = 32
    /// A packet that would visit a 65th block is dropped (`hop-limit`).
    /// A power of two: `Burst.forwardAll` tests it on the OR of hop counts.
    public static let hopLimit = 64
    @usableFromInline static let hopLimitHops = UInt8(hopLimit)

    public let index: Int
    /// CPU the thread pins itself to, or `nil` for no pinning.
    public let cpu: Int?
    let dataPlane: DataPlane
    let epoch: EpochSlot
    let poolStorage: PacketPoolStorage
    let backlogStorage: BacklogStorage
    let stats: EngineStatsSlot
    /// What blocks and sources see of this engine, at a stable address for
    /// ``Burst`` and ``BlockContext`` to point at; allocated in `init`,
    /// freed in `deinit`.
    let contextPointer: UnsafeMutablePointer<EngineContext>
    var context: EngineContext { contextPointer.pointee }
    /// Working set of the current burst and the group handed to a block.
    let work: UnsafeMutablePointer<PacketHandle>
    let group: UnsafeMutablePointer<PacketHandle>
    /// Written by ``Burst/forwardAll(_:)`` during a block call.
    let summary: UnsafeMutablePointer<BurstSummary>
    /// The sources' report slot (see `EngineContext.reportReceived`).
    let sourceReport: UnsafeMutablePointer<SourceReport>
    /// Which of this engine's sources the next burst asks first (owner
    /// thread only; behind a pointer, so no exclusivity checks).
    let sourceRotation: UnsafeMutablePointer<Int>
    let pollSet: UnsafeMutablePointer<pollfd>
    /// The source behind each `pollSet` entry.
    let pollSources: UnsafeMutablePointer<Unmanaged<PacketSource>?>
    static let maxPollDescriptors = 64
    let stopRequested = Atomic<Bool>(false)
    /// Whether to time bursts (two clock reads per burst).
    let measureStalls: Bool
    /// Incremented each time the engine found no work and went to sleep.
    let idleCount = Atomic<UInt64>(0)
    /// Set when the last sleep's poll reported an error on a source
    /// descriptor; the next sleep then handles it while online. Owner
    /// thread only.
    private var sourceErrorPending = false
    /// The engine thread, from its creation until it is joined. Held by
    /// `start` until the id is stored, so the thread cannot sleep before
    /// it can be woken.
    private let thread = Mutex<pthread_t?>(nil)

    init(index: Int, cpu: Int?, dataPlane: DataPlane, stats: EngineStatsTable,
         poolCapacity: Int, backlogCapacity: Int, measureStalls: Bool = false) {
        self.index = index
        self.measureStalls = measureStalls
        self.cpu = cpu
        self.dataPlane = dataPlane
        epoch = dataPlane.slots[index]
        poolStorage = PacketPoolStorage(capacity: poolCapacity, engine: UInt16(truncatingIfNeeded: index))
        backlogStorage = BacklogStorage(capacity: backlogCapacity)
        self.stats = stats.slot(index)
        let report = UnsafeMutablePointer<SourceReport>.allocate(capacity: 1)
        report.initialize(to: SourceReport(bytes: 0, direction: 0, valid: false))
        sourceReport = report
        sourceRotation = .allocate(capacity: 1)
        sourceRotation.initialize(to: 0)
        contextPointer = .allocate(capacity: 1)
        contextPointer.initialize(to: EngineContext(index: index, pool: poolStorage.pool, backlog: backlogStorage.backlog,
                                                    stats: self.stats, report: report))
        work = .allocate(capacity: Engine.burstSize)
        group = .allocate(capacity: Engine.burstSize)
        summary = .allocate(capacity: 1)
        summary.initialize(to: .perPacket)
        pollSet = .allocate(capacity: Engine.maxPollDescriptors)
        pollSources = .allocate(capacity: Engine.maxPollDescriptors)
        pollSources.initialize(repeating: nil, count: Engine.maxPollDescriptors)
    }

    deinit {
        contextPointer.deinitialize(count: 1)
        contextPointer.deallocate()
        work.deallocate()
        group.deallocate()
        summary.deallocate()
        sourceReport.deallocate()
        sourceRotation.deallocate()
        pollSet.deallocate()
        pollSources.deallocate()
    }

    /// This engine's pool (for tests: its level returns to full when idle).
    public var pool: PacketPool { poolStorage.pool }

    /// Number of packets waiting in the backlog (owner-thread value).
    public var backlogCount: Int { backlogStorage.backlog.count }

    public var idleTurns: UInt64 { idleCount.load(ordering: .acquiring) }

    /// Wakes the engine if it sleeps, or makes its next sleep end at once.
    /// Does nothing to an engine whose thread was never started.
    public func wake() {
        thread.withLock { t in
            if let t { _ = lana_wake_thread(UInt(t)) }
        }
    }

    // MARK: Thread

    func start() {
        _ = lana_wake_signal_setup()
        let box = Unmanaged.passRetained(self)
        thread.withLock { t in
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { arg in
                let engine = Unmanaged<Engine>.fromOpaque(arg!).takeRetainedValue()
                engine.prepareThread()
                engine.run()
                return nil
            }, box.toOpaque())
            precondition(rc == 0, "pthread_create failed: \(rc)")
            t = tid
        }
    }

    func stop() {
        stopRequested.store(true, ordering: .releasing)
        // Taken out under the lock: no wake-up can be sent to a joined thread.
        let tid = thread.withLock { t -> pthread_t? in
            if let t { _ = lana_wake_thread(UInt(t)) }
            let v = t
            t = nil
            return v
        }
        if let tid { pthread_join(tid, nil) }
    }

    /// Readies the engine thread: waits until `start` has stored its id
    /// (from then on a wake-up reaches it), blocks the wake-up signal
    /// (before the first look at the graph: a wake-up sent earlier went
    /// nowhere, but the graph it announced is already published), and
    /// names the thread so `top -H` and `ps -L` show which engine it is (by
    /// its CPU when pinned). Kept out of `run`, the hot loop's function,
    /// which must not touch reference counts.
    @inline(never)
    func prepareThread() {
        thread.withLock { _ in }
        _ = lana_block_wake_signal()
        _ = lana_name_current_thread("lana-engine/\(cpu ?? index)")
    }

    func run() {
        if let cpu { _ = lana_pin_current_thread(Int32(cpu)) }
        var lastEnd: UInt64 = 0
        while !stopRequested.load(ordering: .relaxed) {
            let start = measureStalls ? Engine.now() : 0
            dataPlane.quiescent(epoch)
            let table = dataPlane.current.load(ordering: .acquiring)
            let n = table._withUnsafeGuaranteedRef { runBurst($0, fromSources: true) }
            if measureStalls { lastEnd = recordStall(start: start, lastEnd: lastEnd, busy: n > 0) }
            if n == 0 { sleep(table) }
        }
        // Drain what blocks queued, then go offline for good.
        while backlogStorage.backlog.count > 0 {
            dataPlane.quiescent(epoch)
            let table = dataPlane.current.load(ordering: .acquiring)
            _ = table._withUnsafeGuaranteedRef { runBurst($0, fromSources: false) }
        }
        dataPlane.goOffline(epoch)
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Updates the longest-burst and longest-gap gauges; returns the end
    /// time of this burst, or 0 if the engine is about to sleep (a sleep is
    /// not a stall).
    private func recordStall(start: UInt64, lastEnd: UInt64, busy: Bool) -> UInt64 {
        let end = Engine.now()
        if end &- start > stats.load(.maxBurstNanos) { stats.set(.maxBurstNanos, end &- start) }
        if lastEnd != 0, start &- lastEnd > stats.load(.maxGapNanos) { stats.set(.maxGapNanos, start &- lastEnd) }
        return busy ? end : 0
    }

    /// Sleeps until a source descriptor is readable or reports an error, or
    /// the control plane wakes us.
    private func sleep(_ table: Unmanaged<DispatchTable>) {
        var count = 0
        table._withUnsafeGuaranteedRef { t in
            if index < t.sourceRanges.count {
                for i in t.sourceRanges[index] where count < Engine.maxPollDescriptors {
                    let fd = t.sources[i]._withUnsafeGuaranteedRef { $0.pollDescriptor }
                    if fd >= 0 {
                        pollSet[count] = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                        pollSources[count] = t.sources[i]
                        count += 1
                    }
                }
            }
        }
        // Errors are handled while still online: the sources are only
        // guaranteed alive while this engine holds the snapshot. Checking
        // before every sleep would cost a second poll(2) per wake-up (as
        // much as the sleep itself), so this check runs only after the
        // sleeping poll saw an error, which it reports at once.
        if sourceErrorPending {
            sourceErrorPending = false
            _ = poll(pollSet, nfds_t(count), 0)
            var failed = false
            for i in 0..<count where pollSet[i].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                pollSources[i]?._withUnsafeGuaranteedRef { $0.descriptorFailed() }
                failed = true
            }
            if failed { return }
        }
        dataPlane.goOffline(epoch)
        idleCount.wrappingAdd(1, ordering: .releasing)
        if stopRequested.load(ordering: .acquiring) { return }
        // Ends (EINTR) when woken, including by a wake-up sent while we
        // were working. No timeout: data, a descriptor error and every
        // change the control plane makes all wake us, and a timeout's
        // bookkeeping (reading the clock, writing back the time left) made
        // each sleep ~290 ns dearer here.
        _ = lana_sleep_until_woken(pollSet, UInt(count))
        // Only our own pollfd array is read here: offline, the sources may
        // already be gone.
        for i in 0..<count where pollSet[i].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
            sourceErrorPending = true
        }
    }
}

extension Engine {
    /// Runs bursts on the calling thread until the engine has no work left;
    /// returns the number of packets taken in. For harnesses and tests of an
    /// engine whose thread was never started.
    public func runUntilIdle(maxBursts: Int = 1_000_000) -> Int {
        var total = 0
        for _ in 0..<maxBursts {
            dataPlane.quiescent(epoch)
            let table = dataPlane.current.load(ordering: .acquiring)
            let n = table._withUnsafeGuaranteedRef { runBurst($0, fromSources: true) }
            total += n
            if n == 0 { break }
        }
        dataPlane.goOffline(epoch)
        return total
    }
}
