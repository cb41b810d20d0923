import SystemPackage
import XCTest

@testable import LANAControl

/// Encoding and decoding of requests, and the exact bytes on the wire.
final class ControlRequestCodingTests: XCTestCase {
    /// One request of every command, with every field its command takes.
    static let everyCommand: [ControlRequest] = [
        .add(name: "c1", type: "counter"),
        .remove(name: "c1"),
        .set(name: "f1", option: "bpf={ 0x28, 0, 0, 0x0000000c },"),
        .bind("a", onTopOf: "b"),
        .unbind("a", from: "b"),
        .replace("old", with: "new"),
        .replace("old", with: "new", dropState: true),
        .subscribe(publisher: "a", subscriber: "b"),
        .unsubscribe(publisher: "a", subscriber: "b"),
        .list,
        .types,
        .show(name: "c1"),
        .hook(interface: "eth0"),
        .unhook(interface: "eth0"),
        .addVirtualLink(name: "lana0", rootDevice: "eth0", tag: 1023),
        .removeVirtualLink(name: "lana0"),
        .watch,
        .apply(lines: ["fbctl add a dummy", "fbctl add b counter", "", "fbctl bind a b"]),
        .apply(lines: []),
    ]

    func testEveryCommandRoundTrips() throws {
        XCTAssertEqual(
            Set(Self.everyCommand.map(\.command)), Set(ControlCommand.allCases),
            "the table above must cover every command")
        for (index, request) in Self.everyCommand.enumerated() {
            let bytes = try request.encode(sequence: UInt32(index + 1), port: 42)
            let decoded = try ControlRequest(decoding: bytes)
            XCTAssertEqual(decoded, request, "\(request.command.wireName)")
            let header = try XCTUnwrap(NetlinkHeader(parsing: bytes))
            XCTAssertEqual(header.sequence, UInt32(index + 1))
            XCTAssertEqual(header.port, 42)
            XCTAssertEqual(header.type, ControlProtocol.familyID)
            XCTAssertEqual(Int(header.length), bytes.count)
            XCTAssertEqual(header.flags & 0x5, 0x5, "NLM_F_REQUEST|NLM_F_ACK")
            XCTAssertEqual(header.flags & 0x300 != 0, request.command == .list || request.command == .types, "NLM_F_DUMP only for LIST and TYPES")
            XCTAssertEqual(bytes[16], request.command.rawValue)
            XCTAssertEqual(bytes[17], 1, "genl version")
        }
    }

    func testUnicodeAndLongOptionRoundTrip() throws {
        let option = "bpf=" + String(repeating: "ldh [12]\njeq #0x806,L1,L2 ; ärger\n", count: 1500)
        let request = ControlRequest.set(name: "f", option: option)
        XCTAssertEqual(try ControlRequest(decoding: request.encode(sequence: 1)), request)
    }

    /// `add c1 counter`, seq 0x01020304, port 0x0a0b0c0d, computed by hand:
    /// nlmsghdr (16) + genlmsghdr (4) + NAME "c1\0" (4+3, padded to 8)
    /// + TYPE "counter\0" (4+8) = 40 bytes.
    func testAddMessageLayoutMatchesHandComputedBytes() throws {
        let bytes = try ControlRequest.add(name: "c1", type: "counter")
            .encode(sequence: 0x0102_0304, port: 0x0a0b_0c0d)
        let expected: [UInt8] = [
            // nlmsghdr: len 40, type 0x20, flags REQUEST|ACK, seq, pid
            0x28, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x00,
            0x04, 0x03, 0x02, 0x01, 0x0d, 0x0c, 0x0b, 0x0a,
            // genlmsghdr: cmd ADD (1), version 1, reserved
            0x01, 0x01, 0x00, 0x00,
            // NAME (1): nla_len 7, "c1\0", one byte of padding
            0x07, 0x00, 0x01, 0x00, 0x63, 0x31, 0x00, 0x00,
            // TYPE (3): nla_len 12, "counter\0"
            0x0c, 0x00, 0x03, 0x00, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x65, 0x72, 0x00,
        ]
        XCTAssertEqual(bytes, expected)
    }

    /// VADD carries a u32 TAG and REPLACE-DROP a u32 FLAGS, host byte order.
    func testU32AttributeLayout() throws {
        let vadd = try ControlRequest.addVirtualLink(name: "v", rootDevice: "e", tag: 0x0102_0304)
            .encode(sequence: 9)
        // 20 header bytes, NAME "v\0" (6 → 8), IFNAME "e\0" (6 → 8), TAG (8)
        XCTAssertEqual(vadd.count, 44)
        XCTAssertEqual(Array(vadd[16..<20]), [13, 1, 0, 0])
        XCTAssertEqual(Array(vadd[36..<44]), [0x08, 0x00, 0x06, 0x00, 0x04, 0x03, 0x02, 0x01])

        let drop = try ControlRequest.replace("a", with: "b", dropState: true).encode(sequence: 9)
        XCTAssertEqual(Array(drop[(drop.count - 8)...]), [0x08, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00])
        let plain = try ControlRequest.replace("a", with: "b").encode(sequence: 9)
        XCTAssertEqual(plain.count, drop.count - 8, "FLAGS is left out when empty")
    }

    func testApplyLinesAreRepeatedAttributesInOrder() throws {
        let bytes = try ControlRequest.apply(lines: ["x", "yy"]).encode(sequence: 1)
        XCTAssertEqual(
            Array(bytes[20...]),
            [0x06, 0x00, 0x08, 0x00, 0x78, 0x00, 0x00, 0x00, 0x07, 0x00, 0x08, 0x00, 0x79, 0x79, 0x00, 0x00])
    }

    func testEncodeRefusesRequestsThatDoNotFitTheirCommand() {
        assertEncodeFails(ControlRequest(command: .add, name: "a"), mentions: "ADD requires attribute TYPE")
        assertEncodeFails(
            ControlRequest(command: .remove, name: "a", tag: 3), mentions: "attribute TAG is not valid in RM")
        assertEncodeFails(.add(name: "a\0b", type: "dummy"), mentions: "NAME contains a NUL byte")
        assertEncodeFails(
            .add(name: String(repeating: "n", count: 256), type: "dummy"), mentions: "at most 255 allowed")
        assertEncodeFails(
            ControlRequest(command: .replace, name: "a", name2: "b", flags: ControlFlags(rawValue: 6)),
            mentions: "FLAGS has unknown bits 0x6")
        let huge = ControlRequest.apply(lines: Array(repeating: String(repeating: "x", count: 60_000), count: 2))
        XCTAssertThrowsError(try huge.encode(sequence: 1)) { error in
            XCTAssertEqual((error as? ControlProtocolError)?.errno, .messageTooLong)
        }
    }

    private func assertEncodeFails(
        _ request: ControlRequest, mentions text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try request.encode(sequence: 1), file: file, line: line) { error in
            let error = error as? ControlProtocolError
            XCTAssertEqual(error?.errno, .invalidArgument, file: file, line: line)
            XCTAssertTrue(
                error?.message.contains(text) == true, "\(String(describing: error)) lacks \(text)",
                file: file, line: line)
        }
    }
}
