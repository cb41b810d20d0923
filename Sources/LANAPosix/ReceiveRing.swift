// The TPACKET_V3 block walker: the only code that reads a receive ring.
//
// Invariants (unsafe code):
// - The ring is `blockCount` blocks of `blockSize` bytes at `region.base`,
//   mapped for the lifetime of this value. The kernel fills blocks in index
//   order, so the next block to read is always the one after the last one
//   walked.
// - A block belongs to user space from the moment its status has
//   TP_STATUS_USER (read with acquire, so its frames are visible) until we
//   store TP_STATUS_KERNEL (with release, after the last read of its
//   frames). While `cursor.framesLeft > 0` we own block `cursor.block` and
//   `cursor.frame` points at its next unread frame header.
// - Blocks whose frames have all been handed out are *held*, not returned:
//   the `cursor.held` blocks before `cursor.block` (modulo `blockCount`)
//   still belong to user space, so the frame pointers of the last
//   `takeFrames` stay valid until `releaseFrames` returns those blocks (a
//   block still being walked stays ours anyway). `held <= blockCount`: the
//   walk stops rather than enter a held block again.
// - `frames` holds the headers handed out by the last `takeFrames`, at
//   most `maximumBurst` of them.
// - Not reentrant, one thread at a time. The cursor is kept in a local
//   during a walk and written back at the end.
// - `cursor` and `frames` are allocated in `init` and freed in `deinit`,
//   nowhere else.

import CLANASupport
import Glibc
import SystemPackage

/// Where the reader is in the ring.
struct RingCursor {
    var block = 0
    /// Frames not yet handed out in `block`; 0 means we own no block.
    var framesLeft: UInt32 = 0
    var frame: UnsafeMutableRawPointer? = nil
    /// Walked blocks not yet returned to the kernel, ending before `block`.
    var held = 0
}

/// A mapped TPACKET_V3 receive ring and the reader's position in it.
///
/// The cursor lives behind a pointer so the per-frame loop pays no
/// exclusivity checks, which a `var` in the owning class would cost.
struct ReceiveRing: ~Copyable {
    /// Frames one `takeFrames` hands out at most.
    static let maximumBurst = 64

    private let region: MappedRegion
    private let cursor: UnsafeMutablePointer<RingCursor>
    private let frames: UnsafeMutablePointer<PacketSocket.RingFrame>
    let blockSize: Int
    let blockCount: Int
    /// Set when the kernel lacks PACKET_IGNORE_OUTGOING but the owner asked
    /// not to see outgoing frames.
    let skipsOutgoing: Bool

    /// Maps the ring already configured (PACKET_RX_RING) on `socket`.
    init(socket: FileDescriptor, blockSize: Int, blockCount: Int, skipsOutgoing: Bool) throws(Errno) {
        self.region = try MappedRegion(socket: socket, length: blockSize * blockCount)
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.skipsOutgoing = skipsOutgoing
        self.cursor = .allocate(capacity: 1)
        self.cursor.initialize(to: RingCursor())
        self.frames = .allocate(capacity: ReceiveRing.maximumBurst)
    }

    deinit {
        cursor.deinitialize(count: 1)
        cursor.deallocate()
        frames.deallocate()
    }

    /// See `PacketSocket.takeFrames`.
    func takeFrames(max requested: Int) -> UnsafeBufferPointer<PacketSocket.RingFrame> {
        if cursor.pointee.held > 0 { releaseFrames() }
        let max = Swift.min(requested, ReceiveRing.maximumBurst)
        let base = region.base
        let out = frames
        var state = cursor.pointee
        var n = 0

        while n < max {
            if state.framesLeft == 0 {
                // Every block is held: the next one is the oldest of them.
                if state.held == blockCount { break }
                let block = base + state.block &* blockSize
                guard lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0 else { break }
                let count = lana_tp3_block_num_packets(block)
                if count == 0 {
                    // Not produced by current kernels, but an empty block
                    // must still go back or the ring would stall on it.
                    state.held &+= 1
                    state.block = state.block &+ 1 == blockCount ? 0 : state.block &+ 1
                    continue
                }
                state.framesLeft = count
                state.frame = block + Int(lana_tp3_block_first_offset(block))
            }

            let frame = state.frame.unsafelyUnwrapped
            // Only the header is read: the frame's bytes (written on the
            // CPU that received them) are fetched by whoever reads them, if
            // anyone does — a prefetch here would pull them for every frame.
            let header = lana_tp3_frame_read(frame)
            if !skipsOutgoing || header.pkttype != UInt8(PACKET_OUTGOING) {
                out[n] = PacketSocket.RingFrame(header: UnsafeRawPointer(frame))
                n &+= 1
            }
            state.framesLeft &-= 1
            if state.framesLeft == 0 {
                state.held &+= 1
                state.block = state.block &+ 1 == blockCount ? 0 : state.block &+ 1
                state.frame = nil
            } else {
                state.frame = frame + Int(header.next_offset)
            }
        }
        cursor.pointee = state
        return UnsafeBufferPointer(start: out, count: n)
    }

    /// See `PacketSocket.releaseFrames`.
    func releaseFrames() {
        let held = cursor.pointee.held
        if held == 0 { return }
        let base = region.base
        // Oldest first, the order the kernel will reuse them in.
        var index = cursor.pointee.block &- held
        if index < 0 { index &+= blockCount }
        var i = 0
        while i < held {
            lana_tp3_block_release(base + index &* blockSize)
            index = index &+ 1 == blockCount ? 0 : index &+ 1
            i &+= 1
        }
        cursor.pointee.held = 0
    }

    var hasPendingFrames: Bool {
        if cursor.pointee.framesLeft > 0 { return true }
        if cursor.pointee.held == blockCount { return false }
        let block = region.base + cursor.pointee.block * blockSize
        return lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0
    }
}
