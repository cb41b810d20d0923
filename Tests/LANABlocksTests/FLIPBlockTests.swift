import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import XCTest

/// The `flip` block in a graph (app / flip / arp / link), against the
/// vectors of docs/flip.md: what it delivers, forwards, refuses and sends.
final class FLIPBlockTests: XCTestCase, FLIPSpecVectors {
    func nodeB(_ options: [String] = [], arp: [String] = []) throws -> FLIPTestNode {
        try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.2,0x1112131415161718191a1b1c1d1e1f20", options: options, arpOptions: arp)
    }

    func padded(_ hex: String, to length: Int = 60) -> [UInt8] {
        let b = hexBytes(hex)
        return b + [UInt8](repeating: 0, count: max(0, length - b.count))
    }

    // MARK: Receive

    func testDeliversV1PaddedWithPaddingAsPayload() throws {
        let b = try nodeB()
        try b.receive(padded(Self.v1))
        let d = try XCTUnwrap(b.app.deliveries.first)
        XCTAssertEqual(d.payload, Array("hi".utf8) + [UInt8](repeating: 0, count: 43))
        XCTAssertEqual(d.fields, FLIPFields())
        XCTAssertEqual(d.linkSource, Self.macA)
    }

    func testDeliversV2AndV14WithTheirFields() throws {
        let b = try nodeB()
        try b.receive(hexBytes(Self.v2))
        try b.receive(hexBytes(Self.v14))
        XCTAssertEqual(b.app.deliveries.count, 2)
        for d in b.app.deliveries {
            XCTAssertEqual(d.payload, Array("hello".utf8))
            XCTAssertEqual(d.fields.destination, .ipv4(10, 0, 0, 2))
            XCTAssertEqual(d.fields.source, .ipv4(10, 0, 0, 1))
            XCTAssertEqual(d.fields.type, 0)
            XCTAssertTrue(d.fields.hasChecksum)
        }
    }

    func testDeliversV3ToObjectID() throws {
        let b = try nodeB()
        try b.receive(hexBytes(Self.v3))
        let d = try XCTUnwrap(b.app.deliveries.first)
        XCTAssertEqual(d.payload, Array("obj".utf8))
        XCTAssertEqual(d.fields.destination, Self.objectB)
        XCTAssertEqual(d.fields.source, Self.objectA)
        XCTAssertEqual(d.fields.priority, 5)
        XCTAssertEqual(d.fields.ttl, 64)
    }

    func testTypePortTakesItsTypeAndUpTakesTheRest() throws {
        let b = try nodeB()
        _ = try b.registry.add("typed", type: "capture")
        try b.registry.bind("typed", "f", port: "up.type.0x88b5")
        try b.receive(hexBytes(Self.v4))  // Type 0x88b5
        try b.receive(hexBytes(Self.v2))  // Type 0
        XCTAssertEqual(b.graph.captured("typed").map(\.bytes), [Array("x".utf8)])
        XCTAssertEqual(b.app.deliveries.map(\.payload), [Array("hello".utf8)])
        XCTAssertThrowsError(try b.registry.bind("typed", "f", port: "up.type.0x1ffff"))
    }

    func testESPsGoUpWithValueAndWidth() throws {
        let b = try nodeB()
        try b.receive(hexBytes(Self.v5))
        try b.receive(padded(Self.v6))
        XCTAssertEqual(b.app.deliveries.map(\.esp), [FLIPESP(value: 42, width: 6), FLIPESP(value: 0x1234, width: 14)])
        XCTAssertEqual(b.app.deliveries.map(\.payload), [[], []])
    }

    func testOtherEtherTypesAreNotFLIP() throws {
        let b = try nodeB()
        // IPv4 (its first byte 0x45 would read as an ESP) and 0x88b6.
        try b.receive(hexBytes("020000000002020000000001" + "0800" + "4500001c000000004011"))
        try b.receive(hexBytes("020000000002020000000001" + "88b6" + "006869"))
        XCTAssertTrue(b.app.deliveries.isEmpty)
        XCTAssertEqual(b.drops(.filtered), 2)
        XCTAssertTrue(try b.registry.show("f").details.joined().contains("not-flip=2"))
    }

    /// The engine parses a stream's packets by the shape of the first
    /// (its meta bytes) and keeps their headers as bytes: every packet of
    /// every shape, first or not, must deliver what a full parse of its body
    /// gives, with its payload and its link source.
    func testStreamsOfEveryShapeDeliverWhatAFullParseGives() throws {
        let b = try nodeB()
        var rng = SplitMix64(seed: 0x5A4E)
        let destinations: [FLIPAddress?] = [.ipv4(10, 0, 0, 2), FLIPAddress(Array(0x11...0x20))!, .broadcast(.short), nil]
        let sources: [FLIPAddress?] = [.ipv4(10, 0, 0, 1), Self.objectA, FLIPAddress([0xab, 0xcd])!, nil]
        var sent: [(body: [UInt8], payload: [UInt8])] = []
        for round in 0..<64 {
            let fields = FLIPFields(
                priority: round % 3 == 0 ? UInt8(rng.next() % 16) : nil, destination: destinations[round % 4],
                type: round % 2 == 0 ? UInt16(truncatingIfNeeded: rng.next()) : nil, ttl: round % 5 < 2 ? 7 : nil,
                flow: round % 7 == 0 ? UInt32(truncatingIfNeeded: rng.next()) : nil, source: sources[(round / 4) % 4],
                hasLength: round % 6 != 0, hasChecksum: round % 3 == 1, dontFragment: round % 8 == 3)
            for _ in 0..<3 {
                let payload = (0..<Int(46 + rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let f = frame(fields, payload: payload, from: Self.macA, to: Self.macB)
                try b.receive(f)
                sent.append((Array(f.dropFirst(14)), payload))
            }
        }
        XCTAssertEqual(b.app.deliveries.count, sent.count)
        // Counted per burst on the shape path, per packet on the full one.
        XCTAssertTrue(try b.registry.show("f").details.joined().contains("delivered=\(sent.count) "))
        for (i, (d, s)) in zip(b.app.deliveries, sent).enumerated() {
            guard case .packet(let h) = s.body.withUnsafeBytes({ FLIPHeader.parse($0) }) else {
                return XCTFail("packet \(i) does not parse")
            }
            XCTAssertEqual(d.fields, h.fields, "packet \(i)")
            XCTAssertEqual(d.payload, s.payload, "packet \(i)")
            XCTAssertEqual(d.linkSource, Self.macA, "packet \(i)")
        }
    }

    /// A packet of the engine's last shape that fails a check, or is not
    /// for a local address, is dropped or routed as any other.
    func testPacketsOfTheLastShapeKeepEveryCheck() throws {
        let b = try nodeB()
        let good = FLIPFields(priority: 1, destination: .ipv4(10, 0, 0, 2), type: 0x88b5, source: .ipv4(10, 0, 0, 1),
                              hasLength: true, hasChecksum: true)
        let f = frame(good, payload: Array(repeating: 7, count: 50), from: Self.macA, to: Self.macB)
        try b.receive(f)
        // Body: meta 0..1, version 2, destination 3..6, Type 7..8, source
        // 9..12, Length 13..14, Checksum 15..16. The version is checked
        // before the checksum, the Length too.
        var badVersion = f
        badVersion[14 + 2] = 0x11
        try b.receive(badVersion)
        var badChecksum = f
        badChecksum[f.count - 1] ^= 0xFF
        try b.receive(badChecksum)
        var longer = f
        longer[14 + 14] &+= 1
        try b.receive(longer)
        let other = frame(FLIPFields(priority: 1, destination: .ipv4(10, 0, 0, 9), type: 0x88b5, source: .ipv4(10, 0, 0, 1),
                                     hasLength: true, hasChecksum: true),
                          payload: Array(repeating: 7, count: 50), from: Self.macA, to: Self.macB)
        try b.receive(other)
        try b.receive(f)
        XCTAssertEqual(b.app.deliveries.count, 2)
        XCTAssertEqual(b.drops(.malformed), 2, "version nibble and Length")
        XCTAssertEqual(b.drops(.checksum), 1)
        XCTAssertEqual(b.drops(.noRoute), 1)
    }

    /// A burst is delivered in one pass while its packets continue the
    /// stream last delivered; from the first that does not, packet by
    /// packet: every check still holds, and nothing is lost or reordered.
    func testABurstOfOneStreamIsCheckedToItsLastPacket() throws {
        // With a Checksum (17-byte header) and without (15 bytes: kept in
        // one move).
        for checksum in [true, false] {
            let b = try nodeB()
            // One stream (meta bytes, version, destination); each packet
            // its own Type and source, so a header kept short would show.
            func fields(_ tag: UInt8) -> FLIPFields {
                FLIPFields(priority: 1, destination: .ipv4(10, 0, 0, 2), type: 0x8800 | UInt16(tag), source: .ipv4(10, 1, tag, 1),
                           hasLength: true, hasChecksum: checksum)
            }
            func f(_ tag: UInt8) -> [UInt8] { frame(fields(tag), payload: Array(repeating: tag, count: 50), from: Self.macA, to: Self.macB) }
            try b.receive(f(0))
            // Body: meta 0..1, version 2, destination 3..6, Type 7..8,
            // source 9..12, Length 13..14 (Checksum 15..16).
            var bad = f(99)
            if checksum { bad[bad.count - 1] ^= 0xFF } else { bad[14 + 13] = 0xFF }
            var badVersion = f(99)
            badVersion[14 + 2] = 0x11
            var longer = f(99)
            longer[14 + 14] &+= 1
            var otherFields = fields(99)
            otherFields.destination = .ipv4(10, 0, 0, 9)
            let other = frame(otherFields, payload: Array(repeating: 99, count: 50), from: Self.macA, to: Self.macB)
            try b.receive(burst: [f(1), f(2), f(3), bad, f(4), other, f(5), badVersion, f(6), longer, f(7)])
            // A burst that is one stream's throughout, and one whose last packet is not.
            try b.receive(burst: (8...20).map(f))
            try b.receive(burst: (21...30).map(f) + [bad])
            XCTAssertEqual(b.app.deliveries.map { $0.payload.first }, (0...30).map { UInt8($0) }, "checksum \(checksum)")
            for d in b.app.deliveries {
                XCTAssertEqual(d.fields, fields(d.payload[0]), "packet \(d.payload[0]), checksum \(checksum)")
                XCTAssertEqual(d.payload.count, 50, "packet \(d.payload[0]), checksum \(checksum)")
                XCTAssertEqual(d.linkSource, Self.macA, "packet \(d.payload[0]), checksum \(checksum)")
            }
            XCTAssertTrue(try b.registry.show("f").details.joined().contains("delivered=31 "), "checksum \(checksum)")
            XCTAssertEqual(b.drops(.checksum), checksum ? 2 : 0, "checksum \(checksum)")
            XCTAssertEqual(b.drops(.malformed), checksum ? 2 : 4, "version nibble and Length, checksum \(checksum)")
            XCTAssertEqual(b.drops(.noRoute), 1, "checksum \(checksum)")
        }
    }

    /// The engine remembers the last stream it delivered (meta bytes and
    /// destination) under the configuration in force: a new address list
    /// must be obeyed from the next packet on.
    func testANewAddressListEndsTheRememberedStream() throws {
        let b = try nodeB()
        let f = hexBytes(Self.v2)
        try b.receive(f)
        try b.receive(f)
        XCTAssertEqual(b.app.deliveries.count, 2)
        try b.registry.set("f", "address=10.0.0.9")
        try b.receive(f)
        XCTAssertEqual(b.app.deliveries.count, 2)
        XCTAssertEqual(b.drops(.noRoute), 1)
        try b.registry.set("f", "address=10.0.0.2")
        try b.receive(f)
        XCTAssertEqual(b.app.deliveries.count, 3)
    }

    func testNotLocalIsNoRouteUnlessForwarding() throws {
        let b = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.9")
        try b.receive(hexBytes(Self.v2))
        XCTAssertEqual(b.drops(.noRoute), 1)
        XCTAssertTrue(b.app.deliveries.isEmpty)
        XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
    }

    func testForwardsV4IntoV4FAndDropsV4FAtTTL1() throws {
        let b = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.9", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.2@02:00:00:00:00:03"])
        try b.receive(hexBytes(Self.v4))
        XCTAssertEqual(b.wire.frames, [hexBytes(Self.v4f)])
        XCTAssertTrue(b.app.deliveries.isEmpty)
        XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
        // At the next hop, another forwarder drops it: TTL 1.
        let c = try FLIPTestNode(mac: Self.macC, flipAddresses: "10.0.0.9", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.2@02:00:00:00:00:04"])
        try c.receive(hexBytes(Self.v4f))
        XCTAssertEqual(c.drops(.ttlExpired), 1)
        XCTAssertTrue(c.wire.frames.isEmpty)
        XCTAssertTrue(try c.registry.show("f").details.joined().contains("ttl-expired=1"))
    }

    /// Without a TTL field a packet is forwarded unchanged (docs/flip.md
    /// §7): only the Ethernet header is new; broadcasts are never forwarded.
    /// Forwarding takes the same per-engine shape path as delivery: every
    /// packet of every shape, first of its stream or not, must leave as the
    /// full path makes it — TTL down by one, a valid checksum, every other
    /// byte as received — and one with TTL 1 must still be dropped.
    func testStreamsOfEveryShapeAreForwardedAsTheFullPathDoes() throws {
        let f = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.9", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.2@02:00:00:00:00:03,0xabcd@02:00:00:00:00:03"])
        var rng = SplitMix64(seed: 0xF0A4D)
        let destinations: [FLIPAddress] = [.ipv4(10, 0, 0, 2), FLIPAddress([0xab, 0xcd])!]
        var expected: [[UInt8]] = []
        for round in 0..<48 {
            let fields = FLIPFields(
                priority: round % 3 == 0 ? UInt8(rng.next() % 16) : nil, destination: destinations[round % 2],
                type: round % 4 < 2 ? 0x88b5 : nil, ttl: round % 5 == 4 ? nil : 9,
                flow: round % 7 == 0 ? 0xdead_beef : nil, source: .ipv4(10, 0, 0, 1),
                hasLength: round % 6 != 0, hasChecksum: round % 3 != 2)
            for _ in 0..<3 {
                let payload = (0..<Int(46 + rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let input = frame(fields, payload: payload, from: Self.macA, to: Self.macB)
                try f.receive(input)
                var body = Array(input.dropFirst(14))
                guard case .packet(let h) = body.withUnsafeBytes({ FLIPHeader.parse($0) }) else {
                    return XCTFail("round \(round) does not parse")
                }
                if h.ttlOffset >= 0 {
                    body[h.ttlOffset] -= 1
                    if h.checksumOffset >= 0 {
                        body[h.checksumOffset] = 0
                        body[h.checksumOffset + 1] = 0
                        let c = body.withUnsafeBytes { FLIPChecksum.reference($0.baseAddress!, count: h.packetLength, skipping: h.checksumOffset) }
                        body[h.checksumOffset] = UInt8(c >> 8)
                        body[h.checksumOffset + 1] = UInt8(c & 0xFF)
                    }
                }
                expected.append(Self.macC.bytes + Self.macB.bytes + [0x20, 0x20] + body.prefix(h.packetLength))
            }
        }
        XCTAssertEqual(f.wire.frames.count, expected.count)
        for (i, (got, want)) in zip(f.wire.frames, expected).enumerated() where got != want {
            XCTFail("frame \(i): \(hexString(got)) != \(hexString(want))")
            break
        }
        // TTL 1 on a stream's shape: dropped, counted.
        let last = FLIPFields(destination: .ipv4(10, 0, 0, 2), ttl: 9, source: .ipv4(10, 0, 0, 1), hasLength: true, hasChecksum: true)
        try f.receive(frame(last, payload: Array(repeating: 1, count: 50), from: Self.macA, to: Self.macB))
        var expiring = last
        expiring.ttl = 1
        try f.receive(frame(expiring, payload: Array(repeating: 1, count: 50), from: Self.macA, to: Self.macB))
        XCTAssertEqual(f.drops(.ttlExpired), 1)
        XCTAssertEqual(f.wire.frames.count, expected.count + 1)
    }

    func testForwardsWithoutTTLUnchangedAndNeverForwardsBroadcast() throws {
        let b = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.9", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.2@02:00:00:00:00:03"])
        try b.receive(hexBytes(Self.v2))  // V2: no TTL, checksum
        XCTAssertEqual(b.wire.frames, [hexBytes("020000000003" + "020000000002" + Self.v2.dropFirst(24))])
        let broadcast = FLIPFields(destination: .broadcast(.ipv4), ttl: 5, source: .ipv4(10, 0, 0, 1), hasChecksum: true)
        try b.receive(frame(broadcast, payload: [9], from: Self.macA, to: .broadcast))
        XCTAssertEqual(b.wire.frames.count, 1, "a broadcast is delivered, never forwarded")
        XCTAssertEqual(b.app.deliveries.map(\.payload), [[9]])
    }

    func testForwardingTrimsLinkPadding() throws {
        let b = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.9", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.2@02:00:00:00:00:03"])
        try b.receive(padded(Self.v4, to: 64))
        XCTAssertEqual(b.wire.frames, [hexBytes(Self.v4f)])
    }

    func testNegativeVectorsAreDroppedWithTheirReason() throws {
        let b = try nodeB()
        let cases: [(String, DropReason)] = [
            ("80808000", .malformed), ("808001", .malformed),
            ("94580a00000200000a000001001513bd68656c6c6e", .checksum), ("800168", .malformed),
            ("20106869", .malformed), ("94580a00000200000a000001003013bd68656c6c6f", .malformed),
            ("c060", .malformed),  // truncated... no: a 14-bit ESP is 2 bytes; see below
        ]
        for (body, _) in cases.dropLast() { try b.receive(hexBytes("020000000002020000000001" + "2020" + body)) }
        XCTAssertEqual(b.drops(.checksum), 1)
        XCTAssertEqual(b.drops(.malformed), 5)
        XCTAssertTrue(b.app.deliveries.isEmpty)
        // A 14-bit ESP cut to one byte, and a fragment that is not the whole packet.
        try b.receive(hexBytes("020000000002020000000001" + "2020" + "c1"))
        try b.receive(hexBytes("020000000002020000000001" + "2020" + "808040" + "0008" + "78"))
        XCTAssertEqual(b.drops(.malformed), 6)
        XCTAssertEqual(b.drops(.fragment), 1)
        let show = try b.registry.show("f").details.joined(separator: "\n")
        XCTAssertTrue(show.contains("malformed=6") && show.contains("checksum=1") && show.contains("fragment=1"), show)
        XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
    }

    // MARK: Send

    func nodeA(_ arp: [String] = ["static=10.0.0.2@02:00:00:00:00:02,0x1112131415161718191a1b1c1d1e1f20@02:00:00:00:00:02"]) throws -> FLIPTestNode {
        try FLIPTestNode(mac: Self.macA, flipAddresses: "10.0.0.1,0x0102030405060708090a0b0c0d0e0f10", arpOptions: arp)
    }

    func testSendsV2V3V4ByteForByte() throws {
        let a = try nodeA()
        try a.send(Array("hello".utf8), FLIPMetadata(sending: FLIPFields(
            destination: .ipv4(10, 0, 0, 2), type: 0, source: .ipv4(10, 0, 0, 1), hasLength: true, hasChecksum: true)))
        try a.send(Array("obj".utf8), FLIPMetadata(sending: FLIPFields(
            priority: 5, destination: Self.objectB, type: 0, ttl: 64, source: Self.objectA, hasLength: true, hasChecksum: true)))
        try a.send(Array("x".utf8), FLIPMetadata(sending: FLIPFields(
            priority: 0, destination: .ipv4(10, 0, 0, 2), type: 0x88b5, ttl: 2, flow: 0xdead_beef, source: FLIPAddress([0xab, 0xcd])!,
            hasLength: true, hasChecksum: true, fragmentOffset: 0, dontFragment: true, lastFragment: true)))
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v2), hexBytes(Self.v3), hexBytes(Self.v4)])
    }

    /// Consecutive packets with the same fields reuse the engine's last
    /// header (only Length and Checksum rewritten): every frame must be what
    /// a fresh build gives, whatever the payload length's parity, and new
    /// fields must not get the old header.
    func testRepeatedFieldsGiveTheSameFramesAsAFreshBuild() throws {
        let a = try nodeA(["static=10.0.0.2@02:00:00:00:00:02,0xabcd@02:00:00:00:00:02,"
                           + "0x1112131415161718191a1b1c1d1e1f20@02:00:00:00:00:02"])
        var rng = SplitMix64(seed: 0xCAC4E)
        let destinations: [FLIPAddress] = [.ipv4(10, 0, 0, 2), FLIPAddress([0xab, 0xcd])!, Self.objectB]
        var expected: [[UInt8]] = []
        for round in 0..<60 {
            let fields = FLIPFields(
                priority: round % 3 == 0 ? UInt8(rng.next() % 16) : nil, destination: destinations[round / 20],
                type: round % 2 == 0 ? 0x88b5 : nil, ttl: round % 4 < 2 ? 9 : nil,
                flow: round % 5 == 0 ? 0xdead_beef : nil, source: round % 7 < 3 ? .ipv4(10, 0, 0, 1) : Self.objectA,
                hasLength: round % 6 != 0, hasChecksum: round % 3 != 2)
            for _ in 0..<3 {
                let payload = (0..<Int(rng.next() % 40)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                try a.send(payload, FLIPMetadata(sending: fields))
                expected.append(FLIPBlockTests.macB.bytes + FLIPBlockTests.macA.bytes + [0x20, 0x20]
                                + frame(fields, payload: payload, from: .zero, to: .zero).dropFirst(14))
            }
        }
        XCTAssertEqual(a.wire.frames.count, expected.count)
        for (i, (got, want)) in zip(a.wire.frames, expected).enumerated() where got != want {
            XCTFail("frame \(i): \(hexString(got)) != \(hexString(want))")
            break
        }
    }

    func hexString(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    func testSendsESPsToBroadcast() throws {
        let a = try nodeA()
        try a.send([], FLIPMetadata(sendingESP: FLIPESP(value: 42, width: 6)))
        try a.send([], FLIPMetadata(sendingESP: FLIPESP(value: 0x1234, width: 14)))
        XCTAssertEqual(a.wire.frames, [hexBytes(Self.v5), hexBytes(Self.v6)])
    }

    func testSendWithoutMetadataOrTooLongIsRefused() throws {
        let a = try nodeA()
        try a.graph.send(Array("raw".utf8), to: "f", direction: .egress)
        a.graph.run()
        try a.send([UInt8](repeating: 1, count: 1495), FLIPMetadata(sending: FLIPFields(destination: .ipv4(10, 0, 0, 2), hasChecksum: true)))
        XCTAssertTrue(a.wire.frames.isEmpty)
        XCTAssertEqual(a.drops(.oversize), 1)
        XCTAssertEqual(a.graph.poolAvailable, a.graph.poolCapacity)
        XCTAssertTrue(try a.registry.show("f").details.joined().contains("send-refused=2"))
    }

    /// A buffer's previous packet leaves its metadata in the annotation
    /// area; a packet sent down without metadata of its own must not be
    /// sent with it (nor rewritten as if it were a forwarded frame).
    func testStaleMetadataOfAReusedBufferIsNeverTrusted() throws {
        let b = try FLIPTestNode(mac: Self.macB, flipAddresses: "10.0.0.2", options: ["forward=on"],
                                 arpOptions: ["static=10.0.0.7@02:00:00:00:00:07,10.0.0.1@02:00:00:00:00:01"])
        _ = try b.registry.add("sink", type: "capture")
        try b.registry.unbind("app", "f")
        try b.registry.bind("sink", "f")
        try b.receive(hexBytes(Self.v2))                                   // delivered: metadata written
        let passing = FLIPFields(destination: .ipv4(10, 0, 0, 7), ttl: 5, hasLength: true, hasChecksum: true)
        try b.receive(frame(passing, payload: [1, 2, 3], from: Self.macA, to: Self.macB))  // forwarded
        XCTAssertEqual(b.graph.captured("sink").count, 1)
        XCTAssertEqual(b.wire.frames.count, 1)
        for _ in 0..<4 {
            try b.graph.send(Array("raw".utf8), to: "f", direction: .egress)
            b.graph.run()
        }
        XCTAssertEqual(b.wire.frames.count, 1, "nothing sent for packets without metadata")
        XCTAssertTrue(try b.registry.show("f").details.joined().contains("send-refused=4"))
        XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
    }

    func testEchoAnswersToTheSourceAndNeverAnswersItsReplyType() throws {
        let b = try nodeB(arp: ["static=10.0.0.1@02:00:00:00:00:01"])
        _ = try b.registry.add("e", type: "echo")
        try b.registry.bind("e", "f", port: "up.type.0x88b5")
        // Type 0x88b5 from 10.0.0.1 to 10.0.0.2, TTL 7, checksum.
        let request = FLIPFields(destination: .ipv4(10, 0, 0, 2), type: 0x88b5, ttl: 7, source: .ipv4(10, 0, 0, 1),
                                 hasLength: true, hasChecksum: true)
        try b.receive(frame(request, payload: Array("ping".utf8), from: Self.macA, to: Self.macB))
        let reply = try XCTUnwrap(b.wire.frames.first)
        XCTAssertEqual(Array(reply[0..<12]), Self.macA.bytesForTest + Self.macB.bytesForTest)
        let parsed = Array(reply[14...]).withUnsafeBytes { FLIPHeader.parse($0) }
        guard case .packet(let h) = parsed else { return XCTFail("\(parsed)") }
        XCTAssertEqual(h.fields.destination, .ipv4(10, 0, 0, 1))
        XCTAssertEqual(h.fields.source, .ipv4(10, 0, 0, 2))
        XCTAssertEqual(h.fields.type, 0x88b6)
        XCTAssertEqual(h.fields.ttl, 64)
        XCTAssertEqual(Array(reply[(14 + h.headerLength)...]), Array("ping".utf8))
        // Its own reply Type is not answered.
        try b.registry.unbind("e", "f")
        try b.registry.bind("e", "f", port: "up.type.0x88b6")
        var again = request
        again.type = 0x88b6
        try b.receive(frame(again, payload: [1], from: Self.macA, to: Self.macB))
        XCTAssertEqual(b.wire.frames.count, 1)
        XCTAssertEqual(b.graph.poolAvailable, b.graph.poolCapacity)
    }

    func frame(_ fields: FLIPFields, payload: [UInt8], from: MACAddress, to: MACAddress) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: fields.headerLength) + payload
        _ = body.withUnsafeMutableBytes { try! fields.write(into: $0, payloadLength: payload.count) }
        return to.bytesForTest + from.bytesForTest + [0x20, 0x20] + body
    }
}

extension MACAddress {
    var bytesForTest: [UInt8] { bytes }
}
