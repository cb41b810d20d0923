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
