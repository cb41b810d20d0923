import LANACore
import XCTest

/// `PacketPool.copyFrame` copies exactly the frame: every length from 0 to
/// past a pool buffer's typical frame, at odd alignments, and not a byte
/// outside the range on either side.
final class CopyFrameTests: XCTestCase {
    func testCopiesExactlyTheFrameAtEveryLengthAndAlignment() {
        let guardBytes = 32
        var source = [UInt8](repeating: 0, count: 300 + 2 * guardBytes)
        for i in source.indices { source[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
        for count in 0...260 {
            for shift in [0, 1, 3, 8, 15] {
                var destination = [UInt8](repeating: 0xEE, count: 300 + 2 * guardBytes)
                source.withUnsafeBytes { src in
                    destination.withUnsafeMutableBytes { dst in
                        PacketPool.copyFrame(to: dst.baseAddress! + guardBytes + shift,
                                             from: src.baseAddress! + guardBytes, count: count)
                    }
                }
                let start = guardBytes + shift
                XCTAssertEqual(Array(destination[start..<start + count]),
                               Array(source[guardBytes..<guardBytes + count]), "count \(count) shift \(shift)")
                XCTAssertTrue(destination[..<start].allSatisfy { $0 == 0xEE }, "wrote before, count \(count)")
                XCTAssertTrue(destination[(start + count)...].allSatisfy { $0 == 0xEE }, "wrote after, count \(count)")
            }
        }
    }
}
