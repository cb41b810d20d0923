// Unsafe code: the per-engine backlog ring.
//
// Invariants
// - Single-threaded: only the owning engine pushes (from blocks it runs) and
//   pops (at the start of each burst). No atomics needed.
// - Capacity is a power of two; `head` and `tail` are free-running counters
//   in `state[0]`, `state[1]`; `tail - head <= capacity`.
// - The ring holds handles of the owning engine's pool only.

/// Bounded FIFO of packets created inside the graph (tee copies, replies),
/// processed in the same loop as received packets — never by a timer
/// (the original's 100 ms backlog timer is docs/design.md §11).
public struct Backlog: @unchecked Sendable {
    @usableFromInline let slots: UnsafeMutablePointer<PacketHandle>
    @usableFromInline let state: UnsafeMutablePointer<Int>
    @usableFromInline let mask: Int

    @inlinable
    public var count: Int { state[1] &- state[0] }

    @inlinable
    public var capacity: Int { mask &+ 1 }

    @inlinable
    public func push(_ h: PacketHandle) -> Bool {
        let tail = state[1]
        if tail &- state[0] > mask { return false }
        slots[tail & mask] = h
        state[1] = tail &+ 1
        return true
    }

    /// Moves up to `max` handles into `out`; returns how many.
    @inlinable
    public func pop(into out: UnsafeMutablePointer<PacketHandle>, max: Int) -> Int {
        var head = state[0]
        let n = Swift.min(max, state[1] &- head)
        var i = 0
        while i < n {
            out[i] = slots[head & mask]
            head &+= 1
            i &+= 1
        }
        state[0] = head
        return n
    }
}

/// Owns a ``Backlog``'s memory.
public final class BacklogStorage: @unchecked Sendable {
    public let backlog: Backlog

    public init(capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "backlog capacity must be a power of two")
        let slots = UnsafeMutablePointer<PacketHandle>.allocate(capacity: capacity)
        let state = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        state.initialize(repeating: 0, count: 2)
        backlog = Backlog(slots: slots, state: state, mask: capacity - 1)
    }

    deinit {
        backlog.slots.deallocate()
        backlog.state.deallocate()
    }
}
