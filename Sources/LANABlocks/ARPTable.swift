// Unsafe code: the address table an `arp` block shares between its engines.
//
// Invariants
// - Fixed capacity (a power of two), open addressing with linear probing;
//   entries are never removed, so a probe sequence ends at the first empty
//   slot and a key, once published, stays in its slot for good.
// - Each slot's `word` holds state (low 8 bits) and MAC (bits 16–63) and
//   is the only field that changes after the slot is published. Readers
//   (any engine, the control thread) load it with acquire ordering; the key
//   and kind were written before the release store that made the slot
//   non-empty and never change after, so a reader that sees a non-empty
//   slot sees its key.
// - Writers (engines learning, rare) serialize on `lock`, a spin lock word:
//   the critical sections are a probe and two stores. The data path reads
//   without any lock.
// - `generationWord` (its own cache line) counts the table's writes: bumped
//   with release after each store, under the lock. A reader that loads it
//   (acquire) before a lookup and finds it unchanged later knows that the
//   lookup's answer still holds (the flip block's memo of confirmed
//   sources relies on this).
// - The memory is freed by `deallocate`, called by the owning block's
//   deinit, after the grace period (no engine reads it any more).

import CLANASupport
import LANAPosix

/// A table from FLIP addresses (2, 4 or 16 bytes; the size is part of the
/// key) to MAC addresses, shared by the engines of one `arp` block
/// (docs/flip.md §10.5). Incomplete entries mark an address being resolved:
/// a request is in flight and its deadline says when it expires.
struct ARPTable: @unchecked Sendable {
    enum State: UInt8 { case empty = 0, incomplete = 1, learned = 2 }

    /// One slot, a cache line.
    struct Slot {
        /// `state | mac << 16`, see the invariants.
        var word: UInt64
        var high: UInt64
        var low: UInt64
        var kind: UInt64
        /// For an incomplete entry: when its request expires (monotonic ns).
        var deadline: UInt64
        var padding: (UInt64, UInt64, UInt64)
    }

    enum Lookup: Equatable {
        case learned(MACAddress)
        /// Being resolved; the request expires at `deadline`.
        case incomplete(deadline: UInt64)
        case missing
    }

    static let capacity = 1024
    private let slots: UnsafeMutablePointer<Slot>
    private let lock: UnsafeMutablePointer<UInt32>
    private let generationWord: UnsafeMutablePointer<UInt64>

    init() {
        precondition(MemoryLayout<Slot>.stride == 64 && MemoryLayout<Slot>.offset(of: \.deadline) == 32)
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity * MemoryLayout<Slot>.stride, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: Self.capacity * MemoryLayout<Slot>.stride)
        slots = raw.bindMemory(to: Slot.self, capacity: Self.capacity)
        lock = .allocate(capacity: 1)
        lock.initialize(to: 0)
        let word = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
        generationWord = word.initializeMemory(as: UInt64.self, repeating: 0, count: 8)
    }

    func deallocate() {
        slots.deallocate()
        lock.deallocate()
        UnsafeMutableRawPointer(generationWord).deallocate()
    }

    /// How many times the table was written (see the invariants).
    @inline(__always)
    var generation: UInt64 { lana_load_acquire_u64(generationWord) }

    @inline(__always)
    private static func home(_ a: FLIPAddress) -> Int {
        let h = (a.high ^ (a.low &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(a.kind.rawValue)) &* 0xFF51_AFD7_ED55_8CCD
        return Int(truncatingIfNeeded: h >> 54) & (capacity - 1)
    }

    /// The slot's `word` and `deadline` fields, for atomic access.
    @inline(__always)
    private func wordPointer(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutableRawPointer(slots + i).assumingMemoryBound(to: UInt64.self)
    }

    @inline(__always)
    private func deadlinePointer(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        (UnsafeMutableRawPointer(slots + i) + 32).assumingMemoryBound(to: UInt64.self)
    }

    @inline(__always)
    private func word(_ i: Int) -> UInt64 { lana_load_acquire_u64(wordPointer(i)) }

    @inline(__always)
    private func matches(_ i: Int, _ a: FLIPAddress) -> Bool {
        slots[i].high == a.high && slots[i].low == a.low && slots[i].kind == UInt64(a.kind.rawValue)
    }

    /// The slot holding `a`, or the empty slot where it would go (`found`
    /// false), or -1 if the table is full.
    @inline(__always)
    private func find(_ a: FLIPAddress) -> (index: Int, found: Bool) {
        var i = Self.home(a)
        var probes = 0
        while probes < Self.capacity {
            let w = word(i)
            if w & 0xFF == 0 { return (i, false) }
            if matches(i, a) { return (i, true) }
            i = (i &+ 1) & (Self.capacity &- 1)
            probes &+= 1
        }
        return (-1, false)
    }

    /// What the table knows of `a`. Lock-free.
    @inline(__always)
    func lookup(_ a: FLIPAddress) -> Lookup {
        let (i, found) = find(a)
        guard found else { return .missing }
        let w = word(i)
        if w & 0xFF == UInt64(State.learned.rawValue) { return .learned(MACAddress(rawValue: w >> 16)) }
        return .incomplete(deadline: lana_load_relaxed_u64(deadlinePointer(i)))
    }

    @inline(__always)
    private func withLock<R>(_ body: () -> R) -> R {
        while !lana_try_lock_u32(lock) { lana_cpu_relax() }
        defer { lana_unlock_u32(lock) }
        return body()
    }

    /// Publishes a new slot for `a` or updates its word.
    @inline(__always)
    private func store(_ i: Int, found: Bool, _ a: FLIPAddress, word: UInt64) {
        if !found {
            slots[i].high = a.high
            slots[i].low = a.low
            slots[i].kind = UInt64(a.kind.rawValue)
        }
        lana_store_release_u64(wordPointer(i), word)
        lana_store_release_u64(generationWord, lana_load_relaxed_u64(generationWord) &+ 1)
    }

    enum LearnResult { case unchanged, updated, resolved, full }

    /// Records `a` at `mac` (insert or overwrite). `resolved` when it ends
    /// an incomplete entry: packets waiting for it may go.
    @inline(__always)
    func learn(_ a: FLIPAddress, _ mac: MACAddress) -> LearnResult {
        let w = UInt64(State.learned.rawValue) | mac.rawValue << 16
        // Most learning confirms what is known: no lock for that.
        if case .learned(let known) = lookup(a), known == mac { return .unchanged }
        return withLock {
            let (i, found) = find(a)
            if i < 0 { return .full }
            let wasIncomplete = found && word(i) & 0xFF == UInt64(State.incomplete.rawValue)
            store(i, found: found, a, word: w)
            return wasIncomplete ? .resolved : .updated
        }
    }

    /// Overwrites `a` only if the table has it (the RFC 826 merge rule).
    @inline(__always)
    func refresh(_ a: FLIPAddress, _ mac: MACAddress) -> LearnResult {
        if case .missing = lookup(a) { return .unchanged }
        return learn(a, mac)
    }

    /// Marks `a` as being resolved until `deadline`, unless it is learned
    /// or its request has not expired yet at `now`. `true` if the caller
    /// should send a request (it started or restarted the resolution).
    @inline(__always)
    func startResolving(_ a: FLIPAddress, now: UInt64, deadline: UInt64) -> (start: Bool, full: Bool) {
        withLock {
            let (i, found) = find(a)
            if i < 0 { return (false, true) }
            if found {
                let w = word(i)
                if w & 0xFF == UInt64(State.learned.rawValue) { return (false, false) }
                if lana_load_relaxed_u64(deadlinePointer(i)) > now { return (false, false) }
            }
            lana_store_relaxed_u64(deadlinePointer(i), deadline)
            store(i, found: found, a, word: UInt64(State.incomplete.rawValue))
            return (true, false)
        }
    }

    /// Every entry, for the status file (control thread): the learned ones
    /// and those whose request is in flight at `now` (an expired request
    /// leaves its slot marked incomplete until the next packet asks again,
    /// but nothing is in flight any more).
    func entries(now: UInt64) -> [(address: FLIPAddress, lookup: Lookup)] {
        var out: [(FLIPAddress, Lookup)] = []
        for i in 0..<Self.capacity {
            let w = word(i)
            guard w & 0xFF != 0, let kind = FLIPAddress.Kind(rawValue: UInt8(truncatingIfNeeded: slots[i].kind)) else { continue }
            let a = FLIPAddress(kind: kind, high: slots[i].high, low: slots[i].low)
            if w & 0xFF == UInt64(State.learned.rawValue) {
                out.append((a, .learned(MACAddress(rawValue: w >> 16))))
            } else {
                let deadline = lana_load_relaxed_u64(deadlinePointer(i))
                if deadline > now { out.append((a, .incomplete(deadline: deadline))) }
            }
        }
        return out
    }
}
