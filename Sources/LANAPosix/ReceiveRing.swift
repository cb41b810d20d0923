// The TPACKET_V3 block walker: the only code that reads a receive ring.
//
// Invariants (unsafe code):
// - The ring is `blockCount` blocks of `blockSize` bytes at `region.base`,
//   mapped for the lifetime of this value. The kernel fills blocks in index
//   order, so the next block to read is always the one after the last one
//   returned.
// - A block belongs to user space from the moment its status has
//   TP_STATUS_USER (read with acquire, so its frames are visible) until we
//   store TP_STATUS_KERNEL (with release, after the last read of its
//   frames). While `cursor.framesLeft > 0` we own block `cursor.block` and
//   `cursor.frame` points at its next unread frame header.
// - Frame bytes are handed to the caller's closure only for the duration
//   of the call: the block may be returned to the kernel right after it.
// - Not reentrant: the closure must not read the same ring. The cursor is
//   kept in a local during a burst and written back at the end.
// - `cursor` is allocated in `init` and freed in `deinit`, nowhere else.

import CLANASupport
import Glibc
import SystemPackage

/// Where the reader is in the ring.
struct RingCursor {
    var block = 0
    /// Frames not yet handed out in `block`; 0 means we own no block.
    var framesLeft: UInt32 = 0
    var frame: UnsafeMutableRawPointer? = nil
}

/// A mapped TPACKET_V3 receive ring and the reader's position in it.
///
/// The cursor lives behind a pointer so the per-frame loop pays no
/// exclusivity checks, which a `var` in the owning class would cost.
struct ReceiveRing: ~Copyable {
    private let region: MappedRegion
    private let cursor: UnsafeMutablePointer<RingCursor>
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
    }

    deinit {
        cursor.deinitialize(count: 1)
        cursor.deallocate()
    }

    /// See `PacketSocket.receiveBurst`.
    func receiveBurst(max: Int, _ body: (PacketSocket.Frame) -> Void) -> Int {
        let base = region.base
        var state = cursor.pointee
        var delivered = 0

        while delivered < max {
            if state.framesLeft == 0 {
                let block = base + state.block * blockSize
                guard lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0 else { break }
                let count = lana_tp3_block_num_packets(block)
                if count == 0 {
                    // Not produced by current kernels, but an empty block
                    // must still go back or the ring would stall on it.
                    lana_tp3_block_release(block)
                    state.block = state.block + 1 == blockCount ? 0 : state.block + 1
                    continue
                }
                state.framesLeft = count
                state.frame = block + Int(lana_tp3_block_first_offset(block))
            }

            let frame = state.frame.unsafelyUnwrapped
            let header = lana_tp3_frame_read(frame)
            if !(skipsOutgoing && header.pkttype == UInt8(PACKET_OUTGOING)) {
                body(PacketSocket.Frame(
                    bytes: UnsafeRawBufferPointer(start: frame + Int(header.mac), count: Int(header.snaplen)),
                    originalLength: Int(header.len),
                    packetType: PacketSocket.PacketType(rawValue: header.pkttype),
                    vlan: ReceiveRing.vlanTag(header)))
                delivered += 1
            }

            state.framesLeft -= 1
            if state.framesLeft == 0 {
                lana_tp3_block_release(base + state.block * blockSize)
                state.block = state.block + 1 == blockCount ? 0 : state.block + 1
                state.frame = nil
            } else {
                state.frame = frame + Int(header.next_offset)
            }
        }
        cursor.pointee = state
        return delivered
    }

    var hasPendingFrames: Bool {
        if cursor.pointee.framesLeft > 0 { return true }
        let block = region.base + cursor.pointee.block * blockSize
        return lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0
    }

    @inline(__always)
    private static func vlanTag(_ header: lana_tp3_frame) -> PacketSocket.VLANTag? {
        guard header.status & UInt32(TP_STATUS_VLAN_VALID) != 0 else { return nil }
        // Kernels before 4.1 report no TPID; those tags were 802.1Q.
        let hasTPID = header.status & UInt32(TP_STATUS_VLAN_TPID_VALID) != 0
        return PacketSocket.VLANTag(
            protocolID: hasTPID ? header.vlan_tpid : 0x8100, controlInformation: header.vlan_tci)
    }
}
