// Unsafe code: the per-engine packet buffer pool.
//
// Invariants
// - One pool per engine. Only the owning engine thread allocates, frees and
//   touches packet bytes or metadata; other threads may read `available`
//   (an advisory value for tests and statistics) once the engine is stopped.
// - Every buffer is `bufferSize` bytes at a 64-byte aligned address;
//   buffers are `bufferStride` = `bufferSize` + 64 bytes apart, so that the
//   same offset in consecutive buffers falls in different cache sets (with
//   a power-of-two stride, the headers of a whole burst compete for two
//   sets of a 32 KiB L1 and evict each other). A
//   packet's bytes are `length` bytes at `address`: either inside its own
//   buffer (`address + length <= buffer + bufferSize`), or — for a packet a
//   source handed over without copying — inside the source's memory (a
//   receive ring), which stays valid until that source's next `receive`
//   on the engine. The engine drives every packet out of the graph before
//   it calls a source again (the backlog is drained within the burst), so
//   only a block that keeps a packet past its call must `detach` it.
// - A handle is an index `< capacity`. A handle is either on the free stack or
//   owned by exactly one holder (a burst, the backlog, a block). Double frees
//   trap under LANA_INTERNAL_CHECKS.
// - Every packet has an annotation area of `annotationSize` bytes (its
//   protocol metadata, like Click's annotations or an skb's control
//   buffer), 64-byte aligned, at `annotations + handle * annotationSize`.
//   Its content is undefined until a block writes it; a clone copies it.
// - The memory is released by `PacketPoolStorage.deinit` only, after the
//   engine thread has exited.

import CLANASupport

/// A packet's identity inside its engine's pool.
public typealias PacketHandle = UInt32

/// Per-packet metadata (docs/design.md §4), kept apart from the bytes so that the
/// engine's per-hop scan touches one small array.
public struct PacketMeta: Sendable {
    /// Address of the frame's first byte (its Ethernet header): in the
    /// packet's own buffer after the headroom, or in the memory of the
    /// source that received it (see ``PacketPool/detach(_:)``). An address,
    /// not a pointer, so the metadata stays `Sendable` and plain.
    public var address: UInt
    /// Bytes of the frame, starting at its Ethernet header.
    public var length: UInt32
    /// Next IDP, or a ``Verdict`` after a block call.
    public var next: UInt32
    /// IDP of the block that forwarded the packet last (0 from a source).
    public var source: UInt32
    /// Interface index the frame arrived on (0 if created in the graph).
    public var ifindex: UInt32
    /// Opaque 32-bit mark blocks may use (like `skb->mark`).
    public var mark: UInt32
    public var direction: Direction
    /// Blocks visited so far.
    public var hops: UInt8
    /// Engine that owns the packet (``EngineGroup/maximumEngines``).
    public var engine: UInt8
    /// Which protocol's metadata the annotation area holds, 0 for none
    /// (see ``Packet/annotationKind``). Cleared with the rest of the
    /// metadata whenever a buffer is taken or a frame received, so a
    /// protocol never trusts what a buffer's previous packet left there.
    public var annotationKind: UInt8

    @inlinable
    public init() {
        address = 0; length = 0; next = 0; source = 0; ifindex = 0; mark = 0
        direction = .ingress; hops = 0; engine = 0; annotationKind = 0
    }
}

/// A non-owning, trivially copyable view of an engine's packet pool.
///
/// Passing this struct around costs no reference counting, which is why the
/// data path uses it instead of the owning ``PacketPoolStorage``.
public struct PacketPool: @unchecked Sendable {
    @usableFromInline let buffers: UnsafeMutableRawPointer
    @usableFromInline let metas: UnsafeMutablePointer<PacketMeta>
    @usableFromInline let annotations: UnsafeMutableRawPointer
    @usableFromInline let freeStack: UnsafeMutablePointer<PacketHandle>
    /// `[0]` = number of free handles on the stack.
    @usableFromInline let state: UnsafeMutablePointer<Int>
    #if LANA_INTERNAL_CHECKS
    @usableFromInline let inUse: UnsafeMutablePointer<Bool>
    #endif
    public let capacity: Int
    public let bufferSize: Int
    /// Distance between consecutive buffers (see the invariants).
    @usableFromInline var bufferStride: Int { bufferSize &+ 64 }
    public let headroom: Int
    public let engine: UInt16

    /// Bytes of protocol metadata each packet carries beside its bytes
    /// (see ``Packet/annotation``).
    public static let annotationSize = 128

    /// Largest frame a buffer can hold after the headroom.
    @inlinable
    public var maximumFrameLength: Int { bufferSize - headroom }

    /// Free buffers right now.
    @inlinable
    public var available: Int { state.pointee }

    @inlinable
    public func meta(_ handle: PacketHandle) -> UnsafeMutablePointer<PacketMeta> {
        metas + Int(handle)
    }

    @inlinable
    public func buffer(_ handle: PacketHandle) -> UnsafeMutableRawPointer {
        buffers + Int(handle) &* bufferStride
    }

    /// Takes a buffer off the free stack, with metadata reset and the
    /// frame starting after the headroom. `nil` when the pool is empty.
    @inlinable
    public func allocate() -> PacketHandle? {
        let top = state.pointee
        if top == 0 { return nil }
        state.pointee = top &- 1
        let handle = freeStack[top &- 1]
        #if LANA_INTERNAL_CHECKS
        precondition(!inUse[Int(handle)], "packet pool: handle \(handle) handed out twice")
        inUse[Int(handle)] = true
        #endif
        let m = metas + Int(handle)
        m.pointee = PacketMeta()
        m.pointee.address = UInt(bitPattern: buffer(handle) + headroom)
        m.pointee.engine = UInt8(truncatingIfNeeded: engine)
        return handle
    }

    /// Returns a buffer to the pool.
    @inlinable
    public func free(_ handle: PacketHandle) {
        #if LANA_INTERNAL_CHECKS
        precondition(Int(handle) < capacity && inUse[Int(handle)], "packet pool: double free of \(handle)")
        inUse[Int(handle)] = false
        #endif
        let top = state.pointee
        freeStack[top] = handle
        state.pointee = top &+ 1
    }

    /// Allocates a buffer and copies `bytes` into it as a frame.
    @inlinable
    public func allocate(copying bytes: UnsafeRawBufferPointer) -> PacketHandle? {
        guard bytes.count <= maximumFrameLength, let h = allocate() else { return nil }
        let m = metas + Int(h)
        m.pointee.length = UInt32(truncatingIfNeeded: bytes.count)
        if let base = bytes.baseAddress {
            (buffer(h) + headroom).copyMemory(from: base, byteCount: bytes.count)
        }
        return h
    }

    /// A copy of packet `handle`: bytes and metadata, the bytes in the
    /// copy's own buffer at the same place as in the original's (after the
    /// headroom if the original's are in a source's memory). `nil` when the
    /// pool is empty or the frame does not fit a buffer.
    @inlinable
    public func clone(_ handle: PacketHandle) -> PacketHandle? {
        let src = metas + Int(handle)
        let owned = ownsBytes(handle)
        guard owned || Int(src.pointee.length) <= maximumFrameLength, let c = allocate() else { return nil }
        let dst = metas + Int(c)
        let start = owned ? Int(bitPattern: src.pointee.address &- UInt(bitPattern: buffer(handle))) : headroom
        let address = UInt(bitPattern: buffer(c) + start)
        dst.pointee = src.pointee
        dst.pointee.address = address
        (annotations + Int(c) &* PacketPool.annotationSize)
            .copyMemory(from: annotations + Int(handle) &* PacketPool.annotationSize, byteCount: PacketPool.annotationSize)
        UnsafeMutableRawPointer(bitPattern: address).unsafelyUnwrapped
            .copyMemory(from: UnsafeRawPointer(bitPattern: src.pointee.address).unsafelyUnwrapped,
                        byteCount: Int(src.pointee.length))
        return c
    }

    /// Whether packet `handle`'s bytes are in its own buffer (rather than
    /// in the memory of the source that received it).
    @inlinable
    public func ownsBytes(_ handle: PacketHandle) -> Bool {
        let start = UInt(bitPattern: buffer(handle))
        return metas[Int(handle)].address &- start < UInt(bufferSize)
    }

    /// Moves packet `handle`'s bytes into its own buffer, after the
    /// headroom, if they are still in a source's memory. Returns `false`
    /// (and leaves the packet as it is) if the frame does not fit.
    ///
    /// A source may hand over packets whose bytes stay in its receive ring
    /// until it is called again, which the engine does only once the burst
    /// has left the graph. A block that keeps a packet after its `process`
    /// call returns (a queue waiting for an address, say) detaches it first.
    @inlinable
    public func detach(_ handle: PacketHandle) -> Bool {
        if ownsBytes(handle) { return true }
        let m = metas + Int(handle)
        let length = Int(m.pointee.length)
        guard length <= maximumFrameLength else { return false }
        let destination = buffer(handle) + headroom
        destination.copyMemory(from: UnsafeRawPointer(bitPattern: m.pointee.address).unsafelyUnwrapped,
                               byteCount: length)
        m.pointee.address = UInt(bitPattern: destination)
        return true
    }

    @inlinable
    public func packet(_ handle: PacketHandle) -> Packet {
        Packet(handle: handle, meta: metas + Int(handle), pool: self)
    }
}

/// Owns the memory behind a ``PacketPool``.
public final class PacketPoolStorage: @unchecked Sendable {
    public let pool: PacketPool

    /// - Parameters:
    ///   - capacity: number of buffers.
    ///   - bufferSize: bytes per buffer including `headroom`.
    ///   - headroom: bytes kept free before each frame for encapsulation.
    public init(capacity: Int, bufferSize: Int = 2048, headroom: Int = 128, engine: UInt16 = 0) {
        precondition(capacity > 0 && capacity <= Int(UInt32.max))
        precondition(bufferSize % 64 == 0 && headroom < bufferSize)
        let buffers = UnsafeMutableRawPointer.allocate(byteCount: capacity * (bufferSize + 64), alignment: 64)
        let metas = UnsafeMutablePointer<PacketMeta>.allocate(capacity: capacity)
        metas.initialize(repeating: PacketMeta(), count: capacity)
        let annotations = UnsafeMutableRawPointer.allocate(byteCount: capacity * PacketPool.annotationSize, alignment: 64)
        annotations.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * PacketPool.annotationSize)
        let stack = UnsafeMutablePointer<PacketHandle>.allocate(capacity: capacity)
        // Lowest handles on top so a fresh pool hands out 0, 1, 2 …
        for i in 0..<capacity { stack[i] = PacketHandle(capacity - 1 - i) }
        let state = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        state.initialize(to: capacity)
        #if LANA_INTERNAL_CHECKS
        let inUse = UnsafeMutablePointer<Bool>.allocate(capacity: capacity)
        inUse.initialize(repeating: false, count: capacity)
        pool = PacketPool(buffers: buffers, metas: metas, annotations: annotations, freeStack: stack, state: state, inUse: inUse,
                          capacity: capacity, bufferSize: bufferSize, headroom: headroom, engine: engine)
        #else
        pool = PacketPool(buffers: buffers, metas: metas, annotations: annotations, freeStack: stack, state: state,
                          capacity: capacity, bufferSize: bufferSize, headroom: headroom, engine: engine)
        #endif
    }

    deinit {
        pool.buffers.deallocate()
        pool.metas.deallocate()
        pool.annotations.deallocate()
        pool.freeStack.deallocate()
        pool.state.deallocate()
        #if LANA_INTERNAL_CHECKS
        pool.inUse.deallocate()
        #endif
    }
}
