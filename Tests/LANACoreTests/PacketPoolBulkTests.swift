import LANACore
import XCTest

/// The pool's bulk operations: what a source takes in one step and a
/// terminal block returns in one step.
final class PacketPoolBulkTests: XCTestCase {
    func testTakeHandsOutDistinctHandlesAndStopsWhenThePoolRunsLow() {
        let storage = PacketPoolStorage(capacity: 40)
        let pool = storage.pool
        let out = UnsafeMutablePointer<PacketHandle>.allocate(capacity: 32)
        defer { out.deallocate() }
        XCTAssertEqual(pool.take(into: out, count: 32), 32)
        let first = Set((0..<32).map { out[$0] })
        XCTAssertEqual(first.count, 32, "handles handed out twice")
        XCTAssertEqual(pool.available, 8)
        let second = UnsafeMutablePointer<PacketHandle>.allocate(capacity: 32)
        defer { second.deallocate() }
        XCTAssertEqual(pool.take(into: second, count: 32), 8, "only what is left")
        XCTAssertTrue(first.isDisjoint(with: (0..<8).map { second[$0] }))
        XCTAssertEqual(pool.available, 0)
        XCTAssertEqual(pool.take(into: second, count: 32), 0)
        pool.free(out, count: 32)
        pool.free(second, count: 8)
        XCTAssertEqual(pool.available, 40)
        // A single allocate still works on a bulk-filled stack.
        XCTAssertNotNil(pool.allocate())
    }

    func testReceivedMetadataIsCompleteAndResetsEarlierUse() {
        var m = PacketMeta(receivedLength: 64, offset: 128, entry: 7, direction: .egress, ifindex: 3, engine: 1)
        XCTAssertEqual([m.length, m.offset, m.next, m.ifindex], [64, 128, 7, 3])
        XCTAssertEqual(m.direction, .egress)
        XCTAssertEqual(m.engine, 1)
        XCTAssertEqual(m.hops, 0)
        XCTAssertEqual(m.source, 0)
        XCTAssertEqual(m.mark, 0)
        m.hops = 9
        m = PacketMeta(receivedLength: 60, offset: 128, entry: 7, direction: .ingress, ifindex: 3, engine: 1)
        XCTAssertEqual(m.hops, 0, "a reused buffer starts with no hops")
    }
}
