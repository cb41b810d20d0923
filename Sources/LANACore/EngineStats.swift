// Unsafe code: per-engine statistics slots.
//
// Invariants
// - One 256-byte slot per engine, 128-byte aligned, so that no two engines
//   ever write the same cache line (no false sharing).
// - Only the owning engine writes its slot, with relaxed single-writer
//   load+store (no read-modify-write needed); any thread may read with
//   relaxed loads. Totals read while an engine runs are therefore each
//   exact at some recent instant but not mutually consistent.
// - The memory lives as long as the `EngineStatsTable` that allocated it.

import CLANASupport

/// A counter of an engine's statistics slot.
public enum EngineCounter: Int, CaseIterable, Sendable {
    /// Packets that entered the engine from its sources.
    case received = 0
    case receivedBytes
    /// Packet-block handler invocations.
    case blockCalls
    /// Packets blocks created (tee copies, replies).
    case created
    /// Packets blocks consumed for good (transmitted, delivered).
    case delivered
    case backlogEnqueued
    /// Backlog length after the last burst (a gauge).
    case backlogLength
    /// Bursts processed (for stall measurements and liveness).
    case bursts
    /// With stall measurement on: the longest burst (nanoseconds) and the
    /// longest gap between the end of a burst and the start of the next one
    /// while the engine had work (it did not sleep in between).
    case maxBurstNanos
    case maxGapNanos
    // Drop counters follow at `dropBase + reason`.

    @usableFromInline static let dropBase = 12
}

/// A non-owning view of one engine's slot.
public struct EngineStatsSlot: @unchecked Sendable {
    @usableFromInline let base: UnsafeMutablePointer<UInt64>

    @inlinable
    init(base: UnsafeMutablePointer<UInt64>) { self.base = base }

    @inlinable
    public func add(_ counter: EngineCounter, _ n: UInt64) {
        lana_add_owned_u64(base + counter.rawValue, n)
    }

    @inlinable
    public func set(_ counter: EngineCounter, _ v: UInt64) {
        lana_store_relaxed_u64(base + counter.rawValue, v)
    }

    @inlinable
    public func countDrop(_ reason: DropReason, _ n: UInt64) {
        lana_add_owned_u64(base + EngineCounter.dropBase + Int(reason.rawValue), n)
    }

    public func load(_ counter: EngineCounter) -> UInt64 {
        lana_load_relaxed_u64(base + counter.rawValue)
    }

    public func drops(_ reason: DropReason) -> UInt64 {
        lana_load_relaxed_u64(base + EngineCounter.dropBase + Int(reason.rawValue))
    }
}

/// A consistent-enough copy of one engine's counters, for files and tests.
public struct EngineCounters: Sendable, Equatable {
    public var received: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    public var blockCalls: UInt64 = 0
    public var created: UInt64 = 0
    public var delivered: UInt64 = 0
    public var backlogEnqueued: UInt64 = 0
    public var backlogLength: UInt64 = 0
    public var bursts: UInt64 = 0
    public var maxBurstNanos: UInt64 = 0
    public var maxGapNanos: UInt64 = 0
    public var drops: [UInt64] = Array(repeating: 0, count: DropReason.count)

    public init() {}

    /// Packets lost, by any reason but ``DropReason/ended``.
    public var totalDrops: UInt64 { drops.reduce(0, +) - ended }

    /// Packets that reached the top of the graph (the normal end of a path).
    public var ended: UInt64 { drops[Int(DropReason.ended.rawValue)] }

    public func drops(_ reason: DropReason) -> UInt64 { drops[Int(reason.rawValue)] }

    public static func + (a: EngineCounters, b: EngineCounters) -> EngineCounters {
        var r = EngineCounters()
        r.received = a.received + b.received
        r.receivedBytes = a.receivedBytes + b.receivedBytes
        r.blockCalls = a.blockCalls + b.blockCalls
        r.created = a.created + b.created
        r.delivered = a.delivered + b.delivered
        r.backlogEnqueued = a.backlogEnqueued + b.backlogEnqueued
        r.backlogLength = a.backlogLength + b.backlogLength
        r.bursts = a.bursts + b.bursts
        r.maxBurstNanos = Swift.max(a.maxBurstNanos, b.maxBurstNanos)
        r.maxGapNanos = Swift.max(a.maxGapNanos, b.maxGapNanos)
        r.drops = zip(a.drops, b.drops).map { $0 + $1 }
        return r
    }
}

/// Owns the statistics slots of all engines.
public final class EngineStatsTable: @unchecked Sendable {
    /// Counters and one word per drop reason, rounded up to whole pairs
    /// of cache lines.
    static let slotWords = 64
    private let memory: UnsafeMutablePointer<UInt64>
    public let engineCount: Int

    public init(engineCount: Int) {
        precondition(EngineCounter.dropBase + DropReason.count <= Self.slotWords, "engine statistics slot too small for the drop reasons")
        self.engineCount = engineCount
        let raw = UnsafeMutableRawPointer.allocate(byteCount: engineCount * Self.slotWords * 8, alignment: 128)
        memory = raw.bindMemory(to: UInt64.self, capacity: engineCount * Self.slotWords)
        memory.initialize(repeating: 0, count: engineCount * Self.slotWords)
    }

    deinit { memory.deallocate() }

    public func slot(_ engine: Int) -> EngineStatsSlot {
        precondition(engine >= 0 && engine < engineCount)
        return EngineStatsSlot(base: memory + engine * Self.slotWords)
    }

    /// Reads one engine's counters (relaxed loads).
    public func counters(_ engine: Int) -> EngineCounters {
        let s = slot(engine)
        var c = EngineCounters()
        c.received = s.load(.received)
        c.receivedBytes = s.load(.receivedBytes)
        c.blockCalls = s.load(.blockCalls)
        c.created = s.load(.created)
        c.delivered = s.load(.delivered)
        c.backlogEnqueued = s.load(.backlogEnqueued)
        c.backlogLength = s.load(.backlogLength)
        c.bursts = s.load(.bursts)
        c.maxBurstNanos = s.load(.maxBurstNanos)
        c.maxGapNanos = s.load(.maxGapNanos)
        for r in DropReason.allCases { c.drops[Int(r.rawValue)] = s.drops(r) }
        return c
    }

    /// Sum over all engines.
    public func total() -> EngineCounters {
        (0..<engineCount).reduce(EngineCounters()) { $0 + counters($1) }
    }
}
