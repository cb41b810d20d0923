import Glibc
import LANAPosix

private protocol Runnable: AnyObject { func run() }

private final class NamespaceTask<T>: Runnable, @unchecked Sendable {
    let name: String
    let body: () throws -> T
    var result: Result<T, any Error>?
    init(name: String, body: @escaping () throws -> T) { self.name = name; self.body = body }
    func run() {
        do {
            try NetworkNamespace.enter(name: name)
            result = Result { try body() }
        } catch {
            result = .failure(error)
        }
    }
}

/// Runs `body` on a new thread that first moves into network namespace
/// `name`, and returns its result. Sockets opened there stay in that
/// namespace and can be used from any thread; the test's own threads
/// never change namespace (the thread ends right after `body`).
func inNamespace<T>(_ name: String, _ body: @escaping () throws -> T) throws -> T {
    let task = NamespaceTask(name: name, body: body)
    var tid = pthread_t()
    let arg = Unmanaged.passRetained(task as AnyObject).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        let object = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue()
        (object as! any Runnable).run()
        return nil
    }, arg)
    precondition(rc == 0, "pthread_create: \(rc)")
    pthread_join(tid, nil)
    return try task.result!.get()
}
