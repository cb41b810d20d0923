import Glibc
import LANAPosix
import Synchronization
import SystemPackage

extension ControlServer {
    /// Serves clients on the calling thread, on an event loop of its own,
    /// until ``stop()``.
    ///
    /// - Parameter handler: Answers one request; runs on this thread, one
    ///   request at a time. It may call ``broadcast(event:)``; those events
    ///   go out after its reply.
    public func run(handler: @escaping (Command, PeerCredentials) -> ControlReply) throws(ControlServerError) {
        let loop: EventLoop
        do throws(Errno) { loop = try EventLoop() } catch { throw .system(error, operation: "creating an event loop") }
        try register(in: loop, handler: handler)
        defer { shared.withLock { $0.running = false } }
        do throws(Errno) { try loop.run() } catch { throw .system(error, operation: "epoll_wait") }
    }

    /// Serves clients from `loop`, on its thread: registers the listening
    /// socket and the server's wake-up now, and each client as it connects.
    /// ``stop()`` stops `loop`. The clients are closed when the loop goes
    /// away.
    ///
    /// - Parameter handler: As for ``run(handler:)``.
    public func register(in loop: EventLoop,
                         handler: @escaping (Command, PeerCredentials) -> ControlReply) throws(ControlServerError) {
        let alreadyRunning = shared.withLock { shared in
            defer { shared.running = true }
            return shared.running
        }
        guard !alreadyRunning else { throw .alreadyRunning }
        let session = ServerSession(server: self, loop: loop, handler: handler)
        do throws(Errno) {
            try loop.register(wakeup.descriptor, events: .readable) { [session] _ in session.wokenUp() }
            try loop.register(FileDescriptor(rawValue: listener.descriptor), events: .readable) { [session] _ in
                session.acceptPending()
            }
        } catch {
            throw .system(error, operation: "registering the control socket")
        }
        // A stop requested before this: its wake-up may have been consumed.
        if shared.withLock({ $0.stopRequested }) { loop.stop() }
    }
}

/// The control thread's state: the clients and what is queued for them.
/// Only the handlers the server registered in its event loop reach it,
/// so no other thread can.
final class ServerSession {
    let server: ControlServer
    /// The loop owns the session (through the handlers it holds), not the
    /// other way round.
    unowned let loop: EventLoop
    let handler: (Command, PeerCredentials) -> ControlReply
    /// By descriptor.
    var clients: [Int32: ControlConnection] = [:]
    /// What each client is watched for: readable, or writable while output
    /// is queued.
    var watchingOutput: Set<Int32> = []
    var listenerPaused = false
    var buffer = [UInt8](repeating: 0, count: ControlProtocol.maximumDatagramSize)

    init(server: ControlServer, loop: EventLoop, handler: @escaping (Command, PeerCredentials) -> ControlReply) {
        self.server = server
        self.loop = loop
        self.handler = handler
    }

    private static let readable: Epoll.Events = [.readable, .readHangUp]

    /// Another thread queued work or events, or asked the server to stop.
    func wokenUp() {
        _ = try? server.wakeup.drain()
        if !runQueuedWork() { loop.stop() }
    }

    /// After a client was served or sent to: watch it for what it needs
    /// next, or let it go.
    private func settle(_ client: ControlConnection) {
        let fd = client.socket.descriptor
        if client.isClosed {
            loop.unregister(FileDescriptor(rawValue: fd))
            watchingOutput.remove(fd)
            if clients.removeValue(forKey: fd)?.isWatching == true { updateWatcherCount() }
            return
        }
        let wantsOutput = client.hasQueuedOutput
        guard wantsOutput != watchingOutput.contains(fd) else { return }
        if wantsOutput { watchingOutput.insert(fd) } else { watchingOutput.remove(fd) }
        do throws(Errno) {
            try loop.modify(FileDescriptor(rawValue: fd), events: wantsOutput ? .writable : Self.readable)
        } catch {
            client.close()
            settle(client)
        }
    }

    private func updateWatcherCount() {
        server.watcherCount.store(clients.values.count { $0.isWatching }, ordering: .releasing)
    }

    /// Runs tasks queued by `execute` and sends queued events; `false` if a
    /// stop was requested.
    private func runQueuedWork() -> Bool {
        let (tasks, events, stop) = server.shared.withLock { shared in
            defer {
                shared.tasks.removeAll()
                shared.events.removeAll()
            }
            return (shared.tasks, shared.events, shared.stopRequested)
        }
        if stop { return false }
        for task in tasks { task() }
        guard !events.isEmpty else { return true }
        let watchers = clients.values.filter { $0.isWatching && !$0.isClosed }
        var dropped = 0
        for event in events {
            guard let datagram = try? ControlProtocol.encodeEvent(event) else {
                dropped += 1
                continue
            }
            for watcher in watchers where !watcher.isClosed {
                watcher.enqueueEvent(datagram, limit: server.configuration.maximumQueuedDatagrams)
            }
        }
        for watcher in watchers {
            watcher.flush()
            settle(watcher)
        }
        if dropped > 0 { server.shared.withLock { $0.droppedEvents += dropped } }
        return true
    }

    /// The listener is readable: accepts what is pending.
    func acceptPending() {
        // Bounded per turn, so a burst of connections cannot starve the
        // clients already connected; the rest wait in the backlog.
        for _ in 0..<64 {
            let socket: UnixSeqpacketSocket?
            do throws(Errno) {
                socket = try server.listener.accept()
            } catch {
                if error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem || error == .noMemory
                    || error == .noBufferSpace
                {
                    pauseListener()
                }
                // ECONNABORTED and friends concern only that one client.
                return
            }
            guard let socket else { return }
            guard clients.count < server.configuration.maximumClients,
                let credentials = try? socket.peerCredentials()
            else {
                continue  // dropping `socket` closes it
            }
            let peer = PeerCredentials(
                processID: credentials.pid, userID: credentials.uid, groupID: credentials.gid,
                supplementaryGroups: credentials.groups
                    ?? SystemGroups.supplementaryGroups(ofProcess: credentials.pid) ?? [])
            let client = ControlConnection(socket: socket, peer: peer, decision: server.configuration.policy.decide(peer))
            do throws(Errno) {
                try loop.register(FileDescriptor(rawValue: socket.descriptor), events: Self.readable) { [unowned self] events in
                    self.service(client, events: events)
                }
            } catch {
                continue  // closed with `client`
            }
            clients[socket.descriptor] = client
        }
    }

    /// After EMFILE/ENFILE on accept the pending connection would keep the
    /// listener readable and the loop spinning, so the listener is left out
    /// for 100 ms.
    private func pauseListener() {
        guard !listenerPaused else { return }
        listenerPaused = true
        let listener = FileDescriptor(rawValue: server.listener.descriptor)
        loop.unregister(listener)
        var timer: EventLoop.Timer?
        timer = loop.every(.milliseconds(100)) { [unowned self] in
            if let timer { loop.cancel(timer) }
            listenerPaused = false
            try? loop.register(listener, events: .readable) { [unowned self] _ in acceptPending() }
        }
    }

    /// Reads and answers what one client sent, or sends what is queued.
    private func service(_ client: ControlConnection, events: Epoll.Events) {
        defer { settle(client) }
        guard !events.isEmpty, !client.isClosed else { return }
        // On hang-up or error too: the failing send is what closes a client
        // that left with output queued, which otherwise would keep epoll
        // returning at once.
        if !events.isDisjoint(with: [.writable, .hangUp, .error]) { client.flush() }
        let hangUp = !events.isDisjoint(with: [.hangUp, .readHangUp])
        // A few datagrams per turn, so one busy client cannot starve others;
        // none while a reply is still queued, so a client that never reads
        // cannot make the server queue without bound.
        for _ in 0..<8 where !client.isClosed && !client.hasQueuedOutput {
            let result: UnixSeqpacketSocket.ReceiveResult
            do throws(Errno) {
                result = try client.socket.receive(into: &buffer)
            } catch {
                client.close()
                return
            }
            switch result {
            case .wouldBlock:
                if events.contains(.error) || (hangUp && !events.contains(.readable)) { client.close() }
                return
            case .empty:
                if hangUp {
                    client.close()
                } else {
                    client.enqueue(
                        Self.refusal(length: 0, header: nil, .malformed("empty datagram; expected a netlink message")))
                    client.flush()
                }
            case .datagram(let length):
                let datagrams = answer(length: length, from: client)
                client.enqueue(datagrams)
                client.flush()
            }
        }
    }

    /// The datagrams answering the request of `length` bytes in `buffer`.
    private func answer(length: Int, from client: ControlConnection) -> [[UInt8]] {
        let available = min(length, buffer.count)
        let header = buffer.withUnsafeBytes { NetlinkHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[..<available])) }
        guard length <= buffer.count else {
            return Self.refusal(
                length: length, header: header,
                .malformed("datagram of \(length) bytes exceeds the limit of \(buffer.count) bytes"))
        }
        if case .deny(let reason) = client.decision {
            return Self.refusal(length: length, header: header, ControlProtocolError(errno: .notPermitted, message: reason))
        }
        let decoded = buffer.withUnsafeBytes { bytes in
            Result { () throws(ControlProtocolError) in
                try Command(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<length]))
            }
        }
        let request: Command
        switch decoded {
        case .success(let value): request = value
        case .failure(let error): return Self.refusal(length: length, header: header, error)
        }
        // A decoded request always had a complete header.
        let requestHeader = header!
        let reply: ControlReply
        if request == .watch {
            if !client.isWatching { server.watcherCount.add(1, ordering: .releasing) }
            client.isWatching = true
            // Counted at once, not at the end of the turn: events of the requests
            // served after this one in the same turn are for this client too.
            reply = .ok
        } else {
            reply = handler(request, client.peer)
        }
        do throws(ControlProtocolError) {
            return try reply.encode(replyingTo: requestHeader, command: request.wireCommand)
        } catch {
            // The handler produced something the wire cannot carry; say so
            // rather than send part of it.
            let failure = ControlProtocolError(
                errno: error.errno == .invalidArgument ? .messageTooLong : error.errno,
                message: "the daemon's reply cannot be sent: \(error.message)")
            return Self.refusal(length: length, header: requestHeader, failure)
        }
    }

    /// An `NLMSG_ERROR` refusing a request, echoing its header if readable.
    static func refusal(length: Int, header: NetlinkHeader?, _ error: ControlProtocolError) -> [[UInt8]] {
        let echoed = header ?? NetlinkHeader(length: UInt32(clamping: length), type: 0, flags: 0, sequence: 0, port: 0)
        // A short error and message always fit; a failure here is a bug.
        let datagram = try? ControlReply.acknowledgement(
            of: echoed, error: ControlReply.wireErrno(error.errno), message: error.message)
        return datagram.map { [$0] } ?? []
    }
}
