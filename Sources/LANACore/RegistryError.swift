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

    /// Spelled out here rather than through LANAPosix's `Errno.symbolicName`,
    /// which the core does not depend on.
    public var description: String {
        let text = String(cString: lana_errno_text(errno.rawValue))
        let name = lana_errno_name(errno.rawValue).map { String(cString: $0) } ?? "E\(errno.rawValue)"
        return "\(text) (\(name)): \(message)"
    }
}
