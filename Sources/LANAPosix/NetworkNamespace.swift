import CLANASupport
import Glibc
import SystemPackage

/// Network namespaces as `ip netns` manages them (`/var/run/netns/NAME`).
///
/// Entering a namespace changes only the calling thread, and a socket stays
/// in the namespace it was created in for its whole life. So the pattern
/// is: on a dedicated thread, `enter` the namespace, open the sockets,
/// hand them to whoever uses them (they work from any thread), and let the
/// thread end. Never enter a namespace from a thread you do not own (a
/// Swift concurrency executor's, or the main thread): everything that
/// thread does afterwards would silently happen in the other namespace.
public enum NetworkNamespace {
    /// Moves the calling thread into the named namespace. Requires
    /// CAP_SYS_ADMIN.
    public static func enter(name: String) throws(Errno) {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw Errno.invalidArgument
        }
        try enter(path: "/var/run/netns/" + name)
    }

    /// Moves the calling thread into the namespace at `path` (a bind mount
    /// from `ip netns`, or `/proc/PID/ns/net`).
    public static func enter(path: String) throws(Errno) {
        let namespace = OwnedDescriptor(adopting: try Syscall.open(path, flags: O_RDONLY))
        try Syscall.enterNetworkNamespace(namespace.descriptor)
    }
}
