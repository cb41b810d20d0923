import CLANASupport
import Glibc
import Synchronization

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
