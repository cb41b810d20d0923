import LANABlocks
import LANAPosix
import LANATestSupport
import XCTest

/// The ARP codec against the vectors V7–V13 of docs/flip.md: each body decodes
/// to its message, the messages LANA sends for the same inputs are the
/// vectors' frames byte for byte, and every malformed body is refused with
/// its reason.
final class ARPMessageTests: XCTestCase, FLIPSpecVectors {
    static let ipA = FLIPAddress.ipv4(10, 0, 0, 1)
    static let ipB = FLIPAddress.ipv4(10, 0, 0, 2)

    struct Frame {
        var destination: MACAddress
        var source: MACAddress
        var etherType: UInt16
        var body: [UInt8]
    }

    func split(_ frame: String) -> Frame {
        let b = hexBytes(frame)
        return Frame(
            destination: MACAddress(Array(b[0..<6])), source: MACAddress(Array(b[6..<12])),
            etherType: UInt16(b[12]) << 8 | UInt16(b[13]), body: Array(b[14...]))
    }

    func parse(_ body: [UInt8], from source: MACAddress = macA) -> ARPMessage.ParseResult {
        body.withUnsafeBytes { ARPMessage.parse($0, ethernetSource: source) }
    }

    func message(_ frame: Frame, file: StaticString = #filePath, line: UInt = #line) throws -> ARPMessage {
        guard case .message(let m) = parse(frame.body, from: frame.source) else {
            XCTFail("expected a message, got \(parse(frame.body, from: frame.source))", file: file, line: line)
            throw NotAMessage()
        }
        return m
    }

    /// The frame that carries `message`: Ethernet destination and source,
    /// EtherType 0x0806 and the body it writes. Bytes past the returned
    /// length must stay untouched.
    func frame(of message: ARPMessage, file: StaticString = #filePath, line: UInt = #line) -> [UInt8] {
        var body = [UInt8](repeating: 0xEE, count: ARPMessage.maximumBodyLength + 4)
        let n = body.withUnsafeMutableBytes { message.write(into: $0) }
        XCTAssertEqual(n, message.bodyLength, file: file, line: line)
        XCTAssertLessThanOrEqual(n, ARPMessage.maximumBodyLength, file: file, line: line)
        XCTAssertEqual(body[n...].filter { $0 != 0xEE }, [], "written past the body", file: file, line: line)
        return message.ethernetDestination.bytes + message.senderMAC.bytes + [0x08, 0x06] + body[..<n]
    }

    func testVectorsDecode() throws {
        let cases: [(String, String, ARPMessage)] = [
            ("V7", Self.v7, ARPMessage(encoding: .flip, isRequest: true, senderAddress: Self.ipA, senderMAC: Self.macA,
                                      targetAddress: Self.ipB, targetMAC: .zero)),
            ("V8", Self.v8, ARPMessage(encoding: .flip, isRequest: false, senderAddress: Self.ipB, senderMAC: Self.macB,
                                      targetAddress: Self.ipA, targetMAC: .zero)),
            ("V9", Self.v9, ARPMessage(encoding: .flip, isRequest: true, senderAddress: Self.objectA,
                                      senderMAC: Self.macA, targetAddress: Self.objectB, targetMAC: .zero)),
            ("V10", Self.v10, ARPMessage(encoding: .flip, isRequest: false, senderAddress: Self.objectB,
                                        senderMAC: Self.macB, targetAddress: Self.objectA, targetMAC: .zero)),
            ("V11", Self.v11, ARPMessage(encoding: .rfc826, isRequest: true, senderAddress: Self.ipA,
                                        senderMAC: Self.macA, targetAddress: Self.ipB, targetMAC: .zero)),
            ("V12", Self.v12, ARPMessage(encoding: .rfc826, isRequest: false, senderAddress: Self.ipB,
                                        senderMAC: Self.macB, targetAddress: Self.ipA, targetMAC: Self.macA)),
            ("V13", Self.v13, ARPMessage(encoding: .rfc826, isRequest: true, senderAddress: Self.ipA,
                                        senderMAC: Self.macA, targetAddress: Self.ipB, targetMAC: .zero)),
        ]
        for (name, text, expected) in cases {
            let f = split(text)
            XCTAssertEqual(f.etherType, 0x0806, name)
            XCTAssertEqual(try message(f), expected, name)
        }
        XCTAssertEqual(split(Self.v13).body.count, 46, "V13 is padded to the minimum frame")
        XCTAssertEqual(try message(split(Self.v13)), try message(split(Self.v11)))
        // The ARP-over-FLIP sender MAC is the frame's source, not anything in the body.
        XCTAssertEqual(parse(split(Self.v7).body, from: Self.macB), .message(
            ARPMessage(encoding: .flip, isRequest: true, senderAddress: Self.ipA, senderMAC: Self.macB,
                       targetAddress: Self.ipB, targetMAC: .zero)))
    }

    func testRequestsAndRepliesAreTheVectorsByteForByte() throws {
        let v7 = ARPMessage.request(encoding: .flip, sender: Self.ipA, senderMAC: Self.macA, target: Self.ipB)
        XCTAssertEqual(frame(of: v7), hexBytes(Self.v7))
        let v9 = ARPMessage.request(encoding: .flip, sender: Self.objectA, senderMAC: Self.macA, target: Self.objectB)
        XCTAssertEqual(frame(of: v9), hexBytes(Self.v9))
        let v11 = ARPMessage.request(encoding: .rfc826, sender: Self.ipA, senderMAC: Self.macA, target: Self.ipB)
        XCTAssertEqual(frame(of: v11), hexBytes(Self.v11))

        // Replies to the requests as received (decoded from the vectors).
        for (request, reply) in [(Self.v7, Self.v8), (Self.v9, Self.v10), (Self.v11, Self.v12), (Self.v13, Self.v12)] {
            let received = try message(split(request))
            XCTAssertEqual(frame(of: received.reply(responderMAC: Self.macB)), hexBytes(reply), request)
        }

        // The static writers produce the same bodies.
        for (encoding, sender, target, vector) in [(ARPEncoding.flip, Self.ipA, Self.ipB, Self.v7),
                                                   (.flip, Self.objectA, Self.objectB, Self.v9),
                                                   (.rfc826, Self.ipA, Self.ipB, Self.v11)] {
            var body = [UInt8](repeating: 0, count: ARPMessage.maximumBodyLength)
            let n = body.withUnsafeMutableBytes {
                ARPMessage.writeRequest(encoding: encoding, sender: sender, senderMAC: Self.macA, target: target, into: $0)
            }
            XCTAssertEqual(Array(body[..<n]), split(vector).body, vector)
            let request = try message(split(vector))
            let m = body.withUnsafeMutableBytes { request.writeReply(responderMAC: Self.macB, into: $0) }
            let replyVector = [Self.v7: Self.v8, Self.v9: Self.v10, Self.v11: Self.v12][vector]!
            XCTAssertEqual(Array(body[..<m]), split(replyVector).body, replyVector)
        }
        XCTAssertEqual(ARPMessage.maximumBodyLength, 34)
    }

    func testEthernetDestinations() throws {
        XCTAssertEqual(try message(split(Self.v7)).ethernetDestination, .broadcast)
        XCTAssertEqual(try message(split(Self.v11)).ethernetDestination, .broadcast)
        // A decoded RFC 826 reply names its destination (tha); ARP-over-FLIP does not carry it.
        XCTAssertEqual(try message(split(Self.v12)).ethernetDestination, Self.macA)
        XCTAssertEqual(try message(split(Self.v8)).ethernetDestination, .zero)
        XCTAssertEqual(try message(split(Self.v7)).reply(responderMAC: Self.macB).ethernetDestination, Self.macA)
    }

    /// Every refusal, with its reason; together they reach every reason that
    /// `parse` can give.
    func testRefusalsNameTheirReason() throws {
        let v11 = split(Self.v11).body
        func patched(_ body: [UInt8], _ offset: Int, _ bytes: [UInt8]) -> [UInt8] {
            var b = body
            b.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            return b
        }
        // A FLIP ARP body with a checksum, valid, then with a changed address byte.
        let fields = FLIPFields(destination: Self.ipB, source: Self.ipA, hasChecksum: true, dontFragment: true,
                                arpRequest: true)
        var withChecksum = [UInt8](repeating: 0, count: fields.headerLength)
        try withChecksum.withUnsafeMutableBytes { _ = try fields.write(into: $0, payloadLength: 0) }
        XCTAssertEqual(parse(withChecksum), .message(try message(split(Self.v7))), "K is tolerated and verified")

        let cases: [(String, [UInt8], ARPDropReason, FLIPDropReason?)] = [
            ("empty", [], .unknownEncoding, nil),
            ("one zero byte", [0x00], .unknownEncoding, nil),
            ("00 02", patched(v11, 1, [0x02]), .unknownEncoding, nil),
            ("40 (6-bit ESP)", [0x40] + v11.dropFirst(), .unknownEncoding, nil),
            ("hardware type 6 (IEEE 802)", patched(v11, 0, [0x00, 0x06]), .unknownEncoding, nil),
            ("27 bytes", Array(v11.prefix(27)), .short, nil),
            ("00 01 alone", [0x00, 0x01], .short, nil),
            ("IPv6 protocol type", patched(v11, 2, [0x86, 0xdd]), .protocolType, nil),
            ("hardware length 8", patched(v11, 4, [8]), .hardwareLength, nil),
            ("protocol length 16", patched(v11, 5, [16]), .protocolLength, nil),
            ("operation 0", patched(v11, 6, [0, 0]), .operation, nil),
            ("operation 3", patched(v11, 6, [0, 3]), .operation, nil),
            ("operation 0x0101", patched(v11, 6, [1, 1]), .operation, nil),
            ("bad protocol type and operation", patched(patched(v11, 2, [0x08, 0x06]), 6, [0, 9]), .protocolType, nil),
            ("FLIP truncated", [0x90, 0x46, 0x0a, 0x00], .flipHeader, .truncated),
            ("FLIP C1 without byte 2", [0x90], .flipHeader, .truncated),
            ("FLIP C3", [0x90, 0xc6, 0x80, 0x00], .flipHeader, .fourthMetaByte),
            ("FLIP reserved bit", [0x90, 0xc6, 0x01] + hexBytes("0a0000020a000001"), .flipHeader, .reservedBit),
            ("FLIP version 1", [0xb0, 0x46, 0x10] + hexBytes("0a0000020a000001"), .flipHeader, .version),
            ("FLIP bad checksum", patched(withChecksum, 5, [0x03]), .flipHeader, .checksum),
            ("FLIP later fragment", [0x90, 0xc6, 0x40] + hexBytes("0a0000020a0000010008"), .flipHeader, .fragment),
            ("FLIP without Destination", [0x80, 0x46] + hexBytes("0a000001"), .missingAddress, nil),
            ("FLIP without Source", [0x90, 0x06] + hexBytes("0a000002"), .missingAddress, nil),
            ("14-bit ESP", [0xd2, 0x34], .missingAddress, nil),
            ("FLIP with Q and P", [0x90, 0x47] + hexBytes("0a0000020a000001"), .flags, nil),
            ("FLIP with neither Q nor P", [0x90, 0x44] + hexBytes("0a0000020a000001"), .flags, nil),
            ("FLIP non-minimal, neither", [0x90, 0xc4, 0x00] + hexBytes("0a0000020a000001"), .flags, nil),
        ]
        var seen = Set<ARPDropReason>()
        for (name, body, reason, flipReason) in cases {
            let result = parse(body)
            XCTAssertEqual(result, .drop(reason, flipReason), name)
            if case .drop(let actual, _) = result { seen.insert(actual) }
        }
        XCTAssertEqual(seen, Set(ARPDropReason.allCases).subtracting([.hardwareType]),
                       "hardware type is checked by the classification (00 01)")
        let descriptions = ARPDropReason.allCases.map(\.description)
        XCTAssertEqual(Set(descriptions).count, descriptions.count, "every reason reads differently")
        for text in descriptions { XCTAssertTrue(text.contains("RFC 826") || text.contains("FLIP"), text) }
    }

    func testOptionalFLIPFieldsAndPaddingAreTolerated() throws {
        // TTL, Type, Flow, priority, three meta bytes with a whole-packet
        // offset, a payload and padding: still the V7 request.
        let fields = FLIPFields(
            priority: 3, destination: Self.ipB, type: 0x88b5, ttl: 9, flow: 7, source: Self.ipA, hasLength: true,
            hasChecksum: true, fragmentOffset: 0, lastFragment: true, arpRequest: true)
        var body = [UInt8](repeating: 0x55, count: fields.headerLength + 3)
        try body.withUnsafeMutableBytes { _ = try fields.write(into: $0, payloadLength: 3) }
        body += [UInt8](repeating: 0, count: 20)
        XCTAssertEqual(parse(body), .message(try message(split(Self.v7))))
        // Without N, and padded.
        XCTAssertEqual(parse(hexBytes("90420a0000020a000001") + [0, 0, 0]), .message(try message(split(Self.v7))))
    }

    /// Random requests and their replies, both encodings, every address
    /// size: what is written decodes to the same message, padded or not.
    func testRandomRoundTrips() throws {
        var rng = SplitMix64(seed: 0x4152_5030)
        func mac() -> MACAddress { MACAddress(value: rng.next() >> 16) }
        func address(_ kind: FLIPAddress.Kind) -> FLIPAddress {
            FLIPAddress((0..<kind.size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })!
        }
        let kinds = FLIPAddress.Kind.allCases
        for round in 0..<2000 {
            let encoding: ARPEncoding = rng.next() & 1 == 0 ? .rfc826 : .flip
            let senderKind = encoding == .rfc826 ? .ipv4 : kinds[Int(rng.next() % 3)]
            let targetKind = encoding == .rfc826 ? .ipv4 : kinds[Int(rng.next() % 3)]
            let request = ARPMessage.request(
                encoding: encoding, sender: address(senderKind), senderMAC: mac(), target: address(targetKind))
            let reply = request.reply(responderMAC: mac())
            for m in [request, reply] {
                var body = [UInt8](repeating: 0, count: m.bodyLength)
                XCTAssertEqual(body.withUnsafeMutableBytes { m.write(into: $0) }, body.count)
                body += (0..<Int(rng.next() % 20)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                var expected = m
                if encoding == .flip { expected.targetMAC = .zero }
                XCTAssertEqual(parse(body, from: m.senderMAC), .message(expected), "round \(round)")
            }
            XCTAssertEqual(reply.senderAddress, request.targetAddress)
            XCTAssertEqual(reply.targetAddress, request.senderAddress)
            XCTAssertEqual(reply.ethernetDestination, request.senderMAC)
        }
    }
}

struct NotAMessage: Error {}
