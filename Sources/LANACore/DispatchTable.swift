// Unsafe code: the immutable IDP-indexed dispatch snapshot.
//
// Invariants
// - A `DispatchTable` is never mutated after `init` returns. Engines read it
//   without locks through `Unmanaged` references (no ARC on the data path).
// - `owners` holds a strong reference to every block and source the raw
//   `entries`/`sources` arrays mention, so they live at least as long as the
//   table. `portMemory` holds every entry's extra ports and family members;
//   the ``BlockPorts`` in `entries` point into it, so they are valid exactly
//   as long as the table. The data plane keeps the current table retained and releases a
//   replaced one only after a grace period (every engine quiescent), which is
//   what makes the unowned references safe.

/// One row of the dispatch table: the block at an IDP and its ports.
public struct DispatchEntry {
    public let block: Unmanaged<FunctionalBlock>?
    public let ports: BlockPorts
    /// The block's options (kept alive by the table's owners).
    public let configuration: Unmanaged<BlockConfiguration>?
    /// The block's ``FunctionalBlock/readsPacketHistory``, read once here.
    public let readsHistory: Bool

    @inlinable
    init(block: Unmanaged<FunctionalBlock>?, ports: BlockPorts, configuration: Unmanaged<BlockConfiguration>?,
         readsHistory: Bool) {
        self.block = block; self.ports = ports; self.configuration = configuration; self.readsHistory = readsHistory
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

    /// Extra ports and family members of all entries, in one allocation.
    private let portMemory: UnsafeMutableRawPointer?
    /// What each entry's ports are, as the control plane knows them.
    private let boundPorts: [BoundPorts]

    /// One row as the registry hands it over.
    public struct Row {
        public let block: FunctionalBlock
        public let type: BlockType
        public let ports: BoundPorts
        public let configuration: BlockConfiguration?
        public init(block: FunctionalBlock, type: BlockType, ports: BoundPorts, configuration: BlockConfiguration?) {
            self.block = block; self.type = type; self.ports = ports; self.configuration = configuration
        }
    }

    /// - Parameters:
    ///   - blocks: IDP → row; index 0 must be empty.
    ///   - sources: per engine, the sources it polls.
    public init(generation: UInt64, blocks: [Row?], sources: [[PacketSource]]) {
        self.generation = generation
        count = Swift.max(blocks.count, 1)
        entries = .allocate(capacity: count)
        var owners: [AnyObject] = []
        // Extras first (IDP-aligned), then members (8-byte aligned).
        var extraCount = 0, memberCount = 0
        for case let b? in blocks {
            extraCount += b.type.extraPorts.count
            memberCount += b.ports.bindings.count(where: { if case .member = $0.port.slot { true } else { false } })
        }
        let memberOffset = (extraCount * MemoryLayout<IDP>.stride + 7) & ~7
        let bytes = memberOffset + memberCount * MemoryLayout<PortMember>.stride
        portMemory = bytes == 0 ? nil : .allocate(byteCount: bytes, alignment: 8)
        var nextExtra = portMemory?.bindMemory(to: IDP.self, capacity: extraCount)
        var nextMember = portMemory.map { ($0 + memberOffset).bindMemory(to: PortMember.self, capacity: memberCount) }
        var bound: [BoundPorts] = []
        bound.reserveCapacity(count)
        for i in 0..<count {
            if i < blocks.count, i > 0, let b = blocks[i] {
                owners.append(b.block)
                if let c = b.configuration { owners.append(c) }
                bound.append(b.ports)
                var up = IDP.none, down = IDP.none
                let extras = nextExtra
                let declared = b.type.extraPorts.count
                if declared > 0 { extras!.initialize(repeating: .none, count: declared) }
                var members: [PortMember] = []
                for binding in b.ports.bindings {
                    switch binding.port.slot {
                    case .standard: if binding.side == .upper { up = binding.idp } else { down = binding.idp }
                    case .extra(let x): extras![x] = binding.idp
                    case .member(_, let key): members.append(PortMember(key: key, idp: binding.idp))
                    }
                }
                members.sort { $0.key < $1.key }
                let memberStart = nextMember
                if !members.isEmpty { memberStart!.initialize(from: members, count: members.count) }
                if declared > 0 { nextExtra = extras! + declared }
                if !members.isEmpty { nextMember = memberStart! + members.count }
                let ports = BlockPorts(up: up, down: down, extras: declared > 0 ? UnsafePointer(extras) : nil,
                                       members: members.isEmpty ? nil : UnsafePointer(memberStart),
                                       memberCount: members.count)
                (entries + i).initialize(to: DispatchEntry(
                    block: Unmanaged.passUnretained(b.block), ports: ports,
                    configuration: b.configuration.map { Unmanaged.passUnretained($0) },
                    readsHistory: b.block.readsPacketHistory))
            } else {
                bound.append(.unbound)
                (entries + i).initialize(to: DispatchEntry(block: nil, ports: .unbound, configuration: nil, readsHistory: false))
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
        boundPorts = bound
    }

    deinit {
        entries.deinitialize(count: count)
        entries.deallocate()
        sources.deallocate()
        sourceStart.deallocate()
        portMemory?.deallocate()
    }

    /// The entry for `idp`, or `nil` when nothing is mapped there.
    @inlinable
    public func entry(_ idp: UInt32) -> DispatchEntry? {
        let i = Int(idp)
        if i >= count { return nil }
        let e = entries[i]
        return e.block == nil ? nil : e
    }

    /// Ports of `idp` in this snapshot (unbound if not mapped), by name.
    public func ports(of idp: IDP) -> BoundPorts {
        let i = Int(idp.rawValue)
        return i < boundPorts.count ? boundPorts[i] : .unbound
    }

    /// Whether `block` is referenced by this snapshot.
    public func contains(_ block: FunctionalBlock) -> Bool {
        owners.contains { $0 === block }
    }
}
