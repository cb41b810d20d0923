/// One packet as a block sees it: a handle plus direct pointers to its
/// metadata and buffer. A trivially copyable view; it does not own anything.
public struct Packet {
    public let handle: PacketHandle
    @usableFromInline let meta: UnsafeMutablePointer<PacketMeta>
    @usableFromInline let pool: PacketPool

    @inlinable
    init(handle: PacketHandle, meta: UnsafeMutablePointer<PacketMeta>, pool: PacketPool) {
        self.handle = handle; self.meta = meta; self.pool = pool
    }

    /// Which protocol's metadata ``annotation`` holds, 0 for none. A block
    /// that writes the area sets it; one that reads checks it first. It is
    /// 0 for every packet taken from the pool or received, whatever the
    /// buffer's previous packet left in the area.
    @inlinable public var annotationKind: UInt8 {
        get { meta.pointee.annotationKind }
        nonmutating set { meta.pointee.annotationKind = newValue }
    }

    /// The packet's annotation area: ``PacketPool/annotationSize`` bytes of
    /// protocol metadata that travel with it (a FLIP packet's parsed header
    /// on the way up, what to send on the way down). Undefined unless
    /// ``annotationKind`` says what a block wrote there; protocols lay out
    /// their own structure over it.
    @inlinable public var annotation: UnsafeMutableRawPointer {
        pool.annotations + Int(handle) &* PacketPool.annotationSize
    }

    @inlinable public var length: Int { Int(meta.pointee.length) }
    @inlinable public var direction: Direction {
        get { meta.pointee.direction }
        nonmutating set { meta.pointee.direction = newValue }
    }
    /// IDP of the block that handed the packet to the current one.
    @inlinable public var source: IDP { IDP(meta.pointee.source) }
    @inlinable public var ifindex: UInt32 { meta.pointee.ifindex }
    @inlinable public var hops: Int { Int(meta.pointee.hops) }
    @inlinable public var mark: UInt32 {
        get { meta.pointee.mark }
        nonmutating set { meta.pointee.mark = newValue }
    }

    /// What should happen to the packet after the current block.
    @inlinable public var verdict: Verdict {
        get { Verdict(rawValue: meta.pointee.next) }
        nonmutating set { meta.pointee.next = newValue.rawValue }
    }

    /// The frame's bytes, from the Ethernet header on. Valid during the
    /// block's call; they may be in the receive ring the frame arrived in
    /// (see ``PacketPool/detach(_:)``).
    @inlinable public var bytes: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(bitPattern: meta.pointee.address),
                                      count: Int(meta.pointee.length))
    }

    /// The address of the first byte of ``bytes``: a packet always has one.
    @inlinable public var baseAddress: UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(bitPattern: meta.pointee.address).unsafelyUnwrapped
    }

    /// Drops `count` bytes from the front (a header that was read). The
    /// bytes stay where they are, so a block further on may take them back
    /// with ``restoreFront(_:)``.
    @inlinable public func removeFront(_ count: Int) {
        precondition(count >= 0 && count <= length, "removeFront(\(count)) of a \(length)-byte packet")
        meta.pointee.address &+= UInt(count)
        meta.pointee.length &-= UInt32(truncatingIfNeeded: count)
    }

    /// Keeps the `count` bytes that start `offset` bytes in: a header
    /// dropped from the front (as ``removeFront(_:)``) and padding from the
    /// end (as ``truncate(to:)``) in one update.
    @inlinable public func narrow(from offset: Int, count: Int) {
        precondition(offset >= 0 && count >= 0 && offset <= length &- count,
                     "narrow(from: \(offset), count: \(count)) of a \(length)-byte packet")
        narrow(uncheckedFrom: offset, count: count)
    }

    /// ``narrow(from:count:)`` for a caller that has checked the bounds
    /// against ``length`` already (a parser on its fast path); internal
    /// checks builds check them again.
    @inlinable public func narrow(uncheckedFrom offset: Int, count: Int) {
        #if LANA_INTERNAL_CHECKS
        precondition(offset >= 0 && count >= 0 && offset <= length &- count,
                     "narrow(uncheckedFrom: \(offset), count: \(count)) of a \(length)-byte packet")
        #endif
        meta.pointee.address &+= UInt(bitPattern: offset)
        meta.pointee.length = UInt32(truncatingIfNeeded: count)
    }

    /// Takes back `count` bytes in front that ``removeFront(_:)`` dropped
    /// earlier on the packet's path (a forwarder rewriting the link header
    /// it stripped). Only for bytes that were part of the packet.
    @inlinable public func restoreFront(_ count: Int) {
        meta.pointee.address &-= UInt(count)
        meta.pointee.length &+= UInt32(truncatingIfNeeded: count)
    }

    /// Makes room for a `count`-byte header in front of the bytes, in the
    /// packet's own buffer (moving the bytes there first if they are still
    /// in a source's memory). `false` if the headroom is too small or the
    /// frame does not fit a buffer: then drop it.
    @inlinable public func prependFront(_ count: Int) -> Bool {
        let start = UInt(bitPattern: pool.buffer(handle))
        var offset = meta.pointee.address &- start
        if offset >= UInt(pool.bufferSize) {
            // Still in a source's memory: into the packet's own buffer first.
            guard pool.detach(handle) else { return false }
            offset = meta.pointee.address &- start
        }
        guard offset >= UInt(count) else { return false }
        meta.pointee.address &-= UInt(count)
        meta.pointee.length &+= UInt32(truncatingIfNeeded: count)
        return true
    }

    /// Free bytes in front of the packet's bytes in its own buffer, or 0
    /// while they are still in a source's memory.
    @inlinable public var headroom: Int {
        let offset = meta.pointee.address &- UInt(bitPattern: pool.buffer(handle))
        return offset < UInt(pool.bufferSize) ? Int(offset) : 0
    }

    /// Cuts the packet to its first `count` bytes (link padding after a
    /// packet whose length field says where it ends).
    @inlinable public func truncate(to count: Int) {
        if count >= 0 && count < length { meta.pointee.length = UInt32(truncatingIfNeeded: count) }
    }

    /// Sets the bytes of a packet the block allocated: `count` bytes from the
    /// start of its buffer's data area (after the headroom). `false` if they
    /// do not fit.
    @inlinable public func setLength(_ count: Int) -> Bool {
        guard pool.ownsBytes(handle),
              Int(bitPattern: UInt(meta.pointee.address) &- UInt(bitPattern: pool.buffer(handle))) &+ count <= pool.bufferSize
        else { return false }
        meta.pointee.length = UInt32(truncatingIfNeeded: count)
        return true
    }

    /// Reads a big-endian 16-bit field; `nil` beyond the frame.
    @inlinable public func loadUInt16(at offset: Int) -> UInt16? {
        guard offset >= 0, offset &+ 2 <= length else { return nil }
        let p = UnsafeRawPointer(bitPattern: meta.pointee.address).unsafelyUnwrapped + offset
        return UInt16(p.load(as: UInt8.self)) << 8 | UInt16(p.load(fromByteOffset: 1, as: UInt8.self))
    }
}

/// The packets a block handles in one call: all headed for the same IDP.
///
/// The engine groups a burst of up to 32 packets by next IDP and calls each
/// block once per group, so the per-call cost is paid once per burst rather
/// than once per packet. Valid for the duration of the call only: it points
/// into the engine.
public struct Burst {
    @usableFromInline let handles: UnsafeMutablePointer<PacketHandle>
    public let count: Int
    /// The engine running the call. A pointer, not a copy: a burst is made
    /// for every block call, and copying the engine's context (pool, backlog,
    /// counters) each time was most of the cost of a call.
    @usableFromInline let engine: UnsafePointer<EngineContext>
    /// The engine's summary slot for this call (see ``forwardAll(_:)``).
    @usableFromInline let summary: UnsafeMutablePointer<BurstSummary>
    /// The IDP of the block being called.
    @usableFromInline let idp: UInt32
    /// The direction of every packet of the burst when the engine knows it
    /// is one (`Direction.rawValue`), else ``Burst/mixedDirections``.
    @usableFromInline let direction: UInt8

    @usableFromInline static let mixedDirections: UInt8 = 2

    @inlinable
    init(handles: UnsafeMutablePointer<PacketHandle>, count: Int, engine: UnsafePointer<EngineContext>,
         idp: UInt32, summary: UnsafeMutablePointer<BurstSummary>, direction: UInt8) {
        self.handles = handles; self.count = count; self.engine = engine
        self.summary = summary; self.idp = idp; self.direction = direction
    }

    /// The pool the burst's packets belong to (the engine's).
    @inlinable
    public var pool: PacketPool { engine.pointee.pool }

    /// The direction all packets of this burst travel in, when the engine
    /// knows they share one (a chain of blocks fed by one interface), so a
    /// block can decide once for the burst; `nil` means look at each packet.
    @inlinable
    public var uniformDirection: Direction? { Direction(rawValue: direction) }

    @inlinable
    public subscript(i: Int) -> Packet { pool.packet(handles[i]) }

    /// The burst's handles, for a pass over its packets that reads them
    /// and the pool once (``PacketPool/packet(_:)``), not per packet.
    @inlinable
    public func withHandles<R>(_ body: (UnsafeBufferPointer<PacketHandle>, PacketPool) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: handles, count: count), pool)
    }


    /// Sends every packet on along its direction through the default port
    /// (`up` for ingress, `down` for egress); see
    /// ``BlockPorts/verdict(for:)`` for an unbound one.
    ///
    /// It also reports in the engine's summary slot whether all
    /// packets went to one IDP (when the burst has a ``uniformDirection``,
    /// that is all it writes). For a chain of blocks that is the common
    /// case, and the engine then moves the whole group on without looking
    /// at the packets again. So it must be the block's last word on the
    /// burst: set no verdict after calling it, and do not call it on a
    /// burst whose packets the block turned around (changed `direction`
    /// of): it sends them along the direction the burst came in with.
    @inlinable
    public func forwardAll(_ ports: BlockPorts) {
        if direction < Burst.mixedDirections {
            // One direction for all: one verdict for all, and the engine
            // moves the group on by the summary alone — no packet touched.
            // (`next` of the packets is left stale; the engine reads the
            // summary instead.)
            let v = ports.verdict(for: Direction(rawValue: direction).unsafelyUnwrapped).rawValue
            if v != 0 && v < BurstSummary.allConsumed.rawValue {
                #if LANA_INTERNAL_CHECKS
                checkNotTurnedAround()
                #else
                summary.pointee = BurstSummary(rawValue: v)
                return
                #endif
            }
        }
        let metas = pool.metas
        let ingress = ports.verdict(for: .ingress).rawValue
        let egress = ports.verdict(for: .egress).rawValue
        // Branch-free: which directions were seen (1 ingress, 2 egress).
        var seen: UInt8 = 0
        var i = 0
        while i < count {
            let m = metas + Int(handles[i])
            let d = m.pointee.direction.rawValue
            m.pointee.next = d == 0 ? ingress : egress
            seen |= d &+ 1
            i &+= 1
        }
        let first = seen == 1 ? ingress : egress
        // One next hop for all — or one drop (an unbound port) for all.
        summary.pointee = BurstSummary(rawValue: seen != 3 && first < BurstSummary.allConsumed.rawValue ? first : 0)
    }

    /// Sets every packet's verdict to what `decide` returns and, when each
    /// packet went on through its direction's default port (and kept its
    /// direction), reports the burst as forwarded whole (``forwardAll(_:)``),
    /// so that the engine moves it on as one group. For blocks that decide
    /// packet by packet but usually pass everything on (a protocol layer).
    ///
    /// `decided`: the burst's first `decided` packets were already handled
    /// by the block as a run (a pass over the common case) and go on through
    /// the default port, unturned; `decide` sees the rest. Only for a burst
    /// with a ``uniformDirection``.
    @inlinable
    public func forwardEach(_ ports: BlockPorts, decided: Int = 0, _ decide: (Packet) -> Verdict) {
        // Read once: a packet per iteration built from these alone.
        let pool = self.pool
        guard let uniform = uniformDirection else {
            precondition(decided == 0, "Burst.forwardEach(decided: \(decided)) of a burst without one direction")
            var i = 0
            while i < count {
                let p = pool.packet(handles[i])
                p.verdict = decide(p)
                i &+= 1
            }
            return
        }
        let onwardVerdict = ports.verdict(for: uniform)
        precondition(decided >= 0 && decided <= count, "Burst.forwardEach(decided: \(decided)) of \(count) packets")
        var onward = true
        var i = decided
        while i < count {
            let p = pool.packet(handles[i])
            let v = decide(p)
            p.verdict = v
            onward = onward && v == onwardVerdict && p.direction == uniform
            i &+= 1
        }
        if onward && count > 0 {
            forwardAll(ports)
            return
        }
        // Not all go on: the decided run needs its verdicts too.
        i = 0
        while i < decided {
            pool.packet(handles[i]).verdict = onwardVerdict
            i &+= 1
        }
    }

    #if LANA_INTERNAL_CHECKS
    /// `forwardAll` sends a uniform burst along the direction it came in
    /// with: a packet the block turned around would go the wrong way.
    @usableFromInline
    func checkNotTurnedAround() {
        for i in 0..<count where pool.metas[Int(handles[i])].direction.rawValue != direction {
            preconditionFailure("""
                block at IDP \(idp) called Burst.forwardAll on a burst whose packet \(i) it turned around: \
                set per-packet verdicts for packets whose direction changed
                """)
        }
    }
    #endif
}
