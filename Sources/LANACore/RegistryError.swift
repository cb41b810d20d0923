import SystemPackage

/// A refused registry operation: an errno (what kind of refusal) and a
/// message naming the offending argument and what was expected.
///
/// Rendered by the tools as
/// `Device or resource busy (EBUSY): egress port of fb3 is already bound to fb7`.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public let errno: Errno
    public let message: String

    public init(_ errno: Errno, _ message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String {
        "\(errno.strerror) (\(errno.symbolicName)): \(message)"
    }
}

extension Errno {
    /// The C name of the error (`EBUSY`), for messages users can grep.
    public var symbolicName: String { errnoSymbol(rawValue) }

    /// The C library's text for the error (`Device or resource busy`).
    public var strerror: String { errnoText(rawValue) ?? description }
}

private func errnoSymbol(_ code: CInt) -> String {
        switch code {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case EIO: return "EIO"
        case E2BIG: return "E2BIG"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case ERANGE: return "ERANGE"
        case ENAMETOOLONG: return "ENAMETOOLONG"
        case ELOOP: return "ELOOP"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case ENOTCONN: return "ENOTCONN"
        case ETIMEDOUT: return "ETIMEDOUT"
        case ECONNREFUSED: return "ECONNREFUSED"
        case EAGAIN: return "EAGAIN"
        case ENXIO: return "ENXIO"
        case ENETDOWN: return "ENETDOWN"
        case EMSGSIZE: return "EMSGSIZE"
        case EPROTO: return "EPROTO"
        default: return "E\(code)"
        }
}

private func errnoText(_ code: CInt) -> String? {
        switch code {
        case EPERM: return "Operation not permitted"
        case ENOENT: return "No such file or directory"
        case EBUSY: return "Device or resource busy"
        case EEXIST: return "File exists"
        case ENODEV: return "No such device"
        case EINVAL: return "Invalid argument"
        case ENOSPC: return "No space left on device"
        case ELOOP: return "Too many levels of symbolic links"
        case EOPNOTSUPP: return "Operation not supported"
        default: return nil
        }
}

#if canImport(Glibc)
import Glibc
#endif
