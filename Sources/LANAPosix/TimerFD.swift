import Glibc
import SystemPackage

/// A one-shot monotonic timer as a descriptor: it becomes readable when it
/// expires, so a thread sleeping in `poll` on it wakes up then. An engine
/// sleeps on the descriptors of its sources; a source with a deadline (an
/// address resolution that may time out) offers one of these.
///
/// Threading: `arm` and `disarm` may be called from any thread (the kernel
/// serializes them); another thread arming it with 0 delay wakes the owner.
public final class TimerFD: @unchecked Sendable {
    private let owner: OwnedDescriptor

    public var descriptor: FileDescriptor { owner.descriptor }

    public init() throws(Errno) {
        owner = OwnedDescriptor(adopting: try Syscall.timerFD())
    }

    /// Expires once, `nanoseconds` from now (at least 1 ns: 0 would disarm).
    /// Re-arming clears an expiration not yet seen.
    public func arm(afterNanoseconds nanoseconds: UInt64) {
        // Cannot fail for a valid descriptor and a positive time.
        try? Syscall.setTimer(descriptor, nanoseconds: Swift.max(nanoseconds, 1))
    }

    /// Stops the timer and clears an expiration not yet seen.
    public func disarm() {
        try? Syscall.setTimer(descriptor, nanoseconds: 0)
    }
}
