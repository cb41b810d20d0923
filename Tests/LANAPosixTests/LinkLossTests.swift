import LANAPosix
import LANATestSupport
import SystemPackage
import XCTest

/// What sockets report when their interface goes down or disappears.
final class LinkLossTests: VethTestCase {
    func testInterfaceDeletionIsReportedAsGone() throws {
        let net = self.net!
        let socket = try net.runA { try PacketSocket(interfaceName: net.interfaceA) }
        let transmitter = try net.runA { try PacketTransmitter(interfaceName: net.interfaceA) }
        XCTAssertEqual(socket.linkState(), .running)
        XCTAssertEqual(transmitter.linkState(), .running)

        let epoll = try Epoll()
        try epoll.add(socket.descriptor, events: .readable, data: 7)
        XCTAssertEqual(try epoll.wait(timeout: .zero).count, 0)

        try Shell.run("ip", "-n", net.namespaceA, "link", "del", net.interfaceA)

        // The socket's error wakes epoll.
        var reported: Epoll.Events = []
        let deadline = Deadline(seconds: 5)
        while !reported.contains(.error) && !deadline.hasPassed {
            for event in try epoll.wait(timeout: deadline.remaining) where event.data == 7 {
                reported.formUnion(event.events)
            }
        }
        XCTAssertTrue(reported.contains(.error))
        let pending = try socket.takePendingError()
        XCTAssertEqual(pending, .networkDown)
        XCTAssertTrue(pending?.indicatesLinkLoss ?? false)
        XCTAssertNil(try socket.takePendingError(), "SO_ERROR is cleared by reading it")
        XCTAssertEqual(socket.linkState(), .gone)

        // Reading a dead socket's ring is harmless.
        XCTAssertEqual(socket.receiveBurst(max: 32) { _ in XCTFail("no frames expected") }, 0)
        XCTAssertThrowsError(try socket.interface()) { error in
            XCTAssertTrue((error as? Errno)?.indicatesInterfaceGone ?? false, "\(error)")
        }

        // Transmitting reports the loss instead of crashing.
        let frame = TestFrames.frame(sequence: 1, size: 60)
        XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
        XCTAssertThrowsError(try transmitter.flush()) { error in
            let errno = error as? Errno
            XCTAssertTrue(errno?.indicatesLinkLoss ?? false, "\(error)")
        }
        XCTAssertEqual(transmitter.statistics.sendErrors, 1)
        XCTAssertEqual(transmitter.linkState(), .gone)
    }

    func testLinkDownIsReportedAsDownAndHeals() throws {
        let net = self.net!
        let socket = try net.runA { try PacketSocket(interfaceName: net.interfaceA) }
        let epoll = try Epoll()
        try epoll.add(socket.descriptor, events: .readable, data: 1)

        try Shell.run("ip", "-n", net.namespaceA, "link", "set", net.interfaceA, "down")
        let deadline = Deadline(seconds: 5)
        var sawError = false
        while !sawError && !deadline.hasPassed {
            sawError = try epoll.wait(timeout: deadline.remaining).contains { $0.events.contains(.error) }
        }
        XCTAssertTrue(sawError)
        XCTAssertEqual(try socket.takePendingError(), .networkDown)
        XCTAssertEqual(socket.linkState(), .down)

        try Shell.run("ip", "-n", net.namespaceA, "link", "set", net.interfaceA, "up")
        XCTAssertTrue(waitUntil(within: 5, interval: 0.001) { socket.linkState() == .running })
        let frame = TestFrames.frame(sequence: 5, size: 128)
        // The peer's carrier may take a moment; resend until one arrives.
        var received: [[UInt8]] = []
        let resendDeadline = Deadline(seconds: 5)
        while received.isEmpty && !resendDeadline.hasPassed {
            try net.runB {
                let peer = try RawPeer(interface: net.interfaceB, etherType: 0)
                try peer.send(frame)
            }
            received = try socket.collect(1, within: 0.1)
        }
        XCTAssertEqual(received.first, frame, "the socket resumes after the link comes back")
    }
}
