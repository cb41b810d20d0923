import Glibc
import LANAPosix
import SystemPackage
import XCTest

/// Epoll, eventfd and signalfd: what the control loop and the state writer wait on.
final class EventTests: XCTestCase {
    func testEventFDWakesASleepingThread() throws {
        let epoll = try Epoll(capacity: 8)
        let doorbell = try EventFD()
        try epoll.add(doorbell.descriptor, events: .readable, data: 42)
        XCTAssertEqual(try epoll.wait(timeout: .zero).count, 0)

        let start = ContinuousClock.now
        let signaller = Thread { [doorbell] in
            usleep(50_000)
            try? doorbell.signal()
        }
        signaller.start()
        let ready = try epoll.wait(timeout: .seconds(5))
        let elapsed = ContinuousClock.now - start
        XCTAssertEqual(ready.count, 1)
        XCTAssertEqual(ready.first?.data, 42)
        XCTAssertTrue(ready.first?.events.contains(.readable) ?? false)
        XCTAssertLessThan(elapsed, .seconds(4), "woken by the signal, not the timeout")

        XCTAssertEqual(try doorbell.drain(), 1)
        XCTAssertEqual(try doorbell.drain(), 0, "drained")
        XCTAssertEqual(try epoll.wait(timeout: .zero).count, 0, "level-triggered readiness cleared")
    }

    func testSignalsCoalesceUntilDrained() throws {
        let doorbell = try EventFD()
        try doorbell.signal()
        try doorbell.signal()
        try doorbell.signal(5)
        XCTAssertEqual(try doorbell.drain(), 7)
    }

    func testWaitHonoursTimeoutAndModifyRemove() throws {
        let epoll = try Epoll()
        let doorbell = try EventFD()
        try epoll.add(doorbell.descriptor, events: .readable, data: 1)
        try doorbell.signal()

        // Re-registered for writability with a new tag: eventfd is writable.
        try epoll.modify(doorbell.descriptor, events: .writable, data: 2)
        let events = try epoll.wait(timeout: .zero)
        XCTAssertEqual(events.map(\.data), [2])
        XCTAssertTrue(events[0].events.contains(.writable))

        try epoll.remove(doorbell.descriptor)
        let start = ContinuousClock.now
        XCTAssertEqual(try epoll.wait(timeout: .milliseconds(30)).count, 0)
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(29))

        // A sub-millisecond timeout is rounded up, not truncated to a poll.
        let short = ContinuousClock.now
        _ = try epoll.wait(timeout: .microseconds(300))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - short, .microseconds(300))

        XCTAssertThrowsError(try epoll.remove(doorbell.descriptor)) { error in
            XCTAssertEqual(error as? Errno, .noSuchFileOrDirectory)
        }
    }

    func testManyReadyEventsAreReportedUpToCapacity() throws {
        let epoll = try Epoll(capacity: 2)
        let bells = try (0..<3).map { _ in try EventFD(initialValue: 1) }
        for (i, bell) in bells.enumerated() {
            try epoll.add(bell.descriptor, events: .readable, data: UInt64(i))
        }
        let first = Set(try epoll.wait(timeout: .zero).map(\.data))
        XCTAssertEqual(first.count, 2)
        // Level-triggered: draining the reported ones leaves the third.
        for i in first { try bells[Int(i)].drain() }
        let second = try epoll.wait(timeout: .zero).map(\.data)
        XCTAssertEqual(Set(second).union(first), [0, 1, 2])
    }

    /// signalfd on a dedicated thread: the signal is blocked and directed
    /// at that thread only, so the test process's handlers never see it.
    func testSignalFDDeliversBlockedSignals() throws {
        let signal = try onThread { () throws -> CInt? in
            try SignalFD.blockInCurrentThread([SIGUSR1])
            let signals = try SignalFD(signals: [SIGUSR1])
            XCTAssertNil(try signals.next())
            let epoll = try Epoll()
            try epoll.add(signals.descriptor, events: .readable, data: 0)
            pthread_kill(pthread_self(), SIGUSR1)
            XCTAssertEqual(try epoll.wait(timeout: .seconds(5)).count, 1)
            return try signals.next()
        }
        XCTAssertEqual(signal, SIGUSR1)
    }

    func testOwnedDescriptorClosesExactlyOnce() throws {
        var raw: CInt = -1
        do {
            let bell = try EventFD()
            raw = bell.descriptor.rawValue
            XCTAssertNotEqual(fcntl(raw, F_GETFD), -1)
        }
        XCTAssertEqual(fcntl(raw, F_GETFD), -1, "closed when the owner went away")

        let fd = try FileDescriptor.open("/dev/null", .readOnly)
        let owner = OwnedDescriptor(adopting: fd)
        let released = owner.release()
        XCTAssertNotEqual(fcntl(released.rawValue, F_GETFD), -1, "release does not close")
        try released.close()
    }

    func testEnteringBadNamespacesFails() throws {
        let results = try onThread { () -> [Errno?] in
            var results: [Errno?] = []
            for name in ["../etc", "", "lanatest-does-not-exist-\(UInt32.random(in: 0...UInt32.max))"] {
                do throws(Errno) {
                    try NetworkNamespace.enter(name: name)
                    results.append(nil)
                } catch {
                    results.append(error)
                }
            }
            return results
        }
        XCTAssertEqual(results, [.invalidArgument, .invalidArgument, .noSuchFileOrDirectory])
    }
}
