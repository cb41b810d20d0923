import CLANASupport
import Glibc
import Synchronization

/// Closes file descriptors on a thread of its own, in batches.
///
/// The control thread keeps each replaced version of `fblocks` open until
/// its reply is out (see `PreparedStateFile`); the `close` that then frees
/// the inode costs several microseconds, which would delay the next request
/// of a busy client. Here those descriptors are collected and closed on
/// this thread, woken once per ``batch`` descriptors, so the control thread
/// pays one wake-up per batch, not a close per operation. Fewer than
/// ``batch`` descriptors wait (far below any descriptor limit) and an idle
/// daemon never wakes this thread.
final class DescriptorCloser: @unchecked Sendable {
    static let batch = 32

    /// What the closing thread sees; it does not keep the closer alive.
    private final class Shared: @unchecked Sendable {
        let pending = Mutex<[Int32]>([])
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC))
        let stopping = Atomic<Bool>(false)

        func signal() {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }

        func run() {
            var p = pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)
            while !stopping.load(ordering: .acquiring) {
                if poll(&p, 1, -1) > 0 {
                    var value: UInt64 = 0
                    _ = read(wakeFD, &value, 8)
                }
                closeAll()
            }
            closeAll()
        }

        func closeAll() {
            let batch = pending.withLock { p in
                defer { p.removeAll(keepingCapacity: true) }
                return p
            }
            for fd in batch { Glibc.close(fd) }
        }

        deinit { Glibc.close(wakeFD) }
    }

    private let shared = Shared()
    private let thread: pthread_t

    init() {
        thread = spawn(named: "lana-closer") { [shared] in shared.run() }
    }

    deinit {
        shared.stopping.store(true, ordering: .releasing)
        shared.signal()
        pthread_join(thread, nil)
    }

    /// Queues `descriptors` to be closed soon.
    func close(_ descriptors: [Int32]) {
        guard !descriptors.isEmpty else { return }
        let full = shared.pending.withLock { p in
            p.append(contentsOf: descriptors)
            return p.count >= Self.batch
        }
        if full { shared.signal() }
    }
}
