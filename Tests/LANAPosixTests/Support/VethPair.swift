import Foundation
import LANAPosix
import LANATestSupport
import XCTest

/// Two fresh network namespaces joined by a veth pair (``VethNamespaces``:
/// IPv6 off, so every frame on the link is one the test sent), torn down
/// by `destroy()`.
final class VethPair: @unchecked Sendable {
    let tag: String
    /// Namespace and interface of side A (the side under test).
    let namespaceA: String
    let interfaceA: String
    /// Namespace and interface of the peer.
    let namespaceB: String
    let interfaceB: String
    private let namespaces: VethNamespaces

    init() throws {
        let tag = VethNamespaces.randomTag()
        let namespaces = try VethNamespaces(namespaceA: "lanatest-\(tag)-a", namespaceB: "lanatest-\(tag)-b")
        let link = try namespaces.addLink(a: "lt\(tag)a", b: "lt\(tag)b")
        self.tag = tag
        self.namespaces = namespaces
        namespaceA = namespaces.namespaceA
        namespaceB = namespaces.namespaceB
        interfaceA = link.a
        interfaceB = link.b
    }

    /// Deletes both namespaces (and with them the veth pair). Idempotent.
    func destroy() { namespaces.destroy() }

    /// Runs `body` on a new thread that has entered `namespace`, and waits
    /// for it. Sockets opened there stay in that namespace and can be used
    /// from any thread afterwards.
    func run<T: Sendable>(in namespace: String, _ body: @escaping @Sendable () throws -> T) throws -> T {
        try onThread {
            try NetworkNamespace.enter(name: namespace)
            return try body()
        }
    }

    func runA<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try run(in: namespaceA, body)
    }

    func runB<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try run(in: namespaceB, body)
    }
}

/// Runs `body` on a dedicated thread and returns its result; used for
/// anything that changes per-thread state (namespace, affinity, signal
/// mask) so the test runner's own threads are never affected.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        box.result = Result { try body() }
        done.signal()
    }
    thread.start()
    done.wait()
    return try box.result!.get()
}

final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs command-line tools the tests need (`ip`, `sysctl`).
enum Shell {
    struct Failure: Error, CustomStringConvertible {
        let command: [String]
        let status: Int32
        let output: String
        var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
    }

    static func run(_ arguments: String..., ignoringFailure: Bool = false) throws {
        try run(arguments, ignoringFailure: ignoringFailure)
    }

    static func run(_ arguments: [String], ignoringFailure: Bool = false) throws {
        let result = try execute(arguments)
        if result.status != 0 && !ignoringFailure {
            throw Failure(command: arguments, status: result.status, output: result.stdout + result.stderr)
        }
    }

    static func output(_ arguments: String...) throws -> String {
        let result = try execute(arguments)
        guard result.status == 0 else {
            throw Failure(command: arguments, status: result.status, output: result.stderr)
        }
        return result.stdout
    }

    /// Runs `arguments` through `env` with a fixed search path, bounded in time.
    private static func execute(_ arguments: [String]) throws -> ProgramResult {
        let result = try ChildProcess.run(["/usr/bin/env"] + arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        guard !result.timedOut else {
            throw Failure(command: arguments, status: result.status, output: "killed after 20 s")
        }
        return result
    }
}
