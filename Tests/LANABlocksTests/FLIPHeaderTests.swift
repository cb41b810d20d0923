import LANABlocks
import LANATestSupport
import XCTest

/// The FLIP header codec against the vectors listed in docs/flip.md: each is
/// decoded to its fields and, where a sender produces it, re-built byte for byte.
final class FLIPHeaderTests: XCTestCase, FLIPSpecVectors {
    static let ipA = FLIPAddress.ipv4(10, 0, 0, 1)
    static let ipB = FLIPAddress.ipv4(10, 0, 0, 2)

    func hex(_ s: String) -> [UInt8] { hexBytes(s) }

    /// Splits a frame into (dst, src, EtherType, body).
    func split(_ frame: String) -> (dst: [UInt8], src: [UInt8], etherType: UInt16, body: [UInt8]) {
        let b = hex(frame)
        return (Array(b[0..<6]), Array(b[6..<12]), UInt16(b[12]) << 8 | UInt16(b[13]), Array(b[14...]))
    }

    func parse(_ body: [UInt8], arp: Bool = false) -> FLIPParseResult {
        body.withUnsafeBytes { FLIPHeader.parse($0, arp: arp) }
    }

    func header(_ body: [UInt8], arp: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws -> FLIPHeader {
        guard case .packet(let h) = parse(body, arp: arp) else {
            XCTFail("expected a packet, got \(parse(body, arp: arp))", file: file, line: line)
            throw NotAPacket()
        }
        return h
    }

    func build(_ fields: FLIPFields, payload: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: fields.headerLength + payload.count)
        out.replaceSubrange(fields.headerLength..., with: payload)
        let n = try out.withUnsafeMutableBytes { try fields.write(into: $0, payloadLength: payload.count) }
        XCTAssertEqual(n, out.count)
        return out
    }

    func testV1MinimalData() throws {
        let f = split(Self.v1)
        XCTAssertEqual(f.etherType, 0x2020)
        let h = try header(f.body)
        XCTAssertEqual(h.fields, FLIPFields())
        XCTAssertEqual(h.headerLength, 1)
        XCTAssertEqual(Array(f.body[h.payloadRange]), Array("hi".utf8))
        XCTAssertEqual(try build(FLIPFields(), payload: Array("hi".utf8)), f.body)
        // Padded to 60 bytes: without Length the padding is payload.
        let padded = f.body + [UInt8](repeating: 0, count: 60 - 14 - f.body.count)
        let p = try header(padded)
        XCTAssertEqual(Array(padded[p.payloadRange]), Array("hi".utf8) + [UInt8](repeating: 0, count: 43))
    }

    static let v2Fields = FLIPFields(destination: ipB, type: 0, source: ipA, hasLength: true, hasChecksum: true)

    func testV2IPv4TypeLengthChecksum() throws {
        let f = split(Self.v2)
        let h = try header(f.body)
        XCTAssertEqual(h.fields, Self.v2Fields)
        XCTAssertEqual(h.meta.0, 0x94)
        XCTAssertEqual(h.meta.1, 0x58)
        XCTAssertEqual(h.length, 21)
        XCTAssertEqual(h.checksum, 0x13bd)
        XCTAssertEqual(h.headerLength, 16)
        XCTAssertEqual(Array(f.body[h.payloadRange]), Array("hello".utf8))
        XCTAssertEqual(try build(Self.v2Fields, payload: Array("hello".utf8)), f.body)
    }

    func testV3ObjectIDsPriorityTTL() throws {
        let f = split(Self.v3)
        let fields = FLIPFields(
            priority: 5, destination: Self.objectB, type: 0, ttl: 64, source: Self.objectA,
            hasLength: true, hasChecksum: true)
        let h = try header(f.body)
        XCTAssertEqual(h.fields, fields)
        XCTAssertEqual(h.length, 45)
        XCTAssertEqual(h.checksum, 0x59ae)
        XCTAssertEqual(h.headerLength, 42)
        XCTAssertEqual(Array(f.body[h.payloadRange]), Array("obj".utf8))
        XCTAssertEqual(try build(fields, payload: Array("obj".utf8)), f.body)
    }

    func testV4ThreeMetaBytesOddChecksumOffset() throws {
        let f = split(Self.v4)
        let fields = FLIPFields(
            priority: 0, destination: Self.ipB, type: 0x88B5, ttl: 2, flow: 0xdead_beef,
            source: FLIPAddress([0xab, 0xcd])!, hasLength: true, hasChecksum: true,
            fragmentOffset: 0, dontFragment: true, lastFragment: true)
        let h = try header(f.body)
        XCTAssertEqual(h.fields, fields)
        XCTAssertEqual(h.metaLength, 3)
        XCTAssertEqual(h.length, 24)
        XCTAssertEqual(h.checksum, 0xcfc9)
        XCTAssertEqual(h.checksumOffset, 19)
        XCTAssertEqual(h.headerLength, 23)
        XCTAssertEqual(Array(f.body[h.payloadRange]), Array("x".utf8))
        XCTAssertEqual(try build(fields, payload: Array("x".utf8)), f.body)
    }

    func testV4ForwardedIsV4FAndThenExpires() throws {
        var body = split(Self.v4).body
        let h = try header(body)
        XCTAssertEqual(body.withUnsafeMutableBytes { h.forward($0) }, .decremented)
        XCTAssertEqual(body, split(Self.v4f).body, "only TTL and checksum change")
        let again = try header(body)
        XCTAssertEqual(again.fields.ttl, 1)
        XCTAssertEqual(again.checksum, 0xd0c9)
        let before = body
        XCTAssertEqual(body.withUnsafeMutableBytes { again.forward($0) }, .drop(.ttlExpired))
        XCTAssertEqual(body, before, "a dropped packet is not rewritten")
        XCTAssertEqual(FLIPDropReason.ttlExpired.counterName, "ttl-expired")
    }

    func testForwardingWithoutTTLLeavesThePacketAlone() throws {
        var body = split(Self.v2).body
        let before = body
        let h = try header(body)
        XCTAssertEqual(body.withUnsafeMutableBytes { h.forward($0) }, .unchanged)
        XCTAssertEqual(body, before)
    }

    func testV5V6ESP() throws {
        let v5 = split(Self.v5)
        XCTAssertEqual(parse(v5.body), .esp(FLIPESP(value: 42, width: 6)))
        let v6 = split(Self.v6)
        XCTAssertEqual(parse(v6.body), .esp(FLIPESP(value: 0x1234, width: 14)))
        for (esp, body) in [(FLIPESP(value: 42, width: 6), v5.body), (FLIPESP(value: 0x1234, width: 14), v6.body)] {
            var out = [UInt8](repeating: 0, count: 2)
            let n = try out.withUnsafeMutableBytes { try esp.write(into: $0) }
            XCTAssertEqual(Array(out[..<n]), body)
        }
        // Padding after an ESP is ignored; a 14-bit ESP needs its second byte.
        XCTAssertEqual(parse([0x6a] + [UInt8](repeating: 0, count: 45)), .esp(FLIPESP(value: 42, width: 6)))
        XCTAssertEqual(parse([0xd2]), .drop(.truncated))
        var one = [UInt8](repeating: 0, count: 1)
        XCTAssertThrowsError(try one.withUnsafeMutableBytes { try FLIPESP(value: 64, width: 6).write(into: $0) })
    }

    func testV7ToV10ARPOverFLIP() throws {
        let cases: [(String, FLIPFields)] = [
            (Self.v7,
             FLIPFields(destination: Self.ipB, source: Self.ipA, dontFragment: true, arpRequest: true)),
            (Self.v8,
             FLIPFields(destination: Self.ipA, source: Self.ipB, dontFragment: true, arpReply: true)),
            (Self.v9,
             FLIPFields(destination: Self.objectB, source: Self.objectA, dontFragment: true, arpRequest: true)),
            (Self.v10,
             FLIPFields(destination: Self.objectA, source: Self.objectB, dontFragment: true, arpReply: true)),
        ]
        for (frame, fields) in cases {
            let f = split(frame)
            XCTAssertEqual(f.etherType, 0x0806)
            XCTAssertEqual(try header(f.body, arp: true).fields, fields)
            XCTAssertEqual(try build(fields, payload: []), f.body)
            XCTAssertEqual(parse(f.body), .drop(.arpFlagInData), "Q/P refused outside ARP")
        }
    }

    func testV14PaddedLengthTrims() throws {
        let f = split(Self.v14)
        XCTAssertEqual(f.body.count, 46)
        let h = try header(f.body)
        XCTAssertEqual(h.fields, Self.v2Fields)
        XCTAssertEqual(h.packetLength, 21)
        XCTAssertEqual(h.checksum, 0x13bd)
        XCTAssertEqual(Array(f.body[h.payloadRange]), Array("hello".utf8))
    }

    func testNegativeVectorsAreDroppedWithTheirReason() {
        let cases: [(String, FLIPDropReason, String)] = [
            ("80808000", .fourthMetaByte, "malformed"),
            ("808001", .reservedBit, "malformed"),
            ("94580a00000200000a000001001513bd68656c6c6e", .checksum, "checksum"),
            ("800168", .arpFlagInData, "malformed"),
            ("20106869", .version, "malformed"),
            ("94580a00000200000a000001003013bd68656c6c6f", .length, "malformed"),
        ]
        for (body, reason, counter) in cases {
            XCTAssertEqual(parse(hex(body)), .drop(reason), body)
            XCTAssertEqual(reason.counterName, counter)
        }
    }

    func testFurtherRefusals() {
        XCTAssertEqual(parse([]), .drop(.emptyBody))
        XCTAssertEqual(parse([0x80]), .drop(.truncated), "C1 without a second byte")
        XCTAssertEqual(parse([0x90, 0x00, 0x0a]), .drop(.truncated), "body shorter than hlen")
        XCTAssertEqual(parse([0x80, 0x90, 0x00, 0x00, 0x01]), .drop(.length), "Length below hlen")
        XCTAssertEqual(parse([0x80, 0x80, 0x40, 0x00, 0x00]), .drop(.fragment), "offset 0 without Z")
        XCTAssertEqual(parse([0x80, 0x80, 0x60, 0x00, 0x08]), .drop(.fragment), "a later fragment")
        // Non-minimal forms are accepted: an empty meta byte 2.
        XCTAssertEqual(parse([0x80, 0x00, 0x68]).packet?.fields, FLIPFields())
        // Checks run in receive order: a bad version wins over a bad Length.
        XCTAssertEqual(parse([0xa0, 0x10, 0x10, 0xff, 0xff]), .drop(.version))
    }

    func testBuildRefusesWhatItCannotWrite() {
        var small = [UInt8](repeating: 0, count: 4)
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try Self.v2Fields.write(into: $0, payloadLength: 0) }) {
            XCTAssertEqual($0 as? FLIPBuildError, .bufferTooSmall(needed: 16, available: 4))
        }
        XCTAssertThrowsError(try small.withUnsafeMutableBytes { try FLIPFields(priority: 16).write(into: $0, payloadLength: 0) }) {
            XCTAssertEqual($0 as? FLIPBuildError, .priority(16))
        }
    }

    /// Random valid headers survive build then parse unchanged, and the
    /// forwarding update keeps the checksum valid.
    func testRoundTripOfRandomHeaders() throws {
        var rng = SplitMix64(seed: 0x464c_4950)
        let kinds = FLIPAddress.Kind.allCases
        func address() -> FLIPAddress? {
            let pick = Int(rng.next() % 4)
            guard pick > 0 else { return nil }
            let kind = kinds[pick - 1]
            return FLIPAddress((0..<kind.size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })!
        }
        func maybe<T>(_ make: () -> T) -> T? { rng.next() & 1 == 0 ? nil : make() }
        for round in 0..<2000 {
            let whole = rng.next() & 3 == 0
            let checksum = rng.next() & 1 == 0
            let fields = FLIPFields(
                priority: maybe { UInt8(truncatingIfNeeded: rng.next() & 0x0F) },
                destination: address(),
                type: maybe { UInt16(truncatingIfNeeded: rng.next()) },
                ttl: maybe { UInt8(truncatingIfNeeded: rng.next()) },
                flow: maybe { UInt32(truncatingIfNeeded: rng.next()) },
                source: address(),
                hasLength: checksum || rng.next() & 1 == 0,
                hasChecksum: checksum,
                fragmentOffset: whole ? 0 : nil,
                dontFragment: rng.next() & 1 == 0,
                lastFragment: whole)
            let payload = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var packet = try build(fields, payload: payload)
            let h = try header(packet)
            XCTAssertEqual(h.fields, fields, "round \(round)")
            XCTAssertEqual(h.headerLength, fields.headerLength, "round \(round)")
            XCTAssertEqual(h.metaLength, fields.metaLength, "round \(round)")
            XCTAssertEqual(Array(packet[h.payloadRange]), payload, "round \(round)")
            if let ttl = fields.ttl, ttl > 1 {
                XCTAssertEqual(packet.withUnsafeMutableBytes { h.forward($0) }, .decremented)
                XCTAssertEqual(try header(packet).fields.ttl, ttl - 1, "forwarded packet still valid, round \(round)")
            }
        }
    }
    /// The word-at-a-time checksum against the reference, over random
    /// bytes, lengths, alignments and skipped fields.
    func testChecksumMatchesTheReference() {
        var rng = SplitMix64(seed: 0x1071)
        for round in 0..<20_000 {
            let count = Int(rng.next() % 1600) + 1
            let offset = Int(rng.next() % 8)
            var bytes = (0..<(count + offset)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            if round % 7 == 0 { for j in bytes.indices { bytes[j] = 0xFF } }
            let skip = count >= 2 && rng.next() % 3 != 0 ? Int(rng.next() % UInt64(count - 1)) : -1
            // All zeros around a skipped field: never a FLIP packet (see compute).
            let rest = bytes[offset...].enumerated().filter { skip < 0 || ($0.offset != skip && $0.offset != skip + 1) }
            if skip >= 0 && rest.allSatisfy({ $0.element == 0 }) { continue }
            bytes.withUnsafeBytes { raw in
                let base = raw.baseAddress! + offset
                XCTAssertEqual(FLIPChecksum.compute(base, count: count, skipping: skip),
                               FLIPChecksum.reference(base, count: count, skipping: skip),
                               "round \(round): \(count) bytes at +\(offset), skipping \(skip)")
            }
        }
    }

    /// Forwarding updates the checksum incrementally: it must equal a full
    /// recomputation for every packet, whatever the TTL's offset parity.
    func testForwardingChecksumEqualsAFullRecomputation() throws {
        var rng = SplitMix64(seed: 0x1624)
        let kinds: [FLIPAddress.Kind?] = [nil, .short, .ipv4, .objectID]
        for round in 0..<5_000 {
            func address() -> FLIPAddress? {
                kinds[Int(rng.next() % 4)].map { k in FLIPAddress((0..<k.size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })! }
            }
            let fields = FLIPFields(
                priority: rng.next() % 2 == 0 ? UInt8(rng.next() % 16) : nil, destination: address(),
                type: rng.next() % 2 == 0 ? UInt16(truncatingIfNeeded: rng.next()) : nil,
                ttl: UInt8(2 + rng.next() % 254), flow: rng.next() % 2 == 0 ? UInt32(truncatingIfNeeded: rng.next()) : nil,
                source: address(), hasLength: true, hasChecksum: true)
            let payload = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            var body = try build(fields, payload: payload)
            let h = try header(body)
            XCTAssertEqual(body.withUnsafeMutableBytes { h.forward($0) }, .decremented)
            let stored = UInt16(body[h.checksumOffset]) << 8 | UInt16(body[h.checksumOffset + 1])
            let full = body.withUnsafeBytes { FLIPChecksum.reference($0.baseAddress!, count: body.count, skipping: h.checksumOffset) }
            XCTAssertEqual(stored, full, "round \(round): TTL at \(h.ttlOffset)")
            XCTAssertEqual(body[h.ttlOffset], fields.ttl! - 1)
        }
    }

}

extension FLIPParseResult {
    var packet: FLIPHeader? {
        if case .packet(let h) = self { return h }
        return nil
    }
}

struct NotAPacket: Error {
}
