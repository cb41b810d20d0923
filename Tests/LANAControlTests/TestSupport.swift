import Foundation
import Glibc
import LANAControl
import LANAPosix
import Synchronization
import XCTest

/// A temporary directory, removed by `deinit`.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/lanactl.XXXXXX").utf8CString)
        guard let result = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: result)
        // Readable by an unprivileged test child.
        chmod(path, 0o755)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A real `ControlServer` on a socket in a temporary directory, running on
/// its own thread.
final class TestServer: @unchecked Sendable {
    let directory: TemporaryDirectory
    let server: ControlServer
    var socketPath: String { server.socketPath }
    /// Requests the handler saw, in order.
    let seen = Mutex<[Command]>([])
    let ticks = Atomic<Int>(0)
    private let finished = DispatchSemaphore(value: 0)
    private let runError = Mutex<ControlServerError?>(nil)

    init(
        configuration: ControlServer.Configuration = ControlServer.Configuration(policy: .allowAll),
        tickInterval: Duration? = nil,
        handler: (@Sendable (Command, PeerCredentials, ControlServer) -> ControlReply)? = nil
    ) throws {
        directory = try TemporaryDirectory()
        server = try ControlServer(socketPath: directory.path + "/control", configuration: configuration)
        let handler = handler ?? TestServer.standardHandler
        let thread = Thread { [self] in
            do {
                // The server on an event loop of the test's, which also runs
                // a timer, as the daemon's runs its periodic check.
                let loop = try EventLoop()
                if let tickInterval { loop.every(tickInterval) { self.ticks.add(1, ordering: .relaxed) } }
                try server.register(in: loop) { request, peer in
                    self.seen.withLock { $0.append(request) }
                    return handler(request, peer, self.server)
                }
                try loop.run()
            } catch {
                runError.withLock { $0 = error as? ControlServerError }
            }
            finished.signal()
        }
        thread.start()
    }

    /// Stops the server and waits for its thread.
    func stop(file: StaticString = #filePath, line: UInt = #line) {
        server.stop()
        XCTAssertEqual(finished.wait(timeout: .now() + 10), .success, "server thread did not stop", file: file, line: line)
        XCTAssertNil(runError.withLock { $0 }, file: file, line: line)
    }

    func client(timeout: Duration = .seconds(5)) throws -> ControlClient {
        try ControlClient(socketPath: socketPath, timeout: timeout)
    }

    /// A handler in the style of the daemon's, for the protocol's sake.
    static func standardHandler(_ request: Command, _ peer: PeerCredentials, _ server: ControlServer) -> ControlReply {
        switch request {
        case .graph(.add(let name, let type)):
            if name == "taken" { return .failure(.fileExists, "NAME taken: a block named taken already exists") }
            if name.utf8.count > 15 { return .failure(.invalidArgument, "NAME \(name): longer than 15 bytes") }
            server.broadcast(event: "added \(name) \(type)")
            return .ok
        case .list:
            return .ok(items: (1...3).map { .init(text: "b\($0) dummy \($0) 0\n", json: #"{"name":"b\#($0)","idp":\#($0)}"#) })
        case .show(let name):
            return .ok(text: "\(name) counter\n", json: #"{"name":"\#(name)"}"#)
        case .apply(let commands):
            if let bad = commands.firstIndex(of: .graph(.remove(name: "bad"))) {
                return .failure(.invalidArgument, "unknown block", command: UInt32(bad))
            }
            return .ok(text: "applied \(commands.count) commands\n")
        case .graph(.set(_, "sleep")):
            usleep(400_000)
            return .ok
        default:
            return .ok
        }
    }
}

/// A client that speaks raw bytes over SOCK_SEQPACKET, to send what
/// `ControlClient` never would.
final class RawClient {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno)!) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    @discardableResult
    func send(_ bytes: [UInt8], flags: Int32 = 0) -> Int {
        bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | flags) }
    }

    /// One datagram, or nil on timeout or end of stream.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 70_000)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer[..<count]) : nil
    }

    /// Datagrams up to and including the next NLMSG_ERROR.
    func receiveReply() -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        while let datagram = receive() {
            datagrams.append(datagram)
            if NetlinkHeader(parsing: datagram)?.type == 2 { break }
        }
        return datagrams
    }
}

/// The errno (positive) of an NLMSG_ERROR datagram.
func acknowledgedErrno(_ datagram: [UInt8]) -> Int32? {
    guard datagram.count >= 20, NetlinkHeader(parsing: datagram)?.type == 2 else { return nil }
    return -datagram.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: Int32.self) }
}
