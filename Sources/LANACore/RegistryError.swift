import CLANASupport
import SystemPackage

/// A refused registry operation: an errno (what kind of refusal) and a
/// message naming the offending argument and what was expected.
///
/// Rendered by the tools as
/// `Device or resource busy (EBUSY): port down of fb3 is already bound to fb7`.
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
    public var symbolicName: String {
        lana_errno_name(rawValue).map { String(cString: $0) } ?? "E\(rawValue)"
    }

    /// The C library's text for the error (`Device or resource busy`).
    public var strerror: String { String(cString: lana_errno_text(rawValue)) }
}
