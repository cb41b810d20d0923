import Glibc
import SystemPackage

/// Why a control request did not produce a reply.
///
/// A reply that refuses the request (`EEXIST`, `ENOENT`, …) is not an
/// error here: it is a ``ControlReply`` with ``ControlReply/error`` set.
public enum ControlClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Nothing listens at the socket (`ENOENT`, `ECONNREFUSED`, `ENOTDIR`):
    /// the daemon is not running or uses another run directory. Tools exit
    /// with status 3.
    case daemonNotReachable(socketPath: String, errno: Errno)
    /// No complete reply arrived within the client's timeout.
    case timedOut(Duration)
    /// The daemon closed the connection before the reply was complete.
    case disconnected
    /// The request cannot be encoded (a field does not fit its command or
    /// the policy); nothing was sent.
    case invalidRequest(ControlProtocolError)
    /// The daemon sent something that is not a valid reply.
    case invalidReply(ControlProtocolError)
    /// The daemon refused a WATCH.
    case refused(errno: Errno, message: String?)
    /// A system call failed.
    case system(Errno, operation: String)

    public var description: String {
        switch self {
        case .daemonNotReachable(let path, let errno):
            "is lanad running? socket \(path) (\(errno))"
        case .timedOut(let timeout):
            "no reply from lanad within \(timeout)"
        case .disconnected:
            "lanad closed the connection"
        case .invalidRequest(let error):
            "invalid request: \(error.message)"
        case .invalidReply(let error):
            "invalid reply from lanad: \(error.message)"
        case .refused(let errno, let message):
            "refused: \(errno)" + (message.map { ": \($0)" } ?? "")
        case .system(let errno, let operation):
            "\(operation): \(errno)"
        }
    }
}

/// A connection to the daemon's control socket.
///
/// Requests go out one at a time: ``send(_:)`` blocks until the reply is
/// complete or the timeout expires. A client is meant for one thread.
///
/// ```swift
/// let client = try ControlClient(socketPath: "/run/lana/control")
/// let reply = try client.send(.add(name: "c1", type: "counter"))
/// if let error = reply.error { print("\(error): \(reply.message ?? "")") }
/// ```
public final class ControlClient {
    /// The path connected to.
    public let socketPath: String
    /// How long ``send(_:)`` waits for a complete reply.
    public let timeout: Duration
    /// How long ``send(_:)`` polls for the reply before it sleeps in the
    /// kernel (default ``defaultSpin``, at most ``timeout``; `.zero` sleeps
    /// at once).
    public let spin: Duration
    /// Long enough for most replies (they come within tens of microseconds),
    /// short enough that a slow one costs little CPU.
    public static let defaultSpin = Duration.microseconds(200)

    private let socket: UnixSeqpacketSocket
    private var nextSequence: UInt32 = 1
    private var buffer = [UInt8](repeating: 0, count: ControlProtocol.maximumDatagramSize)
    private let port = UInt32(bitPattern: getpid())

    /// Connects to the daemon.
    ///
    /// - Parameters:
    ///   - socketPath: The control socket, `<run-dir>/control`.
    ///   - timeout: Bound on connecting and on each request (default 5 s).
    ///   - spin: How long each request polls for its reply before sleeping
    ///     (see ``spin``).
    /// - Throws: ``ControlClientError/daemonNotReachable(socketPath:errno:)``
    ///   when nothing listens there.
    public init(
        socketPath: String, timeout: Duration = .seconds(5), spin: Duration = ControlClient.defaultSpin
    ) throws(ControlClientError) {
        self.socketPath = socketPath
        self.timeout = timeout
        self.spin = min(spin, timeout)
        do throws(Errno) {
            socket = try UnixSeqpacketSocket.connect(to: socketPath, timeout: timeout)
        } catch {
            switch error {
            case .noSuchFileOrDirectory, .connectionRefused, .notDirectory:
                throw .daemonNotReachable(socketPath: socketPath, errno: error)
            case .wouldBlock, .resourceTemporarilyUnavailable:
                throw .timedOut(timeout)
            default:
                throw .system(error, operation: "connecting to \(socketPath)")
            }
        }
    }

    /// Sends `request` and waits for its complete reply.
    ///
    /// Events that arrive meanwhile on a connection that sent WATCH are
    /// dropped; use ``watch(_:)`` to receive them.
    public func send(_ request: Command) throws(ControlClientError) -> ControlReply {
        let sequence = nextSequence
        nextSequence = nextSequence == UInt32.max ? 1 : nextSequence + 1
        let datagram: [UInt8]
        do throws(ControlProtocolError) {
            datagram = try request.encode(sequence: sequence, port: port)
        } catch {
            throw .invalidRequest(error)
        }
        try transmit(datagram)
        var decoder = ControlReplyDecoder(sequence: sequence, command: request.wireCommand)
        let deadline = ContinuousClock.now + timeout
        if let reply = try spinForReply(into: &decoder) { return reply }
        while true {
            if case .reply(let reply) = try receive(into: &decoder, deadline: deadline, nonBlocking: false) {
                return reply
            }
        }
    }

    /// Subscribes this connection to the daemon's events and calls
    /// `onEvent` with each one, as one line of text, until it returns
    /// `false`.
    ///
    /// Waits without a timeout once the daemon has accepted the WATCH.
    ///
    /// - Throws: ``ControlClientError/refused(errno:message:)`` if the daemon
    ///   refuses; ``ControlClientError/disconnected`` when it closes the
    ///   connection (it shut down, or this client fell too far behind).
    public func watch(_ onEvent: (String) -> Bool) throws(ControlClientError) {
        let reply = try send(.watch)
        if let error = reply.error { throw .refused(errno: error, message: reply.message) }
        do throws(Errno) {
            try socket.setReceiveTimeout(nil)
        } catch {
            throw .system(error, operation: "clearing the receive timeout")
        }
        var decoder = ControlReplyDecoder(sequence: 0, command: .watch)
        while true {
            if case .event(let event) = try receive(into: &decoder, deadline: nil, nonBlocking: false), !onEvent(event) {
                return
            }
        }
    }

    private func transmit(_ datagram: [UInt8]) throws(ControlClientError) {
        let result: UnixSeqpacketSocket.SendResult
        do throws(Errno) {
            result = try socket.send(datagram)
        } catch {
            switch error {
            case .brokenPipe, .connectionReset: throw .disconnected
            default: throw .system(error, operation: "sending a request")
            }
        }
        // A blocking socket reports an expired SO_SNDTIMEO as EAGAIN.
        if case .wouldBlock = result { throw .timedOut(timeout) }
    }

    /// Polls for the reply without sleeping for up to ``spin``: most replies
    /// come within tens of microseconds, less than a sleep and wake-up
    /// costs on a virtual machine. Returns `nil` when the reply is not
    /// complete by then.
    private func spinForReply(into decoder: inout ControlReplyDecoder) throws(ControlClientError) -> ControlReply? {
        guard spin > .zero else { return nil }
        let until = ContinuousClock.now + spin
        repeat {
            if case .reply(let reply)? = try receive(into: &decoder, deadline: nil, nonBlocking: true) {
                return reply
            }
            // Lets a thread of the daemon that shares this core run.
            sched_yield()
        } while ContinuousClock.now < until
        return nil
    }

    /// Receives one datagram and feeds it to `decoder`; with `nonBlocking`,
    /// `nil` when none is waiting.
    private func receive(
        into decoder: inout ControlReplyDecoder, deadline: ContinuousClock.Instant?, nonBlocking: Bool
    ) throws(ControlClientError) -> ControlReplyDecoder.Output? {
        let result: UnixSeqpacketSocket.ReceiveResult
        do throws(Errno) {
            result = try socket.receive(into: &buffer, nonBlocking: nonBlocking)
        } catch {
            switch error {
            case .connectionReset: throw .disconnected
            default: throw .system(error, operation: "receiving a reply")
            }
        }
        switch result {
        case .wouldBlock:
            if nonBlocking { return nil }
            throw .timedOut(timeout)
        case .empty:
            throw .disconnected
        case .datagram(let length):
            guard length <= buffer.count else {
                throw .invalidReply(.malformed("reply datagram of \(length) bytes exceeds \(buffer.count)"))
            }
            if let deadline, ContinuousClock.now > deadline { throw .timedOut(timeout) }
            let output = buffer.withUnsafeBytes { bytes in
                Result { () throws(ControlProtocolError) in
                    try decoder.decode(UnsafeRawBufferPointer(rebasing: bytes[..<length]))
                }
            }
            switch output {
            case .success(let output): return output
            case .failure(let error): throw .invalidReply(error)
            }
        }
    }
}
