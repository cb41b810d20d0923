// Unsafe code: one engine's queue of packets waiting for an address.
//
// Invariants
// - One source per engine of an `arp` block; its queue arrays are read and
//   written by that engine only (from the block's `process`, which queues,
//   and from `receive`, which releases and expires). The control thread
//   only reads `counts`, `keys` and `pending` for the status file, with
//   relaxed loads of whole words (a stale count is harmless there).
// - Queued packets are detached (their bytes in their own buffer), so they
//   stay valid across bursts; they belong to this engine's pool, which is
//   why only this engine may free them — also after the block has left the
//   graph: `retire` asks the engine to, and the registry keeps the source
//   in the snapshot until `isDrained`.
// - `flags` are the only words other threads write (release): a kick or
//   the retirement, each after arming the timer to wake the engine; the
//   engine clears a kick and acknowledges the retirement, disarming the
//   timer, so that a timer left readable never keeps it from sleeping.
// - The engine polls the timer only while packets are held or a flag is
//   set (`pollDescriptor`, read before each sleep); the registry wakes the
//   engines after a retirement, which may come after that read.

import CLANASupport
import Glibc
import LANACore
import LANAPosix

/// The queue `arp` keeps on one engine for packets whose next hop is being
/// resolved (docs/flip.md §10.7): at most ``perAddress`` packets for each
/// of up to ``addressSlots`` addresses. As a ``PacketSource`` it is polled
/// every burst (a word read while nothing waits); it moves the packets of a
/// resolved address into the engine's backlog, back to the `arp` block,
/// and drops those whose request expired. Its timer wakes a sleeping
/// engine at the earliest deadline, or at once when another engine learns
/// an address this one waits for.
final class ARPPendingSource: PacketSource, @unchecked Sendable {
    static let addressSlots = 64
    static let perAddress = 16

    /// Keeps the table's memory alive as long as the source.
    private let storage: ARPStorage
    private let table: ARPTable
    private let counters: EngineCounterSlots
    private let entry: IDP
    private let engineIndex: Int
    private let timer: TimerFD?
    /// The timer's descriptor (-1 without one), whether polled or not.
    let timerDescriptor: Int32

    private let keys: UnsafeMutablePointer<FLIPAddress>
    private let counts: UnsafeMutablePointer<UInt64>
    private let deadlines: UnsafeMutablePointer<UInt64>
    private let handles: UnsafeMutablePointer<PacketHandle>
    /// [0] packets queued in all, [1] the deadline the timer is armed for (0: none).
    private let state: UnsafeMutablePointer<UInt64>
    /// [0] kicked (another engine resolved something), [1] retiring or
    /// acknowledged (see `retire`).
    private let flags: UnsafeMutablePointer<UInt32>

    init(storage: ARPStorage, entry: IDP, engine: Int) {
        self.storage = storage
        table = storage.table
        counters = storage.counters
        self.entry = entry
        engineIndex = engine
        timer = try? TimerFD()
        timerDescriptor = timer?.descriptor.rawValue ?? -1
        keys = .allocate(capacity: Self.addressSlots)
        keys.initialize(repeating: FLIPAddress(kind: .short, high: 0, low: 0), count: Self.addressSlots)
        counts = .allocate(capacity: Self.addressSlots)
        counts.initialize(repeating: 0, count: Self.addressSlots)
        deadlines = .allocate(capacity: Self.addressSlots)
        deadlines.initialize(repeating: 0, count: Self.addressSlots)
        handles = .allocate(capacity: Self.addressSlots * Self.perAddress)
        handles.initialize(repeating: 0, count: Self.addressSlots * Self.perAddress)
        state = .allocate(capacity: 2)
        state.initialize(repeating: 0, count: 2)
        flags = .allocate(capacity: 2)
        flags.initialize(repeating: 0, count: 2)
    }

    deinit {
        keys.deallocate()
        counts.deallocate()
        deadlines.deallocate()
        handles.deallocate()
        state.deallocate()
        flags.deallocate()
    }

    /// The timer only while it stands for something: packets held, or a
    /// kick or the retirement not yet seen (an idle engine's sleeps poll
    /// one descriptor less). Engine thread: `state` is its own; a kick
    /// needs packets held, and the registry wakes the engines after a
    /// retirement, so a flag set after this read is seen all the same.
    override var pollDescriptor: Int32 {
        state[0] != 0 || lana_load_acquire_u32(flags) != 0 || lana_load_acquire_u32(flags + 1) == Self.retiring
            ? timerDescriptor : -1
    }
    override var holdsPackets: Bool { true }
    /// Retired, and its engine has freed what it held and said so (so the
    /// registry drops it only after the engine has seen the retirement).
    override var isDrained: Bool { lana_load_acquire_u32(flags + 1) == Self.acknowledged }

    override func retire() {
        // The timer first, the flag second: an engine that saw the flag
        // and disarmed the timer cannot be re-woken by a late arm.
        timer?.arm(afterNanoseconds: 1)
        lana_store_release_u32(flags + 1, Self.retiring)
    }

    /// `flags[1]`: the block left (`retiring`); the engine emptied the
    /// queue and disarmed the timer (`acknowledged`).
    private static let retiring: UInt32 = 1
    private static let acknowledged: UInt32 = 2

    /// Packets queued now (any thread; relaxed).
    var pendingCount: UInt64 { lana_load_relaxed_u64(state) }

    /// Packets queued for `address` (control thread, for the status file).
    func queued(for address: FLIPAddress) -> UInt64 {
        var n: UInt64 = 0
        for s in 0..<Self.addressSlots where lana_load_relaxed_u64(counts + s) > 0 && keys[s] == address {
            n += lana_load_relaxed_u64(counts + s)
        }
        return n
    }

    /// Another engine learned an address: look at the queue soon.
    func kick() {
        guard pendingCount > 0 else { return }
        // Armed before flagged (see `retire`): the engine that clears the
        // flag also disarms, so no expiration is left to wake it in vain.
        timer?.arm(afterNanoseconds: 1)
        lana_store_release_u32(flags, 1)
    }

    enum QueueResult { case queued, full, tooLong }

    /// Keeps `packet` until `address` is resolved or `deadline` passes.
    @inline(__always)
    func enqueue(_ packet: Packet, for address: FLIPAddress, deadline: UInt64, now: UInt64,
                 engine: EngineContext) -> QueueResult {
        var free = -1
        var s = 0
        while s < Self.addressSlots {
            let c = counts[s]
            if c > 0 && keys[s] == address { break }
            if c == 0 && free < 0 { free = s }
            s &+= 1
        }
        if s == Self.addressSlots {
            guard free >= 0 else { return .full }
            s = free
            keys[s] = address
            deadlines[s] = deadline
        }
        let c = Int(counts[s])
        guard c < Self.perAddress else { return .full }
        guard engine.detach(packet) else { return .tooLong }
        handles[s &* Self.perAddress &+ c] = packet.handle
        lana_store_relaxed_u64(counts + s, UInt64(c &+ 1))
        lana_store_relaxed_u64(state, state[0] &+ 1)
        let armed = state[1]
        if armed == 0 || deadlines[s] < armed {
            state[1] = deadlines[s]
            timer?.arm(afterNanoseconds: deadlines[s] > now ? deadlines[s] &- now : 1)
        }
        return .queued
    }

    override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let retired = lana_load_acquire_u32(flags + 1) == Self.retiring
        if state[0] == 0 {
            // Nothing held: only a timer armed by a kick or a retirement
            // to clear (else a readable timer would keep the engine awake).
            if _slowPath(retired) {
                timer?.disarm()
                state[1] = 0
                lana_store_release_u32(flags + 1, Self.acknowledged)
            } else if _slowPath(lana_load_acquire_u32(flags) != 0) {
                lana_store_release_u32(flags, 0)
                timer?.disarm()
                state[1] = 0
            }
            return 0
        }
        let now = MonotonicClock.now()
        var left: UInt64 = 0
        var earliest: UInt64 = 0
        for s in 0..<Self.addressSlots {
            let c = Int(counts[s])
            if c == 0 { continue }
            let first = handles + s &* Self.perAddress
            if retired {
                // The block left: nothing will resolve these any more.
                for j in 0..<c { engine.drop(engine.pool.packet(first[j]), .unknownIDP) }
            } else if case .learned = table.lookup(keys[s]) {
                for j in 0..<c { engine.enqueue(engine.pool.packet(first[j]), to: entry, from: entry) }
                counters.add(engineIndex, ARPBlock.Counter.released.rawValue, UInt64(c))
            } else if deadlines[s] <= now {
                for j in 0..<c { engine.drop(engine.pool.packet(first[j]), .arpTimeout) }
                counters.add(engineIndex, ARPBlock.Counter.timeouts.rawValue, UInt64(c))
            } else {
                left &+= UInt64(c)
                if earliest == 0 || deadlines[s] < earliest { earliest = deadlines[s] }
                continue
            }
            lana_store_relaxed_u64(counts + s, 0)
        }
        lana_store_relaxed_u64(state, left)
        let kicked = lana_load_acquire_u32(flags) != 0
        if kicked { lana_store_release_u32(flags, 0) }
        // Re-arm only when what the timer stands for changed: a syscall
        // per change, none per burst.
        if left == 0 {
            if state[1] != 0 || kicked || retired { timer?.disarm() }
            state[1] = 0
            if retired { lana_store_release_u32(flags + 1, Self.acknowledged) }
        } else if kicked || now >= state[1] || earliest != state[1] {
            state[1] = earliest
            timer?.arm(afterNanoseconds: earliest > now ? earliest &- now : 1)
        }
        return 0
    }
}

/// The memory an `arp` block shares with its sources: the table and the
/// counters. Freed when the last of them goes (a source may outlive its
/// block while it drains).
final class ARPStorage: @unchecked Sendable {
    let table = ARPTable()
    let counters: EngineCounterSlots

    init(engineCount: Int) {
        counters = EngineCounterSlots(engineCount: engineCount, words: ARPBlock.Counter.allCases.count)
    }

    deinit {
        table.deallocate()
        counters.deallocate()
    }
}

/// The monotonic clock in nanoseconds (vDSO: no system call).
enum MonotonicClock {
    @inline(__always)
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }
}
