import Foundation
import Glibc
import LANAPosix
import Synchronization
import SystemPackage
import XCTest

/// The control thread's event loop: handlers per descriptor, timers, and a
/// stop from another thread.
final class EventLoopTests: XCTestCase {
    func testHandlersTimersAndStopFromAnotherThread() throws {
        let loop = try EventLoop()
        let bell = try EventFD()
        var rung: [UInt64] = []
        try loop.register(bell.descriptor, events: .readable) { events in
            XCTAssertTrue(events.contains(.readable))
            rung.append((try? bell.drain()) ?? 0)
        }
        var ticks = 0
        let timer = loop.every(.milliseconds(5)) { ticks += 1 }
        // Rung before the loop runs, and again from a handler's turn.
        try bell.signal(2)
        loop.every(.milliseconds(30)) {
            loop.cancel(timer)
            if rung.count == 1 { try? bell.signal(3) }
        }
        let stopper = Thread {
            usleep(150_000)
            loop.stop()
        }
        stopper.start()
        let start = ContinuousClock.now
        try loop.run()
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(5), "stopped from the other thread")
        XCTAssertEqual(rung, [2, 3])
        XCTAssertGreaterThanOrEqual(ticks, 2, "the 5 ms timer ran until cancelled")
        XCTAssertLessThanOrEqual(ticks, 10, "and not after: cancelled at 30 ms")
    }

    func testUnregisteredDescriptorIsNotHandled() throws {
        let loop = try EventLoop()
        let bell = try EventFD()
        var calls = 0
        try loop.register(bell.descriptor, events: .readable) { _ in calls += 1 }
        loop.unregister(bell.descriptor)
        try bell.signal()
        loop.every(.milliseconds(20)) { loop.stop() }
        try loop.run()
        XCTAssertEqual(calls, 0)
    }

    func testStopBeforeRunReturnsAtOnce() throws {
        let loop = try EventLoop()
        loop.stop()
        try loop.run()
    }
}
