import LANAPosix
import LANATestSupport
import SystemPackage
import XCTest

/// The TPACKET_V2 transmit ring against a real veth link.
final class PacketTransmitterTests: VethTestCase {
    private func openTransmitterA(_ configuration: PacketTransmitter.Configuration = .init()) throws -> PacketTransmitter {
        let net = self.net!
        return try net.runA { try PacketTransmitter(interfaceName: net.interfaceA, configuration: configuration) }
    }

    private func openPeerB() throws -> RawPeer {
        let net = self.net!
        return try net.runB { try RawPeer(interface: net.interfaceB) }
    }

    func testBatchesArriveByteForByte() throws {
        let peer = try openPeerB()
        let transmitter = try openTransmitterA()
        var frames: [[UInt8]] = []
        for batch in 0..<8 {
            for i in 0..<16 {
                let sequence = UInt32(batch * 16 + i)
                let frame = TestFrames.frame(sequence: sequence, size: TestFrames.sizes[i % 4])
                frames.append(frame)
                XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
            }
            XCTAssertEqual(transmitter.unflushedCount, 16)
            XCTAssertEqual(try transmitter.flush(), 16)
            XCTAssertEqual(transmitter.unflushedCount, 0)
        }
        XCTAssertEqual(try transmitter.flush(), 0, "nothing queued, no send")

        var received: [[UInt8]] = []
        let deadline = Deadline(seconds: 5)
        while received.count < frames.count && !deadline.hasPassed {
            if let frame = peer.receive(timeoutMilliseconds: 100) { received.append(frame) }
        }
        XCTAssertEqual(received, frames)
        XCTAssertNil(peer.receive(timeoutMilliseconds: 100), "a frame was sent twice")

        let statistics = transmitter.statistics
        XCTAssertEqual(statistics.queued, 128)
        XCTAssertEqual(statistics.submitted, 128)
        XCTAssertEqual(statistics.flushes, 8)
        XCTAssertEqual(statistics.sendErrors, 0)
        XCTAssertEqual(statistics.ringFull, 0)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.001) { transmitter.outstandingFrames() == 0 }, "slots never came back")
    }

    func testFillInPlace() throws {
        let peer = try openPeerB()
        let transmitter = try openTransmitterA()
        let frame = TestFrames.frame(sequence: 42, size: 128)
        XCTAssertTrue(transmitter.enqueue(length: 128) { slot in
            XCTAssertEqual(slot.count, 128)
            for i in 0..<128 { slot[i] = frame[i] }
        })
        try transmitter.flush()
        XCTAssertEqual(peer.receive(timeoutMilliseconds: 5000), frame)
    }

    /// The link pads short frames to 60 bytes with zeros, as a card does
    /// (a Linux bridge drops an ARP frame with a body under 8 bytes).
    func testPadsShortFramesToTheEthernetMinimum() throws {
        let peer = try openPeerB()
        let transmitter = try openTransmitterA()
        let frame = Array(TestFrames.frame(sequence: 7, size: 60).prefix(20))
        XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
        try transmitter.flush()
        XCTAssertEqual(peer.receive(timeoutMilliseconds: 5000), frame + [UInt8](repeating: 0, count: 40))
    }

    func testRefusesBadLengthsAndCountsThem() throws {
        let transmitter = try openTransmitterA()
        XCTAssertEqual(transmitter.maximumFrameLength, 1518, "MTU 1500 + header + one VLAN tag")
        let tooShort = [UInt8](repeating: 0, count: 13)
        let tooLong = [UInt8](repeating: 0, count: 1519)
        XCTAssertFalse(tooShort.withUnsafeBytes { transmitter.enqueue($0) })
        XCTAssertFalse(tooLong.withUnsafeBytes { transmitter.enqueue($0) })
        XCTAssertEqual(transmitter.statistics.invalidLength, 2)
        XCTAssertEqual(transmitter.statistics.queued, 0)
        XCTAssertEqual(transmitter.unflushedCount, 0)
    }

    func testFullRingRefusesAndRecoversAfterFlush() throws {
        let peer = try openPeerB()
        // 4 KiB pages of 2 KiB slots: 4 slots.
        let transmitter = try openTransmitterA(.init(frameSize: 2048, frameCount: 4))
        let frames = (0..<5).map { TestFrames.frame(sequence: UInt32($0), size: 60) }
        for frame in frames.prefix(4) {
            XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
        }
        XCTAssertFalse(frames[4].withUnsafeBytes { transmitter.enqueue($0) })
        XCTAssertEqual(transmitter.statistics.ringFull, 1)

        XCTAssertEqual(try transmitter.flush(), 4)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.001) { transmitter.outstandingFrames() == 0 })
        XCTAssertTrue(frames[4].withUnsafeBytes { transmitter.enqueue($0) })
        try transmitter.flush()

        var received: [[UInt8]] = []
        while received.count < 5, let frame = peer.receive(timeoutMilliseconds: 5000) { received.append(frame) }
        XCTAssertEqual(received, frames)
    }

    func testWrapsAroundTheRingManyTimes() throws {
        let peer = try openPeerB()
        let transmitter = try openTransmitterA(.init(frameSize: 2048, frameCount: 8))
        var frames: [[UInt8]] = []
        for batch in 0..<25 {
            // Slots come back asynchronously; wait for room (bounded).
            XCTAssertTrue(waitUntil(within: 5, interval: 0.001) { transmitter.outstandingFrames() == 0 })
            for i in 0..<6 {
                let frame = TestFrames.frame(sequence: UInt32(batch * 6 + i), size: TestFrames.sizes[i % 4])
                frames.append(frame)
                XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
            }
            try transmitter.flush()
        }
        var received: [[UInt8]] = []
        while received.count < frames.count, let frame = peer.receive(timeoutMilliseconds: 5000) {
            received.append(frame)
        }
        XCTAssertEqual(received, frames)
        XCTAssertEqual(transmitter.statistics.ringFull, 0)
    }
}
