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
// - `walk` is inlined into its callers (the eth block's source); what it
//   reads of the cursor and the geometry is `@usableFromInline` for that
//   alone, and only this file writes them.
// - Not reentrant, one thread at a time. During a walk the frame pointer
//   and count of the current block are kept in locals and written back
//   when the walk leaves the block or stops in it.
// - A frame whose VLAN tag the kernel took out has it put back in place
//   (frame bytes and header) before it is handed out, once: the walk
//   visits each frame once, and only while its block is ours.
// - `cursor` and `frames` are allocated in `init` and freed in `deinit`,
//   nowhere else.

import CLANASupport
import Glibc
import SystemPackage

/// Where the reader is in the ring.
@usableFromInline
struct RingCursor {
    @usableFromInline var block = 0
    /// Frames not yet handed out in `block`; 0 means we own no block.
    @usableFromInline var framesLeft: UInt32 = 0
    @usableFromInline var frame: UnsafeMutableRawPointer? = nil
    /// Walked blocks not yet returned to the kernel, ending before `block`.
    @usableFromInline var held = 0
    /// Whether the walk skips outgoing frames (see `ReceiveRing`).
    @usableFromInline var skipsOutgoing = false
    /// Tagged frames skipped since the owner last asked, because their
    /// tag could not be put back (see `ReceiveRing.restoreTag`).
    @usableFromInline var unrestoredTags = 0
    /// Their bytes on the wire (tag included).
    @usableFromInline var unrestoredBytes = 0

    @usableFromInline init() {}
}

/// A mapped TPACKET_V3 receive ring and the reader's position in it.
///
/// The cursor lives behind a pointer so the per-frame loop pays no
/// exclusivity checks, which a `var` in the owning class would cost.
@usableFromInline
struct ReceiveRing: ~Copyable {
    /// Frames one `takeFrames` hands out at most.
    @usableFromInline static let maximumBurst = 64

    private let region: MappedRegion
    @usableFromInline let base: UnsafeMutableRawPointer
    @usableFromInline let cursor: UnsafeMutablePointer<RingCursor>
    private let frames: UnsafeMutablePointer<PacketSocket.RingFrame>
    @usableFromInline let blockSize: Int
    @usableFromInline let blockCount: Int

    /// Maps the ring already configured (PACKET_RX_RING) on `socket`.
    init(socket: FileDescriptor, blockSize: Int, blockCount: Int, skipsOutgoing: Bool) throws(Errno) {
        self.region = try MappedRegion(socket: socket, length: blockSize * blockCount)
        self.base = region.base
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.cursor = .allocate(capacity: 1)
        self.cursor.initialize(to: RingCursor())
        self.cursor.pointee.skipsOutgoing = skipsOutgoing
        self.frames = .allocate(capacity: ReceiveRing.maximumBurst)
    }

    /// Set when the owner asked not to see outgoing frames and the kernel
    /// may still deliver some (no PACKET_IGNORE_OUTGOING, or a fanout
    /// member whose group lacks the flag that filters them): the walk then
    /// skips them.
    @usableFromInline var skipsOutgoing: Bool { cursor.pointee.skipsOutgoing }

    /// The owner learnt that the kernel filters outgoing frames after all
    /// (its fanout group took the flag). Only before the first walk.
    func stopSkippingOutgoing() {
        cursor.pointee.skipsOutgoing = false
    }

    deinit {
        cursor.deinitialize(count: 1)
        cursor.deallocate()
        frames.deallocate()
    }

    /// Hands up to `max` (at most ``maximumBurst``) waiting frames to
    /// `body` — each frame's header and its bytes as the ring holds them —
    /// and returns how many it handed out. Releases the frames of the last
    /// walk first. Inlined into the caller with `body`, so the caller's
    /// per-frame work and the walk are one loop (a source that turned
    /// frames into packets in a second loop over a list of headers read
    /// each header twice and paid two loops' bookkeeping).
    @inlinable @inline(__always)
    func walk(max requested: Int, _ body: (_ header: UnsafeRawPointer, _ bytes: UnsafeMutableRawPointer,
                                           _ length: Int) -> Void) -> Int {
        if cursor.pointee.held > 0 { releaseFrames() }
        var wanted = Swift.min(requested, ReceiveRing.maximumBurst)
        var n = 0
        // Block by block: the inner loop keeps only the frame pointer and
        // its count live, besides what `body` needs (with the whole cursor
        // live, the per-frame loop spilled it to the stack).
        while wanted > 0 {
            if cursor.pointee.framesLeft == 0 && !enterNextBlock() { break }
            let available = Int(cursor.pointee.framesLeft)
            let take = Swift.min(available, wanted)
            var frame = cursor.pointee.frame.unsafelyUnwrapped
            var skipped = 0
            // Two copies of the loop, so the common one tests nothing but
            // the count per frame.
            if skipsOutgoing {
                var i = take
                while i > 0 {
                    let header = lana_tp3_frame_read(frame)
                    if header.pkttype == UInt8(PACKET_OUTGOING) {
                        skipped &+= 1
                    } else if _fastPath(header.status & UInt32(TP_STATUS_VLAN_VALID) == 0) {
                        body(UnsafeRawPointer(frame), frame + Int(header.mac), Int(header.snaplen))
                    } else if restoreTag(frame) {
                        body(UnsafeRawPointer(frame), frame + (Int(header.mac) &- 4), Int(header.snaplen) &+ 4)
                    } else {
                        skipped &+= 1
                    }
                    frame += Int(header.next_offset)
                    i &-= 1
                }
            } else {
                var i = take
                while i > 0 {
                    // Only the header is read: the frame's bytes (written on
                    // the CPU that received them) are fetched by whoever
                    // reads them, if anyone does — a prefetch here would
                    // pull them for every frame.
                    let header = lana_tp3_frame_read(frame)
                    // A tagged frame costs an out-of-line call; an untagged
                    // one a test of the status word in the header line
                    // already read.
                    if _fastPath(header.status & UInt32(TP_STATUS_VLAN_VALID) == 0) {
                        body(UnsafeRawPointer(frame), frame + Int(header.mac), Int(header.snaplen))
                    } else if restoreTag(frame) {
                        body(UnsafeRawPointer(frame), frame + (Int(header.mac) &- 4), Int(header.snaplen) &+ 4)
                    } else {
                        skipped &+= 1
                    }
                    // The last frame's offset is 0; the pointer is then unused.
                    frame += Int(header.next_offset)
                    i &-= 1
                }
            }
            let handed = take &- skipped
            n &+= handed
            wanted &-= handed
            if take == available {
                leaveBlock()
            } else {
                cursor.pointee.framesLeft = UInt32(truncatingIfNeeded: available &- take)
                cursor.pointee.frame = frame
            }
        }
        return n
    }

    /// Puts back the VLAN tag the kernel took out of `frame` (see
    /// `lana_tp3_restore_vlan`), so the frame is handed out as it was on
    /// the wire: its bytes, and every count and filter after them. `false`
    /// when the ring's layout left no room for the tag in front of the
    /// frame; the frame is then skipped, not handed out short of its tag,
    /// and counted in `unrestoredTags`. (Ethernet frames always have the
    /// room: the kernel leaves 14 bytes there.)
    @usableFromInline @inline(never)
    func restoreTag(_ frame: UnsafeMutableRawPointer) -> Bool {
        if lana_tp3_restore_vlan(frame) != 0 { return true }
        cursor.pointee.unrestoredTags &+= 1
        cursor.pointee.unrestoredBytes &+= Int(lana_tp3_frame_read(frame).snaplen) &+ 4
        return false
    }

    /// Tagged frames skipped since the last call because their tag could
    /// not be put back, and their bytes; resets the counts.
    @inlinable
    func takeUnrestoredTags() -> (frames: Int, bytes: Int) {
        let n = cursor.pointee.unrestoredTags
        if _fastPath(n == 0) { return (0, 0) }
        let bytes = cursor.pointee.unrestoredBytes
        cursor.pointee.unrestoredTags = 0
        cursor.pointee.unrestoredBytes = 0
        return (n, bytes)
    }

    /// Makes the next block the current one if the kernel has handed it
    /// over; `false` if it has not (or every block is held). Empty blocks
    /// are passed over. Once per block: kept out of line.
    @usableFromInline @inline(never)
    func enterNextBlock() -> Bool {
        while true {
            // Every block is held: the next one is the oldest of them.
            if cursor.pointee.held == blockCount { return false }
            let block = base + cursor.pointee.block &* blockSize
            guard lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0 else { return false }
            let count = lana_tp3_block_num_packets(block)
            if count != 0 {
                cursor.pointee.framesLeft = count
                cursor.pointee.frame = block + Int(lana_tp3_block_first_offset(block))
                return true
            }
            // Not produced by current kernels, but an empty block must
            // still go back or the ring would stall on it.
            leaveBlock()
        }
    }

    /// Holds the current block, every frame of it handed out, and moves
    /// on to the next.
    @usableFromInline @inline(never)
    func leaveBlock() {
        cursor.pointee.framesLeft = 0
        cursor.pointee.frame = nil
        cursor.pointee.held &+= 1
        cursor.pointee.block = cursor.pointee.block &+ 1 == blockCount ? 0 : cursor.pointee.block &+ 1
    }

    /// See `PacketSocket.takeFrames`.
    func takeFrames(max requested: Int) -> UnsafeBufferPointer<PacketSocket.RingFrame> {
        let out = frames
        var i = 0
        let n = walk(max: requested) { header, _, _ in
            out[i] = PacketSocket.RingFrame(header: header)
            i &+= 1
        }
        return UnsafeBufferPointer(start: out, count: n)
    }

    /// See `PacketSocket.releaseFrames`.
    @usableFromInline
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
