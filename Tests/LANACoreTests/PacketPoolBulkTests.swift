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

    func testTakingBelowALocalTopHandsOutWhatTakeWouldHave() {
        // Two pools in the same state: one emptied handle by handle through
        // a local top, the other in one bulk take.
        let a = PacketPoolStorage(capacity: 12), b = PacketPoolStorage(capacity: 12)
        let out = UnsafeMutablePointer<PacketHandle>.allocate(capacity: 12)
        defer { out.deallocate() }
        var top = a.pool.freeTop
        XCTAssertEqual(top, 12)
        let taken = (0..<5).map { _ in a.pool.take(below: &top) }
        XCTAssertEqual(top, 7)
        XCTAssertEqual(a.pool.available, 12, "nothing is taken before the commit")
        a.pool.commitTake(top: top)
        XCTAssertEqual(a.pool.available, 7)
        XCTAssertEqual(b.pool.take(into: out, count: 5), 5)
        XCTAssertEqual(taken, (0..<5).map { out[$0] }, "the same handles in the same order")
        XCTAssertEqual(Set(taken).count, 5)

        // Freed, they come back on top, as with any free.
        taken.withUnsafeBufferPointer { a.pool.free($0.baseAddress!, count: 5) }
        XCTAssertEqual(a.pool.available, 12)
        top = a.pool.freeTop
        XCTAssertEqual(a.pool.take(below: &top), taken[4], "the last one freed is on top")
    }

    func testReceivedMetadataIsCompleteAndResetsEarlierUse() {
        var m = PacketMeta(receivedLength: 64, address: 0x1000, entry: 7, direction: .egress, ifindex: 3, engine: 1)
        XCTAssertEqual([m.length, m.next, m.ifindex], [64, 7, 3])
        XCTAssertEqual(m.address, 0x1000)
        XCTAssertEqual(m.direction, .egress)
        XCTAssertEqual(m.engine, 1)
        XCTAssertEqual(m.hops, 0)
        XCTAssertEqual(m.source, 0)
        XCTAssertEqual(m.mark, 0)
        m.hops = 9
        m = PacketMeta(receivedLength: 60, address: 0x1000, entry: 7, direction: .ingress, ifindex: 3, engine: 1)
        XCTAssertEqual(m.hops, 0, "a reused buffer starts with no hops")
    }

    /// A packet whose bytes are still in a source's memory (a receive
    /// ring): `detach` moves them into the packet's own buffer, a clone
    /// gets its own copy, and frames too large for a buffer are refused.
    func testDetachAndCloneTakeBytesOutOfASourcesMemory() throws {
        let storage = PacketPoolStorage(capacity: 4, bufferSize: 256, headroom: 64)
        let pool = storage.pool
        let ring = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 64)
        defer { ring.deallocate() }
        for i in 0..<512 { ring.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7), toByteOffset: i, as: UInt8.self) }
        let expected = Array(UnsafeRawBufferPointer(start: ring + 10, count: 150))

        let h = try XCTUnwrap(pool.allocate())
        XCTAssertTrue(pool.ownsBytes(h), "a fresh packet's bytes are in its buffer")
        XCTAssertEqual(pool.meta(h).pointee.address, UInt(bitPattern: pool.buffer(h) + 64), "after the headroom")
        pool.meta(h).pointee.address = UInt(bitPattern: ring + 10)
        pool.meta(h).pointee.length = 150
        XCTAssertFalse(pool.ownsBytes(h))
        XCTAssertEqual(Array(pool.packet(h).bytes), expected, "read in place")

        let c = try XCTUnwrap(pool.clone(h))
        XCTAssertTrue(pool.ownsBytes(c))
        XCTAssertEqual(Array(pool.packet(c).bytes), expected)

        XCTAssertTrue(pool.detach(h))
        XCTAssertTrue(pool.ownsBytes(h))
        XCTAssertEqual(pool.meta(h).pointee.address, UInt(bitPattern: pool.buffer(h) + 64))
        ring.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        XCTAssertEqual(Array(pool.packet(h).bytes), expected, "no longer depends on the ring")
        XCTAssertTrue(pool.detach(h), "detaching twice is harmless")
        XCTAssertEqual(Array(pool.packet(c).bytes), expected)

        // A packet whose frame starts elsewhere in its own buffer (a block
        // used headroom): the clone keeps the same place.
        let own = try XCTUnwrap(pool.allocate())
        pool.meta(own).pointee.address = UInt(bitPattern: pool.buffer(own) + 8)
        pool.meta(own).pointee.length = 200
        let ownClone = try XCTUnwrap(pool.clone(own))
        XCTAssertEqual(pool.meta(ownClone).pointee.address, UInt(bitPattern: pool.buffer(ownClone) + 8))
        pool.free(own)
        pool.free(ownClone)

        // 193 bytes do not fit 256 - 64: neither a clone nor a detach.
        let big = try XCTUnwrap(pool.allocate())
        pool.meta(big).pointee.address = UInt(bitPattern: ring)
        pool.meta(big).pointee.length = 193
        XCTAssertNil(pool.clone(big))
        XCTAssertFalse(pool.detach(big))
        XCTAssertEqual(pool.meta(big).pointee.address, UInt(bitPattern: ring), "left as it was")
        XCTAssertEqual(pool.available, 1, "the refused clone took no buffer")
    }
}
