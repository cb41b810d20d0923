// Unsafe code: the immutable IDP-indexed dispatch snapshot.
//
// Invariants
// - A `DispatchTable` is never mutated after `init` returns. Engines read it
//   without locks through `Unmanaged` references (no ARC on the data path).
// - `owners` holds a strong reference to every block and source the raw
//   `entries`/`sources` arrays mention, so they live at least as long as the
//   table. The data plane keeps the current table retained and releases a
//   replaced one only after a grace period (every engine quiescent), which is
//   what makes the unowned references safe.

/// One row of the dispatch table: the block at an IDP and its ports.
public struct DispatchEntry {
    public let block: Unmanaged<FunctionalBlock>?
    public let ports: BlockPorts
    /// The block's ``FunctionalBlock/readsPacketHistory``, read once here.
    public let readsHistory: Bool

    @inlinable
    init(block: Unmanaged<FunctionalBlock>?, ports: BlockPorts, readsHistory: Bool) {
        self.block = block; self.ports = ports; self.readsHistory = readsHistory
    }
}

/// An immutable snapshot of the graph as the engines see it.
public final class DispatchTable: @unchecked Sendable {
    @usableFromInline let entries: UnsafeMutablePointer<DispatchEntry>
    /// Number of entries; valid IDPs are `1 ..< count`.
    public let count: Int
    @usableFromInline let sources: UnsafeMutablePointer<Unmanaged<PacketSource>>
    @usableFromInline let sourceRanges: [Range<Int>]
    @usableFromInline let sourceStart: UnsafeMutablePointer<Int>
    /// Strong references that keep everything above alive.
    private let owners: [AnyObject]
    /// Increases by one with every published change.
    public let generation: UInt64

    /// - Parameters:
    ///   - blocks: IDP → (block, ports); index 0 must be empty.
    ///   - sources: per engine, the sources it polls.
    public init(generation: UInt64, blocks: [(block: FunctionalBlock, ports: BlockPorts)?], sources: [[PacketSource]]) {
        self.generation = generation
        count = Swift.max(blocks.count, 1)
        entries = .allocate(capacity: count)
        var owners: [AnyObject] = []
        for i in 0..<count {
            if i < blocks.count, i > 0, let b = blocks[i] {
                owners.append(b.block)
                (entries + i).initialize(to: DispatchEntry(
                    block: Unmanaged.passUnretained(b.block), ports: b.ports, readsHistory: b.block.readsPacketHistory))
            } else {
                (entries + i).initialize(to: DispatchEntry(block: nil, ports: .unbound, readsHistory: false))
            }
        }
        let flat = sources.flatMap { $0 }
        self.sources = .allocate(capacity: Swift.max(flat.count, 1))
        for (i, s) in flat.enumerated() {
            owners.append(s)
            (self.sources + i).initialize(to: Unmanaged.passUnretained(s))
        }
        sourceStart = .allocate(capacity: sources.count + 1)
        var ranges: [Range<Int>] = []
        var at = 0
        for (e, list) in sources.enumerated() {
            sourceStart[e] = at
            ranges.append(at ..< at + list.count)
            at += list.count
        }
        sourceStart[sources.count] = at
        sourceRanges = ranges
        self.owners = owners
    }

    deinit {
        entries.deinitialize(count: count)
        entries.deallocate()
        sources.deallocate()
        sourceStart.deallocate()
    }

    /// The entry for `idp`, or `nil` when nothing is mapped there.
    @inlinable
    public func entry(_ idp: UInt32) -> DispatchEntry? {
        let i = Int(idp)
        if i >= count { return nil }
        let e = entries[i]
        return e.block == nil ? nil : e
    }

    /// Ports of `idp` in this snapshot (unbound if not mapped).
    public func ports(of idp: IDP) -> BlockPorts { entry(idp.rawValue)?.ports ?? .unbound }

    /// Whether `block` is referenced by this snapshot.
    public func contains(_ block: FunctionalBlock) -> Bool {
        owners.contains { $0 === block }
    }
}
