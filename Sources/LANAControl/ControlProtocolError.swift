import CNetlink
import SystemPackage

/// A message that cannot be built or cannot be accepted.
///
/// The error carries the `errno` the daemon answers with and a message that
/// names what was wrong and what was expected; the server sends both back as
/// the `NLMSG_ERROR` code and its extended-ack text. Malformed input maps to
/// `EINVAL`; a command or version this implementation does not know maps to
/// `EOPNOTSUPP`.
public struct ControlProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The errno a peer is told.
    public var errno: Errno

    /// What was wrong, naming the offending part of the message.
    public var message: String

    /// When libnl reported the failure: its (positive) `NLE_*` code. The
    /// message then includes libnl's own text from `nl_geterror`.
    public var libnlCode: Int32?

    public init(errno: Errno, message: String, libnlCode: Int32? = nil) {
        self.errno = errno
        self.message = message
        self.libnlCode = libnlCode
    }

    /// A malformed message: `EINVAL`.
    public static func malformed(_ message: String) -> ControlProtocolError {
        ControlProtocolError(errno: .invalidArgument, message: message)
    }

    /// A command or protocol version this implementation does not know:
    /// `EOPNOTSUPP`.
    public static func unsupported(_ message: String) -> ControlProtocolError {
        ControlProtocolError(errno: .notSupportedOnSocket, message: message)
    }

    /// A failure reported by libnl as a negative `NLE_*` code.
    ///
    /// - Parameters:
    ///   - code: The value libnl returned, negative or positive.
    ///   - context: What was being done, e.g. "adding attribute NAME".
    public init(libnl code: Int32, while context: String) {
        let positive = code < 0 ? -code : code
        let text = String(cString: nl_geterror(positive))
        self.init(
            errno: Self.errno(forLibnl: positive),
            message: "\(context): \(text) (libnl error \(positive))",
            libnlCode: positive)
    }

    public var description: String { "\(errno) (\(errno.rawValue)): \(message)" }

    /// The closest errno to a libnl error, so a daemon that hits one still
    /// answers with something a client can act on.
    static func errno(forLibnl code: Int32) -> Errno {
        switch Int(code) {
        case Int(NLE_NOMEM): .noMemory
        case Int(NLE_RANGE): .outOfRange
        case Int(NLE_MSGSIZE): .messageTooLong
        case Int(NLE_OPNOTSUPP): .notSupportedOnSocket
        default: .invalidArgument  // NLE_INVAL, NLE_MSG_TOOSHORT, …: the input was bad
        }
    }
}

/// The fixed header of a netlink message (`struct nlmsghdr`), read from a
/// datagram without trusting it.
public struct NetlinkHeader: Hashable, Sendable {
    /// `nlmsg_len`: the message's length including this header.
    public var length: UInt32
    /// `nlmsg_type`: ``ControlProtocol/familyID`` or a netlink control type.
    public var type: UInt16
    /// `nlmsg_flags`.
    public var flags: UInt16
    /// `nlmsg_seq`: chosen by the client, echoed in every part of the reply.
    public var sequence: UInt32
    /// `nlmsg_pid`: the sender's port; clients put their process id.
    public var port: UInt32

    public init(length: UInt32, type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32) {
        self.length = length
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.port = port
    }

    /// The size of `struct nlmsghdr` on the wire.
    public static let size = NetlinkConstant.headerSize

    /// Reads the header at the start of `bytes`, or returns `nil` when there
    /// are fewer than ``size`` bytes. Nothing else is checked: a server uses
    /// this to echo the sequence number of a message it then refuses.
    public init?(parsing bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= Self.size else { return nil }
        self.init(
            length: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self),
            type: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self),
            flags: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self),
            sequence: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self),
            port: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    }

    /// Reads the header at the start of `bytes`; see ``init(parsing:)-(UnsafeRawBufferPointer)``.
    public init?(parsing bytes: [UInt8]) {
        guard let header = bytes.withUnsafeBytes({ NetlinkHeader(parsing: $0) }) else { return nil }
        self = header
    }
}
