import Glibc
import Synchronization
import SystemPackage

extension ControlServer {
    /// Serves clients on the calling thread until ``stop()``.
    ///
    /// - Parameters:
    ///   - tickInterval: If set, `onTick` runs on this thread about this
    ///     often (never while a request is being handled), for the daemon's
    ///     periodic work.
    ///   - onTick: Periodic work.
    ///   - watching: A descriptor of the daemon's own (a netlink socket,
    ///     say) polled along with the clients, so the daemon reacts to it
    ///     on this thread instead of waking up at intervals to look.
    ///   - onReadable: Runs on this thread when `watching` is readable; it
    ///     must read what is waiting, or it is called again at once.
    ///   - handler: Answers one request; runs on this thread, one request
    ///     at a time. It may call ``broadcast(event:)``; those events go out
    ///     after its reply.
    public func run(
        tickInterval: Duration? = nil,
        onTick: () -> Void = {},
        watching: FileDescriptor? = nil,
        onReadable: () -> Void = {},
        handler: (ControlRequest, PeerCredentials) -> ControlReply
    ) throws(ControlServerError) {
        let alreadyRunning = shared.withLock { shared in
            defer { shared.running = true }
            return shared.running
        }
        guard !alreadyRunning else { throw .alreadyRunning }
        var loop = ServerLoop(server: self)
        defer {
            loop.closeAll()
            shared.withLock { $0.running = false }
        }
        let clock = ContinuousClock()
        var nextTick = tickInterval.map { clock.now + $0 }
        while true {
            // Checked before polling too: a stop requested before this run
            // may have had its wakeup consumed by an earlier one.
            if shared.withLock({ $0.stopRequested }) { return }
            var timeout: Int32 = -1
            if let nextTick {
                let remaining = clock.now.duration(to: nextTick)
                let (seconds, attoseconds) = remaining.components
                let milliseconds = max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1)
                timeout = Int32(min(milliseconds, Int64(Int32.max)))
            }
            let keepGoing = try loop.turn(timeout: timeout, watching: watching, onReadable: onReadable,
                                          handler: handler)
            guard keepGoing else { return }
            if let due = nextTick, let tickInterval, clock.now >= due {
                onTick()
                nextTick = max(due + tickInterval, clock.now)
            }
        }
    }
}

/// The control thread's state: the clients and what is queued for them.
/// Lives on the stack of ``ControlServer/run(tickInterval:onTick:handler:)``,
/// so no other thread can reach it.
struct ServerLoop: ~Copyable {
    let server: ControlServer
    var clients: [ControlConnection] = []
    /// Set after EMFILE/ENFILE on accept: the pending connection would keep
    /// the listener readable and the loop spinning, so the listener is left
    /// out of the poll set until then.
    var listenerPausedUntil: ContinuousClock.Instant?
    var buffer = [UInt8](repeating: 0, count: ControlProtocol.maximumDatagramSize)

    init(server: ControlServer) {
        self.server = server
    }

    mutating func closeAll() {
        clients.removeAll()
    }

    /// One poll and the work it reveals; `false` once stop was requested.
    mutating func turn(
        timeout: Int32, watching: FileDescriptor? = nil, onReadable: () -> Void = {},
        handler: (ControlRequest, PeerCredentials) -> ControlReply
    ) throws(ControlServerError) -> Bool {
        if let until = listenerPausedUntil, ContinuousClock.now >= until { listenerPausedUntil = nil }
        let readable = Int16(POLLIN) | pollReadHangUp
        var descriptors: [pollfd] = [
            pollfd(fd: server.wakeup.descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(
                fd: server.listener.descriptor,
                events: listenerPausedUntil == nil ? Int16(POLLIN) : 0, revents: 0),
        ]
        for client in clients {
            let events = client.hasQueuedOutput ? Int16(POLLOUT) : readable
            descriptors.append(pollfd(fd: client.socket.descriptor, events: events, revents: 0))
        }
        // Last, so the clients keep their indices (2...).
        if let watching {
            descriptors.append(pollfd(fd: watching.rawValue, events: Int16(POLLIN), revents: 0))
        }
        // Wake in time to resume a paused listener.
        let pollTimeout = listenerPausedUntil == nil ? timeout : (timeout < 0 ? 100 : min(timeout, 100))
        do throws(Errno) {
            _ = try pollDescriptors(&descriptors, timeout: pollTimeout)
        } catch {
            throw .system(error, operation: "poll")
        }

        if descriptors[0].revents != 0 {
            server.wakeup.drain()
            if !runQueuedWork() { return false }
        }
        for (index, client) in clients.enumerated() {
            service(client, events: descriptors[index + 2].revents, handler: handler)
        }
        if watching != nil, descriptors[descriptors.count - 1].revents != 0 { onReadable() }
        clients.removeAll { $0.isClosed }
        server.watcherCount.store(clients.count { $0.isWatching }, ordering: .releasing)
        if descriptors[1].revents & Int16(POLLIN) != 0 {
            acceptPending()
        }
        return !server.shared.withLock { $0.stopRequested }
    }

    /// Runs tasks queued by `execute` and sends queued events; `false` if a
    /// stop was requested.
    private mutating func runQueuedWork() -> Bool {
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
        let watchers = clients.filter { $0.isWatching && !$0.isClosed }
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
        for watcher in watchers { watcher.flush() }
        if dropped > 0 { server.shared.withLock { $0.droppedEvents += dropped } }
        return true
    }

    private mutating func acceptPending() {
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
                    listenerPausedUntil = ContinuousClock.now + .milliseconds(100)
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
            clients.append(
                ControlConnection(socket: socket, peer: peer, decision: server.configuration.policy.decide(peer)))
        }
    }

    /// Reads and answers what one client sent, or sends what is queued.
    private mutating func service(
        _ client: ControlConnection, events: Int16,
        handler: (ControlRequest, PeerCredentials) -> ControlReply
    ) {
        guard events != 0, !client.isClosed else { return }
        if events & Int16(POLLNVAL) != 0 {
            client.close()
            return
        }
        // On hang-up or error too: the failing send is what closes a client
        // that left with output queued, which otherwise would keep poll
        // returning at once.
        if events & (Int16(POLLOUT) | Int16(POLLHUP) | Int16(POLLERR)) != 0 { client.flush() }
        let hangUp = events & (Int16(POLLHUP) | pollReadHangUp) != 0
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
                if events & Int16(POLLERR) != 0 || (hangUp && events & Int16(POLLIN) == 0) { client.close() }
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
                let datagrams = answer(length: length, from: client, handler: handler)
                client.enqueue(datagrams)
                client.flush()
            }
        }
    }

    /// The datagrams answering the request of `length` bytes in `buffer`.
    private mutating func answer(
        length: Int, from client: ControlConnection,
        handler: (ControlRequest, PeerCredentials) -> ControlReply
    ) -> [[UInt8]] {
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
                try ControlRequest(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<length]))
            }
        }
        let request: ControlRequest
        switch decoded {
        case .success(let value): request = value
        case .failure(let error): return Self.refusal(length: length, header: header, error)
        }
        // A decoded request always had a complete header.
        let requestHeader = header!
        let reply: ControlReply
        if request.command == .watch {
            if !client.isWatching { server.watcherCount.add(1, ordering: .releasing) }
            client.isWatching = true
            // Counted at once, not at the end of the turn: events of the requests
            // served after this one in the same turn are for this client too.
            reply = .ok
        } else {
            reply = handler(request, client.peer)
        }
        do throws(ControlProtocolError) {
            return try reply.encode(replyingTo: requestHeader, command: request.command)
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
