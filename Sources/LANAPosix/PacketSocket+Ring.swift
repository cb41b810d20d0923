// The TPACKET_V3 block walker: the only code that reads the receive ring.
//
// Invariants (unsafe code):
// - The ring is `blockCount` blocks of `blockSize` bytes at `ring.base`,
//   mapped for the lifetime of the socket. The kernel fills blocks in
//   index order, so the next block to read is always the one after the
//   last one returned.
// - A block belongs to user space from the moment its status has
//   TP_STATUS_USER (read with acquire, so its frames are visible) until we
//   store TP_STATUS_KERNEL (with release, after the last read of its
//   frames). While `cursor.framesLeft > 0` we own block `cursor.block` and
//   `cursor.frame` points at its next unread frame header.
// - Frame bytes are handed to the caller's closure only for the duration
//   of the call: the block may be returned to the kernel right after it.
// - `receiveBurst` is not reentrant: the closure must not call it on the
//   same socket.

import CLANASupport
import Glibc

/// Where the reader is in the ring.
struct RingCursor {
    var block = 0
    /// Frames not yet handed out in `block`; 0 means we own no block.
    var framesLeft: UInt32 = 0
    var frame: UnsafeMutableRawPointer? = nil
}

extension PacketSocket {
    /// One received frame, valid only inside the `receiveBurst` closure.
    public struct Frame {
        /// The frame as captured, starting at the Ethernet header.
        ///
        /// An 802.1Q tag is not in these bytes: the kernel strips it before
        /// packet sockets see the frame and reports it in `vlan`.
        public let bytes: UnsafeRawBufferPointer
        /// The length on the wire; larger than `bytes.count` only when the
        /// frame did not fit a ring block and was truncated.
        public let originalLength: Int
        public let packetType: PacketType
        /// The stripped VLAN tag, if the frame carried one.
        public let vlan: VLANTag?
    }

    /// Why the frame reached this host (`sll_pkttype`).
    public struct PacketType: RawRepresentable, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let host = PacketType(rawValue: UInt8(PACKET_HOST))
        public static let broadcast = PacketType(rawValue: UInt8(PACKET_BROADCAST))
        public static let multicast = PacketType(rawValue: UInt8(PACKET_MULTICAST))
        public static let otherHost = PacketType(rawValue: UInt8(PACKET_OTHERHOST))
        public static let outgoing = PacketType(rawValue: UInt8(PACKET_OUTGOING))
    }

    /// An 802.1Q/802.1ad tag: TPID and tag control information.
    public struct VLANTag: Sendable, Hashable {
        public let protocolID: UInt16
        public let controlInformation: UInt16
        public var identifier: UInt16 { controlInformation & 0x0FFF }
    }

    /// Hands up to `max` waiting frames to `body`, in arrival order, and
    /// returns how many it handed out (0 when the ring is empty: sleep in
    /// epoll on `descriptor` then).
    ///
    /// Nothing is allocated and no system call is made. A block is given
    /// back to the kernel as soon as its last frame has been handed out, so
    /// `body` must copy whatever it keeps. A burst may stop in the middle
    /// of a block; the next call continues there.
    public func receiveBurst(max: Int, _ body: (Frame) -> Void) -> Int {
        let base = ring.base
        let blockSize = configuration.ring.blockSize
        let blockCount = configuration.ring.blockCount
        let skipOutgoing = skipsOutgoingInReader
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
            if !(skipOutgoing && header.pkttype == UInt8(PACKET_OUTGOING)) {
                let hasVLAN = header.status & UInt32(TP_STATUS_VLAN_VALID) != 0
                let hasTPID = header.status & UInt32(TP_STATUS_VLAN_TPID_VALID) != 0
                body(Frame(
                    bytes: UnsafeRawBufferPointer(start: frame + Int(header.mac), count: Int(header.snaplen)),
                    originalLength: Int(header.len),
                    packetType: PacketType(rawValue: header.pkttype),
                    vlan: hasVLAN
                        ? VLANTag(protocolID: hasTPID ? header.vlan_tpid : 0x8100,
                                  controlInformation: header.vlan_tci)
                        : nil))
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

    /// Whether a frame is waiting, without consuming it: lets an engine
    /// decide between another burst and sleeping.
    public var hasPendingFrames: Bool {
        if cursor.pointee.framesLeft > 0 { return true }
        let block = ring.base + cursor.pointee.block * configuration.ring.blockSize
        return lana_tp3_block_status_acquire(block) & UInt32(TP_STATUS_USER) != 0
    }
}
