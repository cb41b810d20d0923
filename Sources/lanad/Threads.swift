import CLANASupport
import Glibc
import Synchronization

/// Waits for blocked signals with `sigwait` on its own thread and calls
/// `onSignal`; stops when it returns `true`.
final class SignalWaiter: @unchecked Sendable {
    private let signals: sigset_t
    private let onSignal: (Int32) -> Bool

    init(signals: sigset_t, onSignal: @escaping (Int32) -> Bool) {
        self.signals = signals
        self.onSignal = onSignal
    }

    func start() {
        spawnDetached(named: "lana-signals") { [self] in
            var set = signals
            while true {
                var sig: Int32 = 0
                if sigwait(&set, &sig) != 0 { continue }
                if onSignal(sig) { return }
            }
        }
    }
}

/// Runs `body` every `interval` on its own thread until stopped.
final class PeriodicThread: @unchecked Sendable {
    private let name: String
    private let interval: Int32
    private let body: () -> Void
    private let stopFD: Int32
    private let done = Mutex(false)
    private var thread: pthread_t?

    init(named name: String, intervalMilliseconds: Int32, body: @escaping () -> Void) {
        self.name = name
        interval = intervalMilliseconds
        self.body = body
        stopFD = eventfd(0, Int32(EFD_CLOEXEC))
    }

    deinit { close(stopFD) }

    func start() {
        thread = spawn(named: name) { [self] in
            var p = pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, interval) == 0 || (p.revents == 0) {
                body()
            }
        }
    }

    func stop() {
        var one: UInt64 = 1
        _ = write(stopFD, &one, 8)
        if let t = thread { pthread_join(t, nil) }
        thread = nil
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// Starts a thread named `name` (what `top -H` and `ps -L` show; at most
/// 15 bytes) running `body`.
func spawn(named name: String, _ body: @escaping () -> Void) -> pthread_t {
    var tid = pthread_t()
    let box = Unmanaged.passRetained(ThreadBody({
        _ = lana_name_current_thread(name)
        body()
    })).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create: \(rc)")
    return tid
}

func spawnDetached(named name: String, _ body: @escaping () -> Void) {
    pthread_detach(spawn(named: name, body))
}
