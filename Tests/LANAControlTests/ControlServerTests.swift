import Foundation
import Glibc
import LANAControl
import Synchronization
import SystemPackage
import XCTest

/// A real server on a real socket, with real clients.
final class ControlServerTests: XCTestCase {
    func testRequestsAndReplies() throws {
        let server = try TestServer()
        defer { server.stop() }
        let client = try server.client()

        XCTAssertEqual(try client.send(.add(name: "c1", type: "counter")), .ok)

        let refused = try client.send(.add(name: "taken", type: "dummy"))
        XCTAssertEqual(refused.error, .fileExists)
        XCTAssertEqual(refused.message, "NAME taken: a block named taken already exists")

        let list = try client.send(.list)
        XCTAssertNil(list.error)
        XCTAssertEqual(list.items.map(\.text), ["b1 dummy 1 0\n", "b2 dummy 2 0\n", "b3 dummy 3 0\n"])
        XCTAssertEqual(list.items[1].json, #"{"name":"b2","idp":2}"#)

        let show = try client.send(.show(name: "c1"))
        XCTAssertEqual(show.items, [.init(text: "c1 counter\n", json: #"{"name":"c1"}"#)])

        let apply = try client.send(.apply([.graph(.add(name: "a", type: "dummy")), .graph(.remove(name: "bad")),
                                            .graph(.add(name: "b", type: "dummy"))]))
        XCTAssertEqual(apply.error, .invalidArgument)
        XCTAssertEqual(apply.failedCommand, 1)
        XCTAssertEqual(apply.message, "unknown block")

        // Every command reaches the handler intact, WATCH excepted.
        for request in CommandCodingTests.everyCommand where request != .watch {
            _ = try client.send(request)
        }
        let seen = server.seen.withLock { $0 }
        XCTAssertEqual(
            Array(seen.suffix(CommandCodingTests.everyCommand.count - 1)),
            CommandCodingTests.everyCommand.filter { $0 != .watch })
        XCTAssertFalse(seen.contains { $0 == .watch })
    }

    func testSequenceNumbersAreEchoedInEveryPart() throws {
        let server = try TestServer()
        defer { server.stop() }
        let raw = try RawClient(path: server.socketPath)
        for sequence: UInt32 in [0xdead_beef, 1, 0] {
            raw.send(try Command.list.encode(sequence: sequence, port: 4242))
            let reply = raw.receiveReply()
            XCTAssertEqual(reply.count, 5)
            for datagram in reply {
                XCTAssertEqual(NetlinkHeader(parsing: datagram)?.sequence, sequence)
                XCTAssertEqual(NetlinkHeader(parsing: datagram)?.port, 4242)
            }
            XCTAssertEqual(acknowledgedErrno(reply.last!), 0)
        }
    }

    func testMalformedRequestsGetExtendedAcks() throws {
        let server = try TestServer()
        defer { server.stop() }
        let raw = try RawClient(path: server.socketPath)
        var decoder = ControlReplyDecoder(sequence: 77, command: .add)

        raw.send(RawMessage.message(command: 99, sequence: 77))
        guard case .reply(let unsupported) = try decoder.decode(raw.receive()!) else { return XCTFail() }
        XCTAssertEqual(unsupported.error, .notSupportedOnSocket)
        XCTAssertTrue(unsupported.message!.contains("unknown command 99"), unsupported.message!)

        raw.send(RawMessage.message(command: 1, attributes: RawMessage.string(1, "c1"), sequence: 77))
        decoder = ControlReplyDecoder(sequence: 77, command: .add)
        guard case .reply(let missing) = try decoder.decode(raw.receive()!) else { return XCTFail() }
        XCTAssertEqual(missing.error, .invalidArgument)
        XCTAssertEqual(missing.message, "ADD requires attribute TYPE")

        // Too short for a header: answered with sequence 0.
        raw.send([1, 2, 3])
        let short = raw.receive()!
        XCTAssertEqual(NetlinkHeader(parsing: short)?.sequence, 0)
        XCTAssertEqual(acknowledgedErrno(short), EINVAL)

        // An empty datagram is a malformed request too, not end of stream.
        raw.send([])
        XCTAssertEqual(acknowledgedErrno(raw.receive()!), EINVAL)

        // Larger than the server's limit: refused, header still echoed.
        var big = RawMessage.message(command: 3, sequence: 88)
        big += [UInt8](repeating: 0, count: 70_000)
        raw.send(big)
        let tooBig = raw.receive()!
        XCTAssertEqual(acknowledgedErrno(tooBig), EINVAL)
        XCTAssertEqual(NetlinkHeader(parsing: tooBig)?.sequence, 88)

        XCTAssertTrue(server.seen.withLock { $0.isEmpty }, "nothing malformed reaches the handler")
        XCTAssertEqual(try server.client().send(.show(name: "x")).error, nil)
    }

    func testRandomDatagramsLeaveTheServerAnswering() throws {
        let server = try TestServer()
        defer { server.stop() }
        let raw = try RawClient(path: server.socketPath)
        var generator = SplitMix64(seed: 0x1a7a)
        let valid = try Command.addVirtualLink(name: "v0", rootDevice: "eth0", tag: 7).encode(sequence: 5)
        for round in 0..<200 {
            var datagram: [UInt8]
            if round % 2 == 0 {
                datagram = (0..<Int(generator.next() % 300)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                // A valid message with a few bytes flipped: reaches deeper.
                datagram = valid
                for _ in 0..<(1 + generator.next() % 4) {
                    let index = Int(generator.next() % UInt64(datagram.count))
                    datagram[index] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            raw.send(datagram)
            let reply = raw.receiveReply()
            XCTAssertFalse(reply.isEmpty, "round \(round): no reply")
            XCTAssertNotNil(reply.last.flatMap(acknowledgedErrno), "round \(round): no acknowledgement")
        }
        XCTAssertEqual(try server.client().send(.list).items.count, 3)
    }

    func testClientsThatVanishDoNotStallTheServer() throws {
        let server = try TestServer()
        defer { server.stop() }
        for _ in 0..<20 {
            // Sends a request whose multi-part reply it never reads.
            let raw = try RawClient(path: server.socketPath)
            raw.send(try Command.list.encode(sequence: 1))
        }
        for _ in 0..<20 {
            // Connects and leaves without a word.
            _ = try RawClient(path: server.socketPath)
        }
        do {
            // Shuts down its sending side and keeps the connection.
            let raw = try RawClient(path: server.socketPath)
            shutdown(raw.descriptor, Int32(SHUT_WR))
            XCTAssertNil(raw.receive(), "the server closes a half-closed client")
        }
        // Floods requests and never reads: the server stops reading it.
        let flooder = try RawClient(path: server.socketPath)
        let request = try Command.list.encode(sequence: 2)
        for _ in 0..<5_000 where flooder.send(request, flags: Int32(MSG_DONTWAIT)) > 0 {}

        let client = try server.client(timeout: .seconds(2))
        XCTAssertEqual(try client.send(.show(name: "still")).items.first?.text, "still counter\n")
    }

    func testPolicyDenialGetsEPERMAndNothingReachesTheHandler() throws {
        let policy = PeerPolicy { peer in .deny(reason: "permission denied: uid \(peer.userID) is not welcome") }
        let server = try TestServer(configuration: .init(policy: policy))
        defer { server.stop() }
        let client = try server.client()
        for request in [Command.add(name: "a", type: "dummy"), .list] {
            let reply = try client.send(request)
            XCTAssertEqual(reply.error, .notPermitted)
            XCTAssertEqual(reply.message, "permission denied: uid \(getuid()) is not welcome")
            XCTAssertTrue(reply.items.isEmpty)
        }
        XCTAssertThrowsError(try client.watch { _ in true }) { error in
            XCTAssertEqual(error as? ControlClientError, .refused(errno: .notPermitted, message: "permission denied: uid \(getuid()) is not welcome"))
        }
        // Even garbage is answered EPERM: the denial comes before decoding.
        let raw = try RawClient(path: server.socketPath)
        raw.send([0xff, 0xff])
        XCTAssertEqual(acknowledgedErrno(raw.receive()!), EPERM)
        XCTAssertTrue(server.seen.withLock { $0.isEmpty })
    }

    func testPolicySeesPeerCredentials() throws {
        let seen = Mutex<PeerCredentials?>(nil)
        let server = try TestServer(configuration: .init(policy: PeerPolicy { peer in
            seen.withLock { $0 = peer }
            return .allow
        }))
        defer { server.stop() }
        XCTAssertEqual(try server.client().send(.list).error, nil)
        let peer = try XCTUnwrap(seen.withLock { $0 })
        XCTAssertEqual(peer.processID, getpid())
        XCTAssertEqual(peer.userID, getuid())
        XCTAssertEqual(peer.groupID, getgid())
    }

    func testRootOrGroupPolicy() {
        let policy = PeerPolicy.rootOrGroup("lana-test-no-such-group")
        XCTAssertEqual(policy.decide(PeerCredentials(processID: 1, userID: 0, groupID: 0)), .allow)
        guard case .deny(let reason) = policy.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 1000)) else {
            return XCTFail("a plain user must be denied")
        }
        XCTAssertTrue(reason.contains("uid 1000"), reason)
        // "root" exists everywhere as a group with gid 0.
        let rootGroup = PeerPolicy.rootOrGroup("root")
        XCTAssertEqual(rootGroup.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 1000, supplementaryGroups: [0])), .allow)
        XCTAssertEqual(rootGroup.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 0)), .allow)
        XCTAssertNotEqual(rootGroup.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 1000, supplementaryGroups: [5])), .allow)
    }

    /// A daemon run as an unprivileged user admits that user.
    func testRootOrGroupPolicyAdmitsTheServersOwnUid() {
        let policy = PeerPolicy.rootOrGroup("lana-test-no-such-group", owner: 1000)
        XCTAssertEqual(policy.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 1000)), .allow)
        XCTAssertEqual(policy.decide(PeerCredentials(processID: 1, userID: 0, groupID: 0)), .allow)
        XCTAssertEqual(policy.decide(PeerCredentials(processID: 1, userID: 1001, groupID: 1000)), .deny(reason:
            "permission denied: uid 1001 is not root, not lanad's own uid (1000) and not a member of group lana-test-no-such-group (no such group)"))
        // A server run as root admits no one else for being its user.
        let asRoot = PeerPolicy.rootOrGroup("lana-test-no-such-group", owner: 0)
        XCTAssertEqual(asRoot.decide(PeerCredentials(processID: 1, userID: 1000, groupID: 1000)),
                       .deny(reason: "permission denied: uid 1000 is not root (group lana-test-no-such-group does not exist)"))
    }

    func testWatchStreamsBroadcastEvents() throws {
        let server = try TestServer()
        let events = Mutex<[String]>([])
        let done = DispatchSemaphore(value: 0)
        let watchError = Mutex<ControlClientError?>(nil)
        let socketPath = server.socketPath
        Thread {
            do {
                let watcher = try ControlClient(socketPath: socketPath)
                try watcher.watch { event in
                    events.withLock { $0.append(event) }
                    return event != "added w1 dummy"
                }
            } catch {
                watchError.withLock { $0 = error as? ControlClientError }
            }
            done.signal()
        }.start()
        // Broadcast until the watcher is registered and hears one.
        let deadline = Date() + 5
        while events.withLock({ $0.isEmpty }) && Date() < deadline {
            server.server.broadcast(event: "ping")
            usleep(10_000)
        }
        XCTAssertEqual(events.withLock { $0.first }, "ping")
        XCTAssertEqual(try server.client().send(.add(name: "w1", type: "dummy")), .ok)
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(events.withLock { $0.last }, "added w1 dummy")
        XCTAssertNil(watchError.withLock { $0 })

        // A watcher still connected when the server stops sees the end.
        let second = DispatchSemaphore(value: 0)
        let secondError = Mutex<ControlClientError?>(nil)
        let heard = Atomic<Bool>(false)
        Thread {
            do {
                let watcher = try ControlClient(socketPath: socketPath)
                try watcher.watch { _ in heard.store(true, ordering: .relaxed); return true }
            } catch {
                secondError.withLock { $0 = error as? ControlClientError }
            }
            second.signal()
        }.start()
        while !heard.load(ordering: .relaxed) && Date() < deadline + 5 {
            server.server.broadcast(event: "ping")
            usleep(10_000)
        }
        server.stop()
        XCTAssertEqual(second.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(secondError.withLock { $0 }, .disconnected)
    }

    func testSlowWatcherIsDisconnectedNotBufferedForever() throws {
        let server = try TestServer(configuration: .init(policy: .allowAll, maximumQueuedDatagrams: 16))
        defer { server.stop() }
        let raw = try RawClient(path: server.socketPath)
        raw.send(try Command.watch.encode(sequence: 3))
        XCTAssertEqual(acknowledgedErrno(raw.receive()!), 0)
        let payload = String(repeating: "e", count: 60_000)
        for _ in 0..<200 { server.server.broadcast(event: payload) }
        // Drain: the stream ends (EOF) instead of growing without bound.
        var received = 0
        while raw.receive() != nil { received += 1 }
        XCTAssertLessThan(received, 200)
        XCTAssertEqual(try server.client().send(.list).items.count, 3)
    }

    func testExecuteTickAndDroppedEvents() throws {
        let server = try TestServer(tickInterval: .milliseconds(10))
        defer { server.stop() }
        let ran = DispatchSemaphore(value: 0)
        server.server.execute { ran.signal() }
        XCTAssertEqual(ran.wait(timeout: .now() + 5), .success)
        let deadline = Date() + 5
        while server.ticks.load(ordering: .relaxed) < 3 && Date() < deadline { usleep(5_000) }
        XCTAssertGreaterThanOrEqual(server.ticks.load(ordering: .relaxed), 3)
        // An event that cannot be encoded is dropped and counted (with a
        // watcher connected; with none, events are not even made).
        let raw = try RawClient(path: server.socketPath)
        raw.send(try Command.watch.encode(sequence: 3))
        XCTAssertEqual(acknowledgedErrno(raw.receive()!), 0)
        server.server.broadcast(event: "bad\0event")
        while server.server.droppedEventCount == 0 && Date() < deadline { usleep(5_000) }
        XCTAssertEqual(server.server.droppedEventCount, 1)
    }

    func testClientErrors() throws {
        let directory = try TemporaryDirectory()
        XCTAssertThrowsError(try ControlClient(socketPath: directory.path + "/control")) { error in
            guard case .daemonNotReachable(let path, let errno) = error as? ControlClientError else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(path, directory.path + "/control")
            XCTAssertEqual(errno, .noSuchFileOrDirectory)
            XCTAssertTrue("\(error)".hasPrefix("is lanad running? socket \(directory.path)/control"))
        }
        // A stale socket file with nobody listening: ECONNREFUSED.
        let stale = directory.path + "/stale"
        makeStaleSocket(at: stale)
        XCTAssertThrowsError(try ControlClient(socketPath: stale)) { error in
            XCTAssertEqual(error as? ControlClientError, .daemonNotReachable(socketPath: stale, errno: .connectionRefused))
        }

        let server = try TestServer()
        defer { server.stop() }
        let slow = try server.client(timeout: .milliseconds(100))
        XCTAssertThrowsError(try slow.send(.set(name: "x", option: "sleep"))) { error in
            XCTAssertEqual(error as? ControlClientError, .timedOut(.milliseconds(100)))
        }
        XCTAssertThrowsError(try server.client().send(.add(name: "a\0", type: "b"))) { error in
            guard case .invalidRequest = error as? ControlClientError else { return XCTFail("\(error)") }
        }
    }

    func testRepliesArriveWhetherTheClientSpinsOrSleeps() throws {
        let server = try TestServer()
        defer { server.stop() }
        for spin in [Duration.zero, .microseconds(200), .milliseconds(2)] {
            let client = try ControlClient(socketPath: server.socketPath, spin: spin)
            XCTAssertEqual(client.spin, spin)
            // Prompt replies, which a spinning client catches while polling.
            for i in 0..<50 {
                let reply = try client.send(.add(name: "b\(i)", type: "dummy"))
                XCTAssertNil(reply.error)
            }
            // A reply that comes long after the spin ends: the client sleeps
            // in the kernel and still gets it, on this request, not the next.
            XCTAssertNil(try client.send(.set(name: "x", option: "sleep")).error)
            let items = try client.send(.list).items.map(\.text)
            XCTAssertEqual(items, ["b1 dummy 1 0\n", "b2 dummy 2 0\n", "b3 dummy 3 0\n"])
        }
        // Spinning never outlasts the timeout.
        XCTAssertEqual(try ControlClient(socketPath: server.socketPath, timeout: .microseconds(100)).spin, .microseconds(100))
    }

    func testStaleSocketIsReplacedAndLiveOneRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/control"
        makeStaleSocket(at: path)
        let first = try ControlServer(socketPath: path, configuration: .init(policy: .allowAll))
        XCTAssertThrowsError(try ControlServer(socketPath: path)) { error in
            XCTAssertEqual(error as? ControlServerError, .socketInUse(path: path))
        }
        var status = stat()
        XCTAssertEqual(lstat(path, &status), 0)
        XCTAssertEqual(status.st_mode & 0o777, 0o660)
        _ = first
        // A regular file in the way is not touched.
        let file = directory.path + "/file"
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        XCTAssertThrowsError(try ControlServer(socketPath: file))
        XCTAssertTrue(FileManager.default.fileExists(atPath: file))
    }

    func testSocketFileIsRemovedWithTheServer() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/control"
        do {
            let server = try ControlServer(socketPath: path)
            XCTAssertTrue(FileManager.default.fileExists(atPath: path))
            server.stop()
            try server.run { _, _ in .ok }  // returns at once: stopped before it ran
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testClientLimit() throws {
        let server = try TestServer(configuration: .init(policy: .allowAll, maximumClients: 2))
        defer { server.stop() }
        let first = try server.client()
        let second = try server.client()
        XCTAssertNil(try first.send(.list).error)
        XCTAssertNil(try second.send(.list).error)
        let third = try server.client()
        XCTAssertThrowsError(try third.send(.list)) { error in
            XCTAssertEqual(error as? ControlClientError, .disconnected)
        }
        XCTAssertNil(try first.send(.list).error)
    }

    func testLargeDumpIsDeliveredWhole() throws {
        let server = try TestServer(configuration: .init(policy: .allowAll, maximumQueuedDatagrams: 16)) { request, _, _ in
            request == .list
                ? .ok(items: (0..<5_000).map { .init(text: "block\($0) dummy \($0) 0\n") }) : .ok
        }
        defer { server.stop() }
        let reply = try server.client().send(.list)
        XCTAssertEqual(reply.items.count, 5_000)
        XCTAssertEqual(reply.items.last?.text, "block4999 dummy 4999 0\n")
    }

    /// Clients that leave in awkward states must not leave the control
    /// thread spinning: an idle server uses (almost) no CPU.
    func testServerIdlesAfterAwkwardClients() throws {
        let server = try TestServer { request, _, _ in
            request == .list
                ? .ok(items: (0..<5_000).map { .init(text: "block\($0) dummy \($0) 0\n") }) : .ok
        }
        defer { server.stop() }
        for _ in 0..<5 {
            // Leaves while a reply larger than its socket buffer is queued.
            let raw = try RawClient(path: server.socketPath)
            raw.send(try Command.list.encode(sequence: 1))
            usleep(20_000)
        }
        let halfClosed = try RawClient(path: server.socketPath)
        shutdown(halfClosed.descriptor, Int32(SHUT_WR))
        let watcher = try RawClient(path: server.socketPath)
        watcher.send(try Command.watch.encode(sequence: 2))
        XCTAssertEqual(acknowledgedErrno(watcher.receive()!), 0)
        XCTAssertEqual(try server.client().send(.show(name: "x")).error, nil)
        usleep(50_000)

        let before = cpuTime()
        usleep(500_000)
        let used = cpuTime() - before
        XCTAssertLessThan(used, 0.1, "the process used \(used) s of CPU in 0.5 s idle")
        _ = halfClosed
    }

    private func cpuTime() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func testStoppedServerDoesNotRunAgain() throws {
        let directory = try TemporaryDirectory()
        let server = try ControlServer(socketPath: directory.path + "/control")
        server.stop()
        try server.run { _, _ in .ok }
        try server.run { _, _ in .ok }  // the wakeup was consumed; must not block
    }

    private func makeStaleSocket(at path: String) {
        let descriptor = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        close(descriptor)
    }
}

/// A small deterministic generator for reproducible random input.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
