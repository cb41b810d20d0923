// Unsafe code: bulk operations on the per-engine packet pool. The
// invariants of PacketPool.swift apply; in addition, `take` hands out
// handles whose metadata is NOT initialised — the caller assigns each
// handle's `PacketMeta` in full before the packet goes anywhere, and
// `copyFrame` reads exactly `count` bytes of its source and writes
// exactly `count` bytes of its destination (it never runs past either).
// Between `freeTop` and `commitTake(top:)` the caller owns the stack top:
// it makes no other allocation or free on the pool in between, and passes
// `take(below:)` only a `top` it got from `freeTop` or from an earlier
// `take(below:)`, and never 0.

extension PacketPool {
    /// Takes up to `count` buffers in one step; returns how many it took
    /// (fewer when the pool runs low).
    ///
    /// Why: popping one handle at a time makes every allocation wait for
    /// the previous one's store to the stack top. A source filling a burst
    /// takes all its buffers at once instead.
    @inlinable
    public func take(into out: UnsafeMutablePointer<PacketHandle>, count: Int) -> Int {
        let top = state.pointee
        let n = count < top ? count : top
        var i = 0
        while i < n {
            let h = freeStack[top &- 1 &- i]
            #if LANA_INTERNAL_CHECKS
            precondition(!inUse[Int(h)], "packet pool: handle \(h) handed out twice")
            inUse[Int(h)] = true
            #endif
            out[i] = h
            i &+= 1
        }
        state.pointee = top &- n
        return n
    }

    /// The free stack's top, for a source that takes one buffer per frame
    /// inside its receive loop with ``take(below:)``: it keeps the top in
    /// a local (a register) and writes it back once, with
    /// ``commitTake(top:)``. No other allocation or free may happen in
    /// between. Why: the loop then neither loads nor stores the pool's
    /// state per frame, and it takes no buffer it will not use (taking a
    /// burst's worth up front and returning the rest cost two copies of
    /// the handles whenever fewer frames than that were waiting).
    @inlinable
    public var freeTop: Int { state.pointee }

    /// Takes the buffer below `top` (which must be greater than 0) and
    /// lowers `top` by one. See ``freeTop``.
    @inlinable
    public func take(below top: inout Int) -> PacketHandle {
        top &-= 1
        let h = freeStack[top]
        #if LANA_INTERNAL_CHECKS
        precondition(top >= 0 && top < state.pointee, "packet pool: take(below:) past the free stack")
        precondition(!inUse[Int(h)], "packet pool: handle \(h) handed out twice")
        inUse[Int(h)] = true
        #endif
        return h
    }

    /// Ends a series of ``take(below:)``: the buffers below the old top
    /// down to `top` are taken.
    @inlinable
    public func commitTake(top: Int) {
        state.pointee = top
    }

    /// Returns `count` buffers in one step.
    @inlinable
    public func free(_ handles: UnsafePointer<PacketHandle>, count: Int) {
        let top = state.pointee
        var i = 0
        while i < count {
            let h = handles[i]
            #if LANA_INTERNAL_CHECKS
            precondition(Int(h) < capacity && inUse[Int(h)], "packet pool: double free of \(h)")
            inUse[Int(h)] = false
            #endif
            freeStack[top &+ i] = h
            i &+= 1
        }
        state.pointee = top &+ count
    }
}

extension PacketPool {
    /// Copies a frame into a pool buffer.
    ///
    /// Why: most frames are short (64 bytes is the common case), and a call
    /// to `memcpy` per frame costs more than the copy itself once the
    /// caller's registers are saved around it. 16 to 64 bytes are copied
    /// inline as two or four 16-byte moves that overlap as needed (no byte
    /// outside `0..<count` is read or written); other lengths go to `memcpy`.
    @inlinable
    public static func copyFrame(to destination: UnsafeMutableRawPointer, from source: UnsafeRawPointer, count: Int) {
        guard count &- 16 <= 48, count >= 16 else {
            destination.copyMemory(from: source, byteCount: count)
            return
        }
        typealias Chunk = SIMD16<UInt8>
        // The first and the last 16 bytes, and for more than 32 the 16
        // after the first and before the last. A branch, not a computed
        // offset: a burst's frames mostly share a size class, so it
        // predicts well, and it frees the registers a select would take.
        let a = source.loadUnaligned(as: Chunk.self)
        let d = source.loadUnaligned(fromByteOffset: count &- 16, as: Chunk.self)
        if count > 32 {
            let b = source.loadUnaligned(fromByteOffset: 16, as: Chunk.self)
            let c = source.loadUnaligned(fromByteOffset: count &- 32, as: Chunk.self)
            destination.storeBytes(of: b, toByteOffset: 16, as: Chunk.self)
            destination.storeBytes(of: c, toByteOffset: count &- 32, as: Chunk.self)
        }
        destination.storeBytes(of: a, as: Chunk.self)
        destination.storeBytes(of: d, toByteOffset: count &- 16, as: Chunk.self)
    }
}

extension PacketMeta {
    /// Writes this metadata to `destination` as two 16-byte stores.
    ///
    /// Why: a source stamps the same template on every packet of a burst,
    /// and assigned as a struct it is stored field by field (ten stores).
    @inlinable
    public func store(to destination: UnsafeMutablePointer<PacketMeta>) {
        precondition(MemoryLayout<PacketMeta>.size == 32, "PacketMeta is stored as two 16-byte chunks")
        typealias Chunk = SIMD16<UInt8>
        Swift.withUnsafeBytes(of: self) { source in
            let raw = UnsafeMutableRawPointer(destination)
            raw.storeBytes(of: source.loadUnaligned(as: Chunk.self), as: Chunk.self)
            raw.storeBytes(of: source.loadUnaligned(fromByteOffset: 16, as: Chunk.self), toByteOffset: 16, as: Chunk.self)
        }
    }

    /// The metadata of a frame just received or generated by a source on
    /// `engine`'s pool, whose bytes are at `address`.
    @inlinable
    public init(receivedLength length: UInt32, address: UInt, entry: UInt32, direction: Direction,
                ifindex: UInt32, engine: UInt16) {
        self.init()
        self.address = address
        self.length = length
        self.next = entry
        self.direction = direction
        self.ifindex = ifindex
        self.engine = UInt8(truncatingIfNeeded: engine)
    }
}

extension Burst {
    /// Takes every packet of the burst out of the graph as delivered: the
    /// verdict `consumed`, the buffers back to the pool in one step, and
    /// the engine's delivered count. For terminal blocks that are done
    /// with the packets once `process` returns.
    @inlinable
    public func consumeAll() {
        // The summary says it for all: no packet touched.
        pool.free(handles, count: count)
        engine.pointee.countDelivered(count)
        summary.pointee = .allConsumed
    }
}
