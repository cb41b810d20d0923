import CLANASupport
import Glibc
import SystemPackage

/// Signals (SIGTERM, SIGINT, SIGHUP, ...) delivered as readable data on a
/// descriptor, so a daemon handles them in its poll loop like any other
/// event instead of in an async-signal handler where almost nothing is
/// allowed.
///
/// A signal only queues on the descriptor if no thread would otherwise
/// take it, so the signals must be blocked in *every* thread: call
/// `blockInCurrentThread` at the top of `main`, before any thread is
/// created (threads inherit the mask), then create the `SignalFD`.
///
/// Threading: read it from one thread.
public final class SignalFD: @unchecked Sendable {
    private let owner: OwnedDescriptor
    public let signals: [CInt]

    public var descriptor: FileDescriptor { owner.descriptor }

    /// Blocks `signals` in the calling thread, and so in every thread it
    /// creates afterwards.
    public static func blockInCurrentThread(_ signals: [CInt]) throws(Errno) {
        try Syscall.blockSignals(signalSet(signals))
    }

    /// A non-blocking signalfd for `signals` (which must already be blocked,
    /// see `blockInCurrentThread`).
    public init(signals: [CInt]) throws(Errno) {
        self.owner = OwnedDescriptor(adopting: try Syscall.signalFD(
            SignalFD.signalSet(signals), flags: CInt(SFD_NONBLOCK)))
        self.signals = signals
    }

    /// The next pending signal number, or nil when none is pending.
    public func next() throws(Errno) -> CInt? {
        do {
            return CInt(try Syscall.readValue(descriptor, initial: signalfd_siginfo()).ssi_signo)
        } catch where error == .resourceTemporarilyUnavailable {
            return nil
        }
    }

    private static func signalSet(_ signals: [CInt]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        return set
    }
}
