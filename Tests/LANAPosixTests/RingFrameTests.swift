import LANAPosix
import LANATestSupport
import SystemPackage
import XCTest

/// `takeFrames`/`releaseFrames`: frames read in place, their blocks held
/// until released, against a real veth link.
///
/// The rings here are one-page blocks that hold two full-size frames each,
/// with a long retire timeout, so blocks are handed over only when full:
/// which frames sit in which block is then known exactly.
final class RingFrameTests: VethTestCase {
    private let ring = PacketSocket.RingConfiguration(
        blockSize: 4096, blockCount: 4, frameSize: 2048, retireTimeoutMilliseconds: 10_000)

    private func sendFromB(_ frames: [[UInt8]]) throws {
        let net = self.net!
        try net.runB {
            let peer = try RawPeer(interface: net.interfaceB, etherType: 0)
            for frame in frames { try peer.send(frame) }
        }
    }

    private func openSocketA() throws -> PacketSocket {
        let net = self.net!
        let configuration = PacketSocket.Configuration(ring: ring)
        return try net.runA { try PacketSocket(interfaceName: net.interfaceA, configuration: configuration) }
    }

    private func fullFrames(_ range: Range<UInt32>) -> [[UInt8]] {
        range.map { TestFrames.frame(sequence: $0, size: 1514) }
    }

    /// Sequence numbers of `frames`, and whether each is byte for byte the
    /// test frame with that number: readable failure messages.
    private func summary(_ frames: [[UInt8]]) -> [String] {
        frames.map { bytes in
            let sequence = bytes.withUnsafeBytes { TestFrames.sequence(of: $0) }
            guard let sequence else { return "?" }
            return bytes == TestFrames.frame(sequence: sequence, size: 1514) ? "\(sequence)" : "\(sequence)(corrupt)"
        }
    }

    private func summary(_ frames: UnsafeBufferPointer<PacketSocket.RingFrame>) -> [String] {
        summary(frames.map { Array($0.bytes) })
    }

    private func numbers(_ range: Range<UInt32>) -> [String] { range.map { "\($0)" } }

    /// Waits until the kernel has handled `count` frames in all on the
    /// socket (delivered or dropped); returns the totals.
    private func waitForKernel(_ socket: PacketSocket, packets count: UInt64) throws -> PacketSocket.Statistics {
        var statistics = PacketSocket.Statistics()
        let reached = try waitUntil(within: 5, interval: 0.001) {
            statistics = try socket.statistics()
            return statistics.packets >= count
        }
        XCTAssertTrue(reached, "the kernel saw \(statistics.packets) of \(count) frames")
        return statistics
    }

    func testFramesStayValidAcrossBlocksUntilReleased() throws {
        let socket = try openSocketA()
        // Frames 0–5 fill blocks 0–2; frame 6 closes block 2 and opens 3.
        let first = fullFrames(0..<7)
        try sendFromB(first)
        _ = try waitForKernel(socket, packets: 7)

        let taken = socket.takeFrames(max: 64)
        XCTAssertEqual(taken.count, 6, "three full blocks of two frames")
        // Block 3 fills with frames 6 and 7; frame 8 needs block 0, which
        // is still held, so the ring freezes and drops 8 and 9. Had a block
        // gone back early, these frames would overwrite the taken ones.
        try sendFromB(fullFrames(7..<10))
        let statistics = try waitForKernel(socket, packets: 10)
        XCTAssertEqual(statistics.drops, 2, "frames that found every block held")
        XCTAssertEqual(summary(taken), numbers(0..<6))
        XCTAssertEqual(taken.map { $0.frame.originalLength }, Array(repeating: 1514, count: 6))

        socket.releaseFrames()
        let next = socket.takeFrames(max: 64)
        XCTAssertEqual(summary(next), numbers(6..<8))
        socket.releaseFrames()

        // Released blocks take frames again (frame 16 closes the third).
        try sendFromB(fullFrames(10..<17))
        XCTAssertEqual(summary(try socket.collect(6)), numbers(10..<16))
        XCTAssertEqual(try socket.statistics().drops, 2, "no drops once released")
    }

    func testTakeStopsWhenEveryBlockIsHeld() throws {
        let socket = try openSocketA()
        // Eight frames fill all four blocks; the ninth finds block 0 not yet
        // returned and is dropped.
        let frames = fullFrames(0..<9)
        try sendFromB(frames)
        let statistics = try waitForKernel(socket, packets: 9)
        XCTAssertEqual(statistics.drops, 1)

        // One take may hold every block, but must not walk into block 0
        // again: it still reads as user-owned until released.
        let taken = socket.takeFrames(max: 64)
        XCTAssertEqual(summary(taken), numbers(0..<8))
        XCTAssertFalse(socket.hasPendingFrames, "all blocks held, nothing new")
        XCTAssertEqual(socket.takeFrames(max: 64).count, 0, "a new take first returns the held blocks")
        socket.releaseFrames()

        // Frame 13 closes the second block.
        try sendFromB(fullFrames(9..<14))
        XCTAssertEqual(summary(try socket.collect(4)), numbers(9..<13))
    }

    func testBurstsAreCappedAndContinueMidBlock() throws {
        let socket = try openSocketA()
        let frames = fullFrames(0..<7)
        try sendFromB(frames)
        _ = try waitForKernel(socket, packets: 7)
        var received: [[UInt8]] = []
        for expected in [3, 3] {
            let taken = socket.takeFrames(max: 3)
            XCTAssertEqual(taken.count, expected)
            received += taken.map { Array($0.bytes) }
            socket.releaseFrames()
        }
        XCTAssertEqual(summary(received), numbers(0..<6))
        XCTAssertEqual(socket.takeFrames(max: PacketSocket.maximumBurst + 10).count, 0, "block 3 is still open")
    }

    /// The walk that hands each frame to a closure (what the eth block's
    /// source uses): the same frames, in order, as the list, its byte
    /// pointers the frames' own, capped by `max` mid-block and continuing
    /// where it stopped.
    func testWalkingWithABodyHandsOutTheSameFrames() throws {
        let socket = try openSocketA()
        try sendFromB(fullFrames(0..<7))
        _ = try waitForKernel(socket, packets: 7)
        var received: [[UInt8]] = []
        var samePlace = 0
        for expected in [4, 2] {
            var handed = 0
            let n = socket.takeFrames(max: 4) { frame, bytes, length in
                handed += 1
                received.append(Array(UnsafeRawBufferPointer(start: bytes, count: length)))
                if frame.bytes.baseAddress == UnsafeRawPointer(bytes) && frame.bytes.count == length { samePlace += 1 }
            }
            XCTAssertEqual(n, expected, "frames handed out")
            XCTAssertEqual(handed, n, "the body ran once per frame")
        }
        XCTAssertEqual(summary(received), numbers(0..<6))
        XCTAssertEqual(samePlace, 6, "the bytes handed to the body are the frame's own, in the ring")
        XCTAssertEqual(socket.takeFrames(max: 64) { _, _, _ in XCTFail("block 3 is still open") }, 0)
        socket.releaseFrames()

        // The blocks were held and given back: the ring takes frames again.
        // Frame 7 fills block 3; 8–11 go to blocks 0 and 1, each closed
        // by the next frame; 12 and 13 leave block 2 open.
        try sendFromB(fullFrames(7..<14))
        _ = try waitForKernel(socket, packets: 14)
        var more: [[UInt8]] = []
        XCTAssertEqual(socket.takeFrames(max: 64) { _, bytes, length in
            more.append(Array(UnsafeRawBufferPointer(start: bytes, count: length)))
        }, 6)
        XCTAssertEqual(summary(more), numbers(6..<12))
        XCTAssertEqual(try socket.statistics().drops, 0)
    }
}
