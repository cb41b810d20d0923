import SystemPackage

/// One client of the control server, as the control thread sees it: its
/// socket, who it is, whether it watches events, and the datagrams that did
/// not fit its socket buffer yet.
///
/// Only the control thread touches a connection.
final class ControlConnection {
    let socket: UnixSeqpacketSocket
    let peer: PeerCredentials
    /// The policy's verdict, taken once at accept time.
    let decision: PeerPolicy.Decision
    /// Set once the client sent WATCH: it then receives every broadcast.
    var isWatching = false
    private(set) var isClosed = false

    private var queue: [[UInt8]] = []
    private var queueHead = 0

    init(socket: UnixSeqpacketSocket, peer: PeerCredentials, decision: PeerPolicy.Decision) {
        self.socket = socket
        self.peer = peer
        self.decision = decision
    }

    /// Whether datagrams wait for the socket to become writable.
    var hasQueuedOutput: Bool { queueHead < queue.count }

    /// Queues the datagrams of one reply. Not bounded here: the server reads
    /// no further request from a client while a reply is queued, so a client
    /// holds at most one reply however large a dump is.
    func enqueue(_ datagrams: [[UInt8]]) {
        guard !isClosed else { return }
        queue.append(contentsOf: datagrams)
    }

    /// Queues an event; a watcher with more than `limit` unsent datagrams has
    /// stopped reading and is disconnected rather than buffered without bound.
    func enqueueEvent(_ datagram: [UInt8], limit: Int) {
        guard !isClosed else { return }
        queue.append(datagram)
        if queue.count - queueHead > limit { close() }
    }

    /// Sends queued datagrams until the socket would block.
    func flush() {
        while !isClosed && queueHead < queue.count {
            let result: UnixSeqpacketSocket.SendResult
            do throws(Errno) {
                result = try socket.send(queue[queueHead])
            } catch {
                // EPIPE, ECONNRESET: the client left without its reply.
                close()
                return
            }
            guard case .sent = result else { break }
            queueHead += 1
        }
        if queueHead == queue.count {
            queue.removeAll(keepingCapacity: queue.count <= 64)
            queueHead = 0
        } else if queueHead > 1024 {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }

    /// Drops queued output and marks the connection for removal; the socket
    /// closes when the control thread lets go of the connection.
    func close() {
        isClosed = true
        queue = []
        queueHead = 0
    }
}
