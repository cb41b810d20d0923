import CLANASupport
import Glibc

extension PacketSocket {
    /// One received frame, valid only inside the `receiveBurst` closure
    /// (or until ``releaseFrames()`` when read from a ``RingFrame``).
    public struct Frame {
        /// The frame as captured, starting at the Ethernet header, as it
        /// was on the wire.
        ///
        /// The kernel takes the outer 802.1Q/802.1ad tag out of a received
        /// frame before packet sockets see it; the reader puts it back
        /// (see ``takeFrames(max:)``), and reports it in `vlan` too.
        public let bytes: UnsafeRawBufferPointer
        /// The length on the wire (a restored tag included); larger than
        /// `bytes.count` only when the frame did not fit a ring block and
        /// was truncated.
        public let originalLength: Int
        public let packetType: PacketType
        /// The outer VLAN tag the kernel had taken out and the reader put
        /// back (the first tag in `bytes`), if the frame carried one.
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

    /// A frame in place in the receive ring: its TPACKET_V3 header, read
    /// only for the fields asked for. Valid until ``releaseFrames()``.
    public struct RingFrame {
        @usableFromInline let header: UnsafeRawPointer

        @inlinable
        init(header: UnsafeRawPointer) { self.header = header }

        /// The frame as captured, starting at the Ethernet header (see
        /// ``Frame/bytes``).
        @inlinable
        public var bytes: UnsafeRawBufferPointer {
            let h = lana_tp3_frame_read(header)
            return UnsafeRawBufferPointer(start: header + Int(h.mac), count: Int(h.snaplen))
        }

        /// Everything the ring reports about the frame.
        public var frame: Frame {
            let h = lana_tp3_frame_read(header)
            var vlan: VLANTag? = nil
            if h.status & UInt32(TP_STATUS_VLAN_VALID) != 0 {
                // Kernels before 4.1 report no TPID; those tags were 802.1Q.
                let hasTPID = h.status & UInt32(TP_STATUS_VLAN_TPID_VALID) != 0
                vlan = VLANTag(protocolID: hasTPID ? h.vlan_tpid : 0x8100, controlInformation: h.vlan_tci)
            }
            return Frame(
                bytes: UnsafeRawBufferPointer(start: header + Int(h.mac), count: Int(h.snaplen)),
                originalLength: Int(h.len), packetType: PacketType(rawValue: h.pkttype), vlan: vlan)
        }
    }

    /// The most frames one ``takeFrames(max:)`` hands out.
    public static var maximumBurst: Int { ReceiveRing.maximumBurst }

    /// Takes up to `max` (at most ``maximumBurst``) waiting frames, in
    /// arrival order, without copying them: 0 frames means the ring is
    /// empty and the engine may sleep in epoll on `descriptor`.
    ///
    /// A frame whose outer VLAN tag the kernel took out (802.1Q or
    /// 802.1ad, from a NIC's offload or the stack's own untagging) gets it
    /// back in place, in front of the EtherType, as libpcap does: the
    /// bytes handed out are the frame as it was on the wire. Should the
    /// ring leave no room for the tag in front of a frame (never for
    /// Ethernet), the frame is skipped and counted instead (see
    /// ``takeUnrestoredTags()``).
    ///
    /// Nothing is allocated and no system call is made. The frames stay in
    /// the ring, and valid, until ``releaseFrames()`` (or the next
    /// `takeFrames`, which releases them first) returns their blocks to the
    /// kernel. Release them once they are no longer needed (copied, or —
    /// as the eth block does, which hands them to the graph in place — the
    /// burst they went into is done), and always before sleeping: a block
    /// still held keeps the descriptor readable. A `takeFrames` that finds
    /// nothing has released them too. A burst may stop in the middle of a
    /// block; the next call continues there.
    ///
    ///     let frames = socket.takeFrames(max: 32)
    ///     for frame in frames { consume(frame.bytes) }
    ///     socket.releaseFrames()
    ///
    /// For the data path, ``takeFrames(max:_:)`` does the same in one loop
    /// with the caller's per-frame work, without the list.
    public func takeFrames(max: Int) -> UnsafeBufferPointer<RingFrame> {
        ring.takeFrames(max: max)
    }

    /// Hands up to `max` (at most ``maximumBurst``) waiting frames to
    /// `body`, in arrival order, and returns how many it handed out: the
    /// zero-copy receive of ``takeFrames(max:)`` without its list of frames.
    ///
    /// `body` gets each frame's ``RingFrame`` and its captured bytes (from
    /// the Ethernet header, as ``Frame/bytes``) as a start and a length.
    /// The walk is inlined into the caller together with `body`, so a
    /// source that turns frames into packets does it in the one loop that
    /// walks the ring. The frames stay valid, as with `takeFrames`, until
    /// ``releaseFrames()`` or the next take.
    @inlinable @inline(__always)
    public func takeFrames(max: Int, _ body: (_ frame: RingFrame, _ bytes: UnsafeMutableRawPointer,
                                               _ length: Int) -> Void) -> Int {
        ring.walk(max: max) { header, bytes, length in body(RingFrame(header: header), bytes, length) }
    }

    /// Tagged frames the takes since the last call skipped because the
    /// ring left no room to put their tag back, and their bytes on the
    /// wire; resets the counts. One load per call: a source asks once per
    /// burst.
    @inlinable
    public func takeUnrestoredTags() -> (frames: Int, bytes: Int) {
        ring.takeUnrestoredTags()
    }

    /// Returns the blocks of the frames the last ``takeFrames(max:)`` handed
    /// out to the kernel; those frames are invalid afterwards.
    public func releaseFrames() {
        ring.releaseFrames()
    }

    /// Hands up to `max` waiting frames to `body`, in arrival order, and
    /// returns how many it handed out: 0 means the ring is empty and the
    /// engine may sleep in epoll on `descriptor`.
    ///
    /// Built on ``takeFrames(max:)``: nothing is allocated, no system call
    /// is made, and the blocks go back to the kernel when the call returns,
    /// so `body` must copy whatever it keeps and must not receive on this
    /// socket itself. For the data path, prefer `takeFrames`.
    ///
    ///     let n = socket.receiveBurst(max: 32) { frame in
    ///         keep(Array(frame.bytes))
    ///     }
    public func receiveBurst(max: Int, _ body: (Frame) -> Void) -> Int {
        var total = 0
        while total < max {
            let frames = ring.takeFrames(max: max &- total)
            for f in frames { body(f.frame) }
            ring.releaseFrames()
            total &+= frames.count
            if frames.isEmpty { break }
        }
        return total
    }

    /// Whether the ring's reader skips outgoing frames itself because the
    /// kernel may put some in the ring (`ignoreOutgoing` was asked for, but
    /// PACKET_IGNORE_OUTGOING or, in a fanout group, the group's flag is
    /// missing). `false` when the kernel keeps them out, or when they were
    /// not to be ignored.
    public var skipsOutgoingFrames: Bool { ring.skipsOutgoing }

    /// Whether a frame is waiting, without consuming it: lets an engine
    /// choose between another burst and sleeping.
    public var hasPendingFrames: Bool { ring.hasPendingFrames }
}
