import Glibc
@testable import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import XCTest

/// The `arp` block in a graph (app / flip / arp / link): answering and
/// learning per docs/flip.md §9 against the vectors, resolving with a
/// queue, a timeout and both encodings.
final class ARPBlockTests: XCTestCase, FLIPSpecVectors {
    let macA = FLIPBlockTests.macA
    let macB = FLIPBlockTests.macB

    func nodeB(arp: [String] = []) throws -> FLIPTestNode {
        try FLIPTestNode(mac: macB, flipAddresses: "10.0.0.2,0x1112131415161718191a1b1c1d1e1f20", arpOptions: arp)
    }

    func nodeA(arp: [String] = []) throws -> FLIPTestNode {
        try FLIPTestNode(mac: macA, flipAddresses: "10.0.0.1,0x0102030405060708090a0b0c0d0e0f10", arpOptions: arp)
    }

    // MARK: Answering and learning

    func testAnswersEveryRequestVectorWithItsReply() throws {
        for (request, reply) in [(Self.v7, Self.v8), (Self.v9, Self.v10), (Self.v11, Self.v12), (Self.v13, Self.v12)] {
            let b = try nodeB()
            try b.receive(hexBytes(request))
            XCTAssertEqual(b.wire.frames, [hexBytes(reply)], request)
            XCTAssertTrue(b.app.deliveries.isEmpty)
            XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
        }
    }

    func testLearnsTheRequesterWhenAskedForALocalAddress() throws {
        let b = try nodeB()
        try b.receive(hexBytes(Self.v7))
        try b.receive(hexBytes(Self.v9))
        XCTAssertEqual(Set(b.arpStatus.split(separator: "\n")), [
            "10.0.0.1 02:00:00:00:00:01 learned 0",
            "0x0102030405060708090a0b0c0d0e0f10 02:00:00:00:00:01 learned 0",
        ])
    }

    func testRequestForAnotherHostIsNotAnsweredAndOnlyRefreshes() throws {
        let b = try nodeB()
        // who-has 10.0.0.7 tell 10.0.0.1: not for us, 10.0.0.1 unknown.
        let other = Self.v11.replacingOccurrences(of: "0000000000000a000002", with: "0000000000000a000007")
        try b.receive(hexBytes(other))
        XCTAssertTrue(b.wire.frames.isEmpty)
        XCTAssertEqual(b.arpStatus, "")
        // Once known, the same request refreshes the entry (RFC 826 merge).
        try b.receive(hexBytes(Self.v11))
        // 10.0.0.1 moved to 02:00:00:00:00:0f and asks for 10.0.0.7.
        try b.receive(hexBytes("ffffffffffff" + "02000000000f" + "0806" + "0001080006040001"
            + "02000000000f" + "0a000001" + "000000000000" + "0a000007"))
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:0f learned 0\n")
    }

    func testStaticEntriesAreNeverOverwritten() throws {
        let b = try nodeB(arp: ["static=10.0.0.1@02:00:00:00:00:09"])
        try b.receive(hexBytes(Self.v7))
        XCTAssertEqual(b.wire.frames, [hexBytes(Self.v8)])
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:09 static 0\n")
    }

    func testProbesAndMalformedMessagesAreNotLearned() throws {
        let b = try nodeB()
        // RFC 5227 probe: sender 0.0.0.0.
        try b.receive(hexBytes(Self.v11.replacingOccurrences(of: "0200000000010a000001", with: "02000000000100000000")))
        XCTAssertEqual(b.wire.frames.count, 1, "a probe for a local address is answered")
        for bad in ["ffffffffffff020000000001" + "0806" + "0002", "ffffffffffff020000000001" + "0806" + "4000",
                    String(Self.v11.dropLast(2))] {
            try b.receive(hexBytes(bad))
        }
        XCTAssertEqual(b.drops(.malformed), 3)
        XCTAssertEqual(b.arpStatus, "")
    }

    func testUnicastForAnotherMACIsOtherHost() throws {
        let b = try nodeB()
        try b.receive(hexBytes(FLIPBlockTests.v2.replacingOccurrences(of: "020000000002", with: "020000000003")))
        XCTAssertEqual(b.drops(.otherHost), 1)
        XCTAssertTrue(b.app.deliveries.isEmpty)
    }

    func testLearnsFromDataPacketsForUsOnly() throws {
        let b = try nodeB()
        try b.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:01 learned 0\n")
        let c = try FLIPTestNode(mac: macB, flipAddresses: "10.0.0.9")
        try c.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(c.arpStatus, "")
    }

    /// Data packets teach the table through the flip block above, which
    /// alone knows what it delivers: none once it is unbound, and never a
    /// static address.
    func testLearnsFromDataOnlyThroughTheFLIPBlockAboveAndNeverAStatic() throws {
        let b = try nodeB(arp: ["static=10.0.0.7@02:00:00:00:00:09"])
        let fields = FLIPFields(destination: .ipv4(10, 0, 0, 2), type: 0, source: .ipv4(10, 0, 0, 7),
                                hasLength: true, hasChecksum: true)
        var body = [UInt8](repeating: 0, count: fields.headerLength) + Array("hello".utf8)
        _ = try body.withUnsafeMutableBytes { try fields.write(into: $0, payloadLength: 5) }
        try b.receive(hexBytes("020000000002" + "020000000001" + "2020") + body)
        XCTAssertEqual(b.app.deliveries.count, 1)
        XCTAssertEqual(b.arpStatus, "10.0.0.7 02:00:00:00:00:09 static 0\n")
        try b.registry.unbind("f", "a")
        _ = try b.registry.add("c", type: "counter")
        try b.registry.bind("c", "a")
        try b.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(b.arpStatus, "10.0.0.7 02:00:00:00:00:09 static 0\n", "nothing learned without flip above")
        try b.registry.unbind("c", "a")
        try b.registry.bind("f", "a")
        try b.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(b.arpStatus, "10.0.0.7 02:00:00:00:00:09 static 0\n10.0.0.1 02:00:00:00:00:01 learned 0\n")
    }

    /// flip remembers the pairs the table confirmed; a change of the table
    /// (here an ARP request moving 10.0.0.1 to another MAC) must make the
    /// next data packet from the old MAC teach it again, as it would
    /// without the memo.
    func testDataTeachesAgainAfterTheTableChanged() throws {
        let b = try nodeB()
        try b.receive(hexBytes(FLIPBlockTests.v2))
        try b.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:01 learned 0\n")
        // 10.0.0.1 from 02:00:00:00:00:0f asks for 10.0.0.2 (local).
        try b.receive(hexBytes("ffffffffffff" + "02000000000f" + "0806" + "0001080006040001"
            + "02000000000f" + "0a000001" + "000000000000" + "0a000002"))
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:0f learned 0\n")
        try b.receive(hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(b.arpStatus, "10.0.0.1 02:00:00:00:00:01 learned 0\n")
    }

    func testLearnsTheLinkMACAndTheFLIPAddressesFromItsNeighbours() throws {
        let b = try nodeB(arp: ["address=0xabcd"])
        let values = try XCTUnwrap(b.registry.configuration(named: "a")).values
        XCTAssertTrue(values.contains { $0 == ("link-address", "02:00:00:00:00:02") }, "\(values)")
        XCTAssertTrue(values.contains { $0 == ("flip-addresses", "10.0.0.2,0x1112131415161718191a1b1c1d1e1f20") }, "\(values)")
        try b.registry.set("f", "address=10.0.0.5")
        XCTAssertTrue(try XCTUnwrap(b.registry.configuration(named: "a")).values.contains { $0 == ("flip-addresses", "10.0.0.5") })
        // Its own address list is answered too.
        try b.receive(hexBytes("ffffffffffff020000000001" + "0806" + "8846" + "abcd" + "0a000001"))
        XCTAssertEqual(b.wire.frames.count, 1)
        try b.registry.unbind("f", "a")
        XCTAssertTrue(try XCTUnwrap(b.registry.configuration(named: "a")).values.contains { $0 == ("flip-addresses", "") })
    }

    func testRefusesBadOptionsByName() throws {
        let b = try nodeB()
        XCTAssertThrowsError(try b.registry.set("a", "static=10.0.0.1")) { XCTAssertTrue("\($0)".contains("expected <address>@<mac>"), "\($0)") }
        XCTAssertThrowsError(try b.registry.set("a", "static=10.0.0.1@02:00")) { XCTAssertTrue("\($0)".contains("not a MAC address"), "\($0)") }
        XCTAssertThrowsError(try b.registry.set("a", "ipv4-encoding=ipx")) { XCTAssertTrue("\($0)".contains("rfc826 or flip"), "\($0)") }
        XCTAssertThrowsError(try b.registry.set("f", "address=10.0.0")) { XCTAssertTrue("\($0)".contains("10.0.0"), "\($0)") }
    }

    // MARK: Resolving

    static let v2Fields = FLIPFields(destination: .ipv4(10, 0, 0, 2), type: 0, source: .ipv4(10, 0, 0, 1),
                                     hasLength: true, hasChecksum: true)

    func testResolvesByRFC826AndSendsTheQueueInOrder() throws {
        let a = try nodeA()
        try a.send(Array("hello".utf8), FLIPMetadata(sending: Self.v2Fields))
        try a.send(Array("hello".utf8), FLIPMetadata(sending: Self.v2Fields))
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v11)], "one request for two packets")
        XCTAssertEqual(a.arpStatus, "10.0.0.2 - incomplete 2\n")
        try a.receive(hexBytes(Self.v12))
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v11), hexBytes(FLIPBlockTests.v2), hexBytes(FLIPBlockTests.v2)])
        XCTAssertEqual(a.arpStatus, "10.0.0.2 02:00:00:00:00:02 learned 0\n")
        XCTAssertEqual(a.graph.poolAvailable, a.graph.poolCapacity)
    }

    func testResolvesOtherSizesAndIPv4OnRequestWithARPOverFLIP() throws {
        let a = try nodeA(arp: ["ipv4-encoding=flip"])
        try a.send([1], FLIPMetadata(sending: Self.v2Fields))
        var objectFields = Self.v2Fields
        objectFields.destination = FLIPBlockTests.objectB
        try a.send([2], FLIPMetadata(sending: objectFields))
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v7), hexBytes(Self.v9)])
        try a.receive(hexBytes(Self.v10))
        try a.receive(hexBytes(Self.v8))
        XCTAssertEqual(a.wire.frames.count, 4)
        XCTAssertEqual(a.wire.frames[2].suffix(1), [2], "the object id's packet went when its reply came")
        XCTAssertEqual(Array(a.wire.frames[3][0..<6]), macB.bytes)
    }

    func testQueueHoldsSixteenPerAddressAndTimesOut() throws {
        let a = try nodeA()
        for _ in 0..<17 { try a.send([7], FLIPMetadata(sending: Self.v2Fields)) }
        XCTAssertEqual(a.drops(.arpQueueFull), 1)
        XCTAssertEqual(a.arpStatus, "10.0.0.2 - incomplete 16\n")
        XCTAssertEqual(a.wire.frames.count, 1)
        // Nothing answers: after 2 s the queue is dropped and counted.
        XCTAssertTrue(waitUntil(within: 5, interval: 0.05) {
            a.graph.run()
            return a.drops(.arpTimeout) == 16
        }, "the queue timed out")
        XCTAssertEqual(a.graph.poolAvailable, a.graph.poolCapacity)
        XCTAssertEqual(a.arpStatus, "", "nothing is in flight any more")
        // The next packet starts over with a new request.
        try a.send([8], FLIPMetadata(sending: Self.v2Fields))
        XCTAssertEqual(a.wire.frames.count, 2)
        XCTAssertEqual(a.arpStatus, "10.0.0.2 - incomplete 1\n")
    }

    func testRemovingTheBlockFreesWhatItQueued() throws {
        let a = try nodeA()
        for _ in 0..<3 { try a.send([7], FLIPMetadata(sending: Self.v2Fields)) }
        XCTAssertLessThan(a.graph.poolAvailable, a.graph.poolCapacity)
        let queue = a.arp.pendingSources[0]
        XCTAssertFalse(queue.isDrained)
        try a.registry.unbind("f", "a")
        try a.registry.unbind("a", "wire")
        try a.registry.remove("a")
        XCTAssertFalse(queue.isDrained, "the engine has not seen the retirement yet: the queue stays listed")
        a.graph.run()
        XCTAssertEqual(a.graph.poolAvailable, a.graph.poolCapacity)
        XCTAssertEqual(a.drops(.unknownIDP), 3)
        let c = a.graph.counters
        XCTAssertEqual(c.received + c.created, c.ended + c.delivered + c.totalDrops)
        XCTAssertTrue(queue.isDrained)
        var timer = pollfd(fd: queue.timerDescriptor, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&timer, 1, 0), 0, "the retired queue's timer is disarmed: the engine may sleep")
        XCTAssertEqual(queue.pollDescriptor, -1, "a drained queue is not polled")
    }

    /// A block removed with nothing queued: its engine still acknowledges
    /// the retirement and disarms the timer that woke it.
    func testRemovingAnIdleBlockLeavesNoTimerArmed() throws {
        let a = try nodeA()
        let queue = a.arp.pendingSources[0]
        XCTAssertEqual(queue.pollDescriptor, -1, "an idle queue is not polled: the engine's sleeps poll one descriptor less")
        try a.registry.unbind("f", "a")
        try a.registry.unbind("a", "wire")
        try a.registry.remove("a")
        XCTAssertEqual(queue.pollDescriptor, queue.timerDescriptor, "a retired queue is polled until its engine saw it")
        var timer = pollfd(fd: queue.timerDescriptor, events: Int16(POLLIN), revents: 0)
        XCTAssertTrue(waitUntil(within: 1) { poll(&timer, 1, 0) == 1 }, "the retirement wakes the engine")
        a.graph.run()
        XCTAssertTrue(queue.isDrained)
        timer.revents = 0
        XCTAssertEqual(poll(&timer, 1, 0), 0)
        XCTAssertEqual(queue.pollDescriptor, -1)
    }

    /// An engine thread asleep with an idle queue does not poll its timer;
    /// the registry wakes it after the retirement, so it still sees it.
    func testAnEngineAsleepSeesTheRetirementOfAnIdleQueue() throws {
        let registry = Registry(engineCount: 1)
        BuiltinBlocks.register(in: registry)
        let engines = EngineGroup(registry: registry, poolCapacity: 64, backlogCapacity: 16)
        engines.start()
        defer { engines.stop() }
        let engine = engines.engines[0]
        let turns = engine.idleTurns
        // Adding the block's queue wakes the engine, which then sleeps again.
        _ = try registry.add("a", type: "arp")
        let queue = try XCTUnwrap((registry.block(named: "a") as? ARPBlock)?.pendingSources.first)
        XCTAssertTrue(waitUntil(within: 5) { engine.idleTurns > turns }, "the engine went to sleep")
        XCTAssertEqual(queue.pollDescriptor, -1)
        try registry.remove("a")
        XCTAssertTrue(waitUntil(within: 5) { queue.isDrained }, "the engine asleep saw the retirement")
    }

    /// Packets wait on the engine that sent them; the answer may arrive on
    /// another, whose learning wakes the first (its queue's timer fires at
    /// once), and the queue goes out there.
    func testAnswerOnAnotherEngineReleasesTheQueue() throws {
        let a = try FLIPTestNode(mac: macA, flipAddresses: "10.0.0.1", engines: 2)
        try a.send(Array("hello".utf8), FLIPMetadata(sending: Self.v2Fields), engine: 1)
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v11)])
        try a.receive(hexBytes(Self.v12), engine: 0)
        XCTAssertEqual(a.wire.frames.count, 1, "engine 0 holds nothing for 10.0.0.2")
        // A sleeping engine 1 would wake: its queue's timer is readable now.
        XCTAssertEqual(a.arp.pendingSources[1].pollDescriptor, a.arp.pendingSources[1].timerDescriptor,
                       "a queue holding packets is polled")
        var wake = pollfd(fd: a.arp.pendingSources[1].timerDescriptor, events: Int16(POLLIN), revents: 0)
        XCTAssertTrue(waitUntil(within: 1) { poll(&wake, 1, 0) == 1 }, "engine 1's timer fires once another engine learned")
        var quiet = pollfd(fd: a.arp.pendingSources[0].timerDescriptor, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&quiet, 1, 0), 0, "engine 0 waits for nothing")
        // Engine 1's timer was armed to fire now: its next turn releases the queue.
        XCTAssertTrue(waitUntil(within: 2) {
            a.graph.run(engine: 1)
            return a.wire.frames.count == 2
        })
        XCTAssertEqual(a.wire.frames.last, hexBytes(FLIPBlockTests.v2))
        XCTAssertEqual(a.graph.allPoolsAvailable, a.graph.allPoolsCapacity)
        wake.revents = 0
        XCTAssertEqual(poll(&wake, 1, 0), 0, "with nothing queued the timer is disarmed: the engine may sleep")
    }

    func testLedgerHoldsThroughResolution() throws {
        let a = try nodeA()
        for _ in 0..<4 { try a.send([7], FLIPMetadata(sending: Self.v2Fields)) }
        try a.receive(hexBytes(Self.v12))
        let c = a.graph.counters
        XCTAssertEqual(c.received + c.created, c.ended + c.delivered + c.totalDrops)
        XCTAssertEqual(c.delivered, 5, "the request and four packets reached the link")
    }
}
