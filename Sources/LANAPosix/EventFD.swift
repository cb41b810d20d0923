import CLANASupport
import Glibc
import SystemPackage

/// A kernel counter used as a doorbell: any thread `signal`s, the thread
/// sleeping in epoll on `descriptor` wakes up and `drain`s it.
///
/// This is how other threads wake the control thread's ``EventLoop`` and
/// the state writer without either polling a flag. Several signals before
/// a drain coalesce into one wake-up.
///
/// Threading: fully thread-safe (the kernel serializes the counter).
public final class EventFD: @unchecked Sendable {
    private let owner: OwnedDescriptor

    public var descriptor: FileDescriptor { owner.descriptor }

    /// A non-blocking eventfd: `drain` returns 0 instead of sleeping.
    public init(initialValue: UInt32 = 0) throws(Errno) {
        owner = OwnedDescriptor(adopting: try Syscall.eventFD(
            initialValue: initialValue, flags: CInt(EFD_NONBLOCK)))
    }

    /// Adds `count` to the counter, making the descriptor readable.
    ///
    /// A counter so full that the add would overflow (EAGAIN) is already
    /// readable, so that case is not an error for a doorbell.
    public func signal(_ count: UInt64 = 1) throws(Errno) {
        do {
            try Syscall.writeValue(descriptor, count)
        } catch where error == .resourceTemporarilyUnavailable {
            return
        }
    }

    /// Reads and resets the counter: the number of signals since the last
    /// drain, 0 if none.
    @discardableResult
    public func drain() throws(Errno) -> UInt64 {
        do {
            return try Syscall.readValue(descriptor, initial: UInt64(0))
        } catch where error == .resourceTemporarilyUnavailable {
            return 0
        }
    }
}
