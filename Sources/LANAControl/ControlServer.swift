import Glibc
import LANAPosix
import Synchronization
import SystemPackage

/// Why the control server could not start or stopped with an error.
public enum ControlServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Another process listens on the socket path.
    case socketInUse(path: String)
    /// ``ControlServer/run(handler:)`` or ``ControlServer/register(in:handler:)``
    /// was called while the server was already running.
    case alreadyRunning
    /// A system call failed.
    case system(Errno, operation: String)

    public var description: String {
        switch self {
        case .socketInUse(let path): "another process is listening on \(path)"
        case .alreadyRunning: "the control server is already running"
        case .system(let errno, let operation): "\(operation): \(errno)"
        }
    }
}

/// The daemon's side of the control channel.
///
/// A server owns the listening socket and serves every client from one
/// thread, the one that runs its ``EventLoop`` (``register(in:handler:)``,
/// or ``run(handler:)`` with a loop of its own): the listener and every
/// client socket are registered there and none is waited on alone, so a client that vanishes, stops reading or sends garbage cannot
/// stall the others. Each peer is checked once, when it connects, against
/// the ``PeerPolicy``; a denied peer gets `EPERM` for every request.
///
/// The handler sees only well-formed requests from permitted peers, and
/// never WATCH, which the server handles itself. Other threads talk to the
/// control thread through ``broadcast(event:)``, ``execute(_:)`` and
/// ``stop()``, which queue work and wake it.
///
/// ```swift
/// let server = try ControlServer(socketPath: "/run/lana/control")
/// // elsewhere: server.broadcast(event: "bound a b"); server.stop()
/// try server.run { request, peer in
///     switch request {
///     case .graph(.add(let name, let type)): return registry.add(name, type: type)
///     default: return .failure(.notSupportedOnSocket, "not implemented")
///     }
/// }
/// ```
public final class ControlServer: Sendable {
    /// Limits and permissions of a server.
    public struct Configuration: Sendable {
        /// The socket file's mode (default 0660).
        public var mode: UInt32
        /// The group to give the socket file, if that group exists.
        public var groupName: String?
        /// Who may send requests.
        public var policy: PeerPolicy
        /// Connections served at once; more are accepted and closed at once.
        public var maximumClients: Int
        /// Events queued by ``broadcast(event:)`` and not yet sent; beyond
        /// that the oldest are dropped (and counted).
        public var maximumQueuedEvents: Int
        /// Event datagrams queued for one watcher that does not read; a
        /// watcher that falls this far behind is disconnected. (Replies are
        /// not counted: a client has at most one reply queued.)
        public var maximumQueuedDatagrams: Int

        public init(
            mode: UInt32 = 0o660,
            groupName: String? = "lana",
            policy: PeerPolicy = .rootOrGroup("lana"),
            maximumClients: Int = 256,
            maximumQueuedEvents: Int = 4_096,
            maximumQueuedDatagrams: Int = 4_096
        ) {
            self.mode = mode
            self.groupName = groupName
            self.policy = policy
            self.maximumClients = maximumClients
            self.maximumQueuedEvents = maximumQueuedEvents
            self.maximumQueuedDatagrams = maximumQueuedDatagrams
        }
    }

    /// The socket's path.
    public let socketPath: String
    /// The configuration the server was created with.
    public let configuration: Configuration

    let listener: UnixSeqpacketSocket
    /// Other threads ring it to hand the control thread work or a stop.
    let wakeup: EventFD
    private let fileIdentity: FileIdentity?

    struct Shared: ~Copyable {
        var events: [String] = []
        var droppedEvents = 0
        var tasks: [@Sendable () -> Void] = []
        var stopRequested = false
        var running = false
    }

    let shared = Mutex(Shared())
    /// Connections that sent WATCH, kept by the control thread. With none,
    /// ``broadcast(event:)`` has nobody to tell and returns at once, which
    /// spares every operation a wake-up of the control thread.
    let watcherCount = Atomic<Int>(0)

    /// Creates the socket at `socketPath` and starts listening.
    ///
    /// A stale socket file (one nobody listens on) is replaced. The file
    /// gets the configured mode and group before the first client can
    /// connect.
    ///
    /// - Throws: ``ControlServerError/socketInUse(path:)`` when a live server
    ///   owns the path.
    public init(socketPath: String, configuration: Configuration = Configuration()) throws(ControlServerError) {
        self.socketPath = socketPath
        self.configuration = configuration
        do throws(Errno) {
            wakeup = try EventFD()
        } catch {
            throw .system(error, operation: "creating an eventfd")
        }
        listener = try Self.bindReplacingStale(socketPath)
        fileIdentity = FileIdentity(path: socketPath)
        guard chmod(socketPath, mode_t(configuration.mode)) == 0 else {
            throw .system(Errno(rawValue: Glibc.errno), operation: "chmod \(socketPath)")
        }
        if let group = configuration.groupName, let gid = SystemGroups.groupID(named: group) {
            // Only root (or a member) can hand the file to the group; a
            // daemon that cannot still works for root and its own user.
            _ = chown(socketPath, uid_t.max, gid)
        }
        do throws(Errno) {
            try listener.listen(backlog: 64)
        } catch {
            throw .system(error, operation: "listen on \(socketPath)")
        }
    }

    deinit {
        // Remove the file only if it is still ours: a successor may have
        // replaced it.
        if let fileIdentity, FileIdentity(path: socketPath) == fileIdentity {
            _ = unlink(socketPath)
        }
    }

    private static func bindReplacingStale(_ path: String) throws(ControlServerError) -> UnixSeqpacketSocket {
        switch Result(catching: { () throws(Errno) in try UnixSeqpacketSocket.bind(to: path) }) {
        case .success(let socket): return socket
        case .failure(.addressInUse): break
        case .failure(let error): throw .system(error, operation: "bind \(path)")
        }
        // The path exists. Replace it only if it is a socket nobody serves:
        // the leftover of a daemon that did not exit cleanly.
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else {
            throw .system(.addressInUse, operation: "bind \(path) (exists and is not a socket)")
        }
        switch Result(catching: { () throws(Errno) in try UnixSeqpacketSocket.connect(to: path, timeout: .seconds(1)) }) {
        case .success: throw .socketInUse(path: path)
        case .failure(.connectionRefused): _ = unlink(path)
        case .failure(let error): throw .system(error, operation: "probing \(path)")
        }
        switch Result(catching: { () throws(Errno) in try UnixSeqpacketSocket.bind(to: path) }) {
        case .success(let socket): return socket
        case .failure(let error): throw .system(error, operation: "bind \(path)")
        }
    }

    // MARK: Other threads

    /// Pushes `event` to every connection that sent WATCH. Callable from any
    /// thread; the control thread sends it on its next turn.
    ///
    /// With no watcher connected the event is discarded at once, without
    /// waking the control thread or even making its text.
    ///
    /// Events that cannot be encoded (a NUL byte, over 65 000 bytes) and
    /// events beyond ``Configuration/maximumQueuedEvents`` are dropped and
    /// counted in ``droppedEventCount``.
    public func broadcast(event makeEvent: @autoclosure () -> String) {
        // Nobody to tell: the text is not even made.
        guard watcherCount.load(ordering: .acquiring) > 0 else { return }
        let event = makeEvent()
        shared.withLock { shared in
            if shared.events.count >= configuration.maximumQueuedEvents {
                shared.events.removeFirst()
                shared.droppedEvents += 1
            }
            shared.events.append(event)
        }
        try? wakeup.signal()
    }

    /// Runs `work` on the control thread on its next turn, in the order
    /// submitted. Callable from any thread.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        shared.withLock { $0.tasks.append(work) }
        try? wakeup.signal()
    }

    /// Stops the event loop the server is registered in (so ``run(handler:)``
    /// returns) after its current turn. Callable from any thread, also
    /// before the server is registered. A stopped server does not run again.
    public func stop() {
        shared.withLock { $0.stopRequested = true }
        try? wakeup.signal()
    }

    /// Events dropped so far because the queue was full or they could not
    /// be encoded.
    public var droppedEventCount: Int {
        shared.withLock { $0.droppedEvents }
    }
}

/// A file's device and inode, to recognise it later.
private struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init?(path: String) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }
}
