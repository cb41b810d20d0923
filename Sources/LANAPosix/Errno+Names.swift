import CLANASupport
import SystemPackage

extension Errno {
    /// The C name of the error (`EBUSY`), for messages users can grep.
    public var symbolicName: String {
        lana_errno_name(rawValue).map { String(cString: $0) } ?? "E\(rawValue)"
    }

    /// The C library's text for the error (`Device or resource busy`).
    public var strerror: String { String(cString: lana_errno_text(rawValue)) }
}
