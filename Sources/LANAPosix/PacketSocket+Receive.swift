import CLANASupport
import Glibc

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
    /// returns how many it handed out: 0 means the ring is empty and the
    /// engine may sleep in epoll on `descriptor`.
    ///
    /// Nothing is allocated and no system call is made. A block goes back
    /// to the kernel as soon as its last frame has been handed out, so
    /// `body` must copy whatever it keeps and must not call `receiveBurst`
    /// on this socket. A burst may stop in the middle of a block; the next
    /// call continues there.
    ///
    ///     let n = socket.receiveBurst(max: 32) { frame in
    ///         guard let buffer = pool.allocate() else { counters.poolEmpty += 1; return }
    ///         pool.copy(frame.bytes, into: buffer)
    ///         burst.append(buffer)
    ///     }
    public func receiveBurst(max: Int, _ body: (Frame) -> Void) -> Int {
        ring.receiveBurst(max: max, body)
    }

    /// Whether a frame is waiting, without consuming it: lets an engine
    /// choose between another burst and sleeping.
    public var hasPendingFrames: Bool { ring.hasPendingFrames }
}
