import SystemPackage
import XCTest

@testable import LANAControl

/// The decoder refuses every malformed request with EINVAL or EOPNOTSUPP
/// and a message that names the problem.
final class CommandDecodingTests: XCTestCase {
    private let nameAttribute = RawMessage.string(1, "c1")
    private let typeAttribute = RawMessage.string(3, "counter")

    func testWellFormedRawMessageDecodes() throws {
        let request = try Command(decoding: RawMessage.message(command: 1, attributes: nameAttribute + typeAttribute))
        XCTAssertEqual(request, .add(name: "c1", type: "counter"))
    }

    func testShortDatagrams() {
        assertRejected([], .invalidArgument, "datagram of 0 bytes is shorter than a netlink header")
        assertRejected([1, 2, 3], .invalidArgument, "datagram of 3 bytes is shorter than a netlink header (16 bytes)")
        let headerOnly = Array(RawMessage.message(command: 1, length: 16).prefix(16))
        assertRejected(headerOnly, .invalidArgument, "nlmsg_len 16 is shorter than nlmsghdr + genlmsghdr (20 bytes)")
    }

    func testLengthLargerThanDatagram() {
        let bytes = RawMessage.message(command: 1, attributes: nameAttribute + typeAttribute, length: 4096)
        assertRejected(bytes, .invalidArgument, "nlmsg_len 4096 is larger than the datagram of 40 bytes")
    }

    func testTrailingBytesAfterMessage() {
        let bytes = RawMessage.message(command: 1, attributes: nameAttribute + typeAttribute, length: 28) + []
        assertRejected(bytes, .invalidArgument, "12 bytes after the message (nlmsg_len 28)")
    }

    func testUnknownCommandIsNotSupported() {
        assertRejected(RawMessage.message(command: 99), .notSupportedOnSocket, "unknown command 99; this version knows commands 1…17")
        assertRejected(RawMessage.message(command: 0), .notSupportedOnSocket, "unknown command 0")
        assertRejected(
            RawMessage.message(command: ControlProtocol.eventCommand,
                               attributes: RawMessage.string(12, "x")),
            .notSupportedOnSocket, "sent by the daemon only")
    }

    func testWrongVersionAndType() {
        assertRejected(
            RawMessage.message(command: 9, version: 2), .notSupportedOnSocket,
            "genl version 2 is not supported (expected 1)")
        assertRejected(
            RawMessage.message(command: 9, type: 0x10), .invalidArgument,
            "nlmsg_type 16 is not the LANA family (expected 32)")
        assertRejected(
            RawMessage.message(command: 9, flags: 0x4), .invalidArgument, "lack NLM_F_REQUEST")
    }

    func testWrongAttributeType() {
        // TAG must be a 4-byte u32.
        let vadd = RawMessage.string(1, "v") + RawMessage.string(5, "eth0")
        assertRejected(
            RawMessage.message(command: 13, attributes: vadd + RawMessage.attribute(6, [1, 0])),
            .invalidArgument, "attribute TAG has 2 bytes; expected a 4-byte u32")
        assertRejected(
            RawMessage.message(command: 13, attributes: vadd + RawMessage.attribute(6, [1, 0, 0, 0, 0, 0, 0, 0])),
            .invalidArgument, "attribute TAG has 8 bytes; expected a 4-byte u32")
        // A string attribute sent as a bare integer has no NUL.
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(1, [0x41, 0x42, 0x43, 0x44])),
            .invalidArgument, "attribute NAME (4 bytes) is not NUL-terminated; expected a NUL-terminated string")
    }

    func testStringWithoutNUL() {
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(1, Array("c1".utf8))),
            .invalidArgument, "attribute NAME (2 bytes) is not NUL-terminated")
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(1, [])),
            .invalidArgument, "attribute NAME (0 bytes) is not NUL-terminated")
    }

    func testStringWithEmbeddedNULOrBadUTF8() {
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(1, [0x61, 0, 0x62, 0])),
            .invalidArgument, "attribute NAME has a NUL byte at position 1")
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(1, [0xff, 0xfe, 0])),
            .invalidArgument, "attribute NAME is not valid UTF-8")
    }

    func testOverlongStrings() {
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.string(1, String(repeating: "n", count: 256))),
            .invalidArgument, "attribute NAME is 256 bytes long; at most 255 allowed")
        let option = String(repeating: "o", count: 61_441)
        assertRejected(
            RawMessage.message(command: 3, attributes: nameAttribute + RawMessage.string(4, option)),
            .invalidArgument, "attribute OPTION is 61441 bytes long; at most 61440 allowed")
    }

    func testUnknownAttribute() {
        assertRejected(
            RawMessage.message(command: 1, attributes: nameAttribute + typeAttribute + RawMessage.u32(77, 1)),
            .invalidArgument, "unknown attribute type 77 at offset 40")
        // NLA_F_NESTED on a known type is not this protocol either.
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.string(0x8001, "c1")),
            .invalidArgument, "unknown attribute type 32769")
        assertRejected(
            RawMessage.message(command: 2, attributes: RawMessage.string(0, "c1")),
            .invalidArgument, "unknown attribute type 0")
    }

    func testAttributeNotValidForCommandDuplicateOrMissing() {
        assertRejected(
            RawMessage.message(command: 2, attributes: nameAttribute + RawMessage.u32(6, 1)),
            .invalidArgument, "attribute TAG is not valid in RM (expected: NAME)")
        assertRejected(
            RawMessage.message(command: 9, attributes: RawMessage.string(10, "text")),
            .invalidArgument, "attribute TEXT is not valid in LIST (expected: none)")
        assertRejected(
            RawMessage.message(command: 2, attributes: nameAttribute + nameAttribute),
            .invalidArgument, "attribute NAME appears more than once")
        assertRejected(
            RawMessage.message(command: 1, attributes: nameAttribute),
            .invalidArgument, "ADD requires attribute TYPE")
        assertRejected(
            RawMessage.message(command: 6, attributes: nameAttribute + RawMessage.string(2, "n") + RawMessage.u32(7, 2)),
            .invalidArgument, "FLAGS has unknown bits 0x2")
    }

    func testBrokenAttributeStream() {
        // nla_len past the end of the message.
        assertRejected(
            RawMessage.message(command: 2, attributes: [0x40, 0x00, 0x01, 0x00, 0x63, 0x00, 0x00, 0x00]),
            .invalidArgument, "attribute at offset 20 has nla_len 64; expected 4…8 bytes")
        // nla_len below the attribute header.
        assertRejected(
            RawMessage.message(command: 2, attributes: [0x02, 0x00, 0x01, 0x00]),
            .invalidArgument, "has nla_len 2")
        // Two stray bytes after the last attribute.
        assertRejected(
            RawMessage.message(command: 2, attributes: nameAttribute + [0, 0]),
            .invalidArgument, "2 trailing bytes at offset 28")
    }

    func testUnpaddedLastAttributeIsAccepted() throws {
        // nlmsg_len may end right after the last payload byte, as nla_next allows.
        let attributes = RawMessage.attribute(1, Array("abc".utf8) + [0]) + RawMessage.attribute(3, Array("d".utf8) + [0], padded: false)
        let bytes = RawMessage.message(command: 1, attributes: attributes)
        XCTAssertEqual(bytes.count, 34)
        XCTAssertEqual(try Command(decoding: bytes), .add(name: "abc", type: "d"))
        // The datagram may also carry that padding after nlmsg_len.
        XCTAssertEqual(try Command(decoding: bytes + [0, 0]), .add(name: "abc", type: "d"))
    }

    // MARK: APPLY's nested commands

    private func applying(_ commands: [UInt8]...) -> [UInt8] {
        RawMessage.message(command: 16, attributes: commands.flatMap { RawMessage.attribute(14, $0) })
    }

    private func cmd(_ command: UInt32) -> [UInt8] { RawMessage.u32(15, command) }

    func testNestedCommandsDecodeWithOrWithoutTheNestedFlag() throws {
        let add = cmd(1) + nameAttribute + typeAttribute
        XCTAssertEqual(try Command(decoding: applying(add, cmd(11) + RawMessage.string(5, "eth0"))),
                       .apply([.graph(.add(name: "c1", type: "counter")), .hook(interface: "eth0")]))
        let flagged = RawMessage.message(command: 16, attributes: RawMessage.attribute(0x8000 | 14, add))
        XCTAssertEqual(try Command(decoding: flagged), .apply([.graph(.add(name: "c1", type: "counter"))]))
    }

    func testBadNestingIsRefusedNamingTheCommand() {
        assertRefusedExactly(applying(nameAttribute), "COMMAND 0 of APPLY: expected CMD (a 4-byte u32) as its first attribute")
        assertRefusedExactly(applying([]), "COMMAND 0 of APPLY: expected CMD (a 4-byte u32) as its first attribute")
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute, cmd(16)), "COMMAND 1 of APPLY: APPLY cannot be nested in APPLY")
        assertRefusedExactly(
            applying(cmd(9)), "COMMAND 0 of APPLY: LIST cannot be applied; APPLY takes graph commands and HOOK")
        assertRefusedExactly(
            applying(cmd(12) + RawMessage.string(5, "eth0")),
            "COMMAND 0 of APPLY: UNHOOK cannot be applied; APPLY takes graph commands and HOOK")
        // A CMD of the wrong size is not a CMD.
        assertRefusedExactly(
            applying(RawMessage.attribute(15, [1, 0]) + nameAttribute),
            "COMMAND 0 of APPLY: expected CMD (a 4-byte u32) as its first attribute")
        // The attribute walk of a nested command is the top-level one.
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute, cmd(1) + RawMessage.attribute(1, [0x41]) + typeAttribute),
            "COMMAND 1 of APPLY: attribute NAME (1 bytes) is not NUL-terminated; expected a NUL-terminated string")
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute + [0x40, 0, 1, 0]),
            "COMMAND 0 of APPLY: attribute at offset 40 has nla_len 64; expected 4…4 bytes")
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute + RawMessage.string(1, "c2")), "COMMAND 0 of APPLY: attribute NAME appears more than once")
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute + RawMessage.u32(15, 2)),
            "COMMAND 0 of APPLY: attribute CMD is not valid in RM (expected: NAME)")
        assertRefusedExactly(
            applying(cmd(2) + nameAttribute + RawMessage.attribute(0x8000 | 1, Array("x".utf8) + [0])),
            "COMMAND 0 of APPLY: unknown attribute type 32769 at offset 40; this version knows types 1…7, 9…16 without flag bits")
    }

    func testUnknownOrIncompleteNestedCommand() {
        assertRefusedExactly(
            applying(cmd(99)), "COMMAND 0 of APPLY: unknown command 99; this version knows commands 1…17")
        assertRefusedExactly(
            applying(cmd(0x1_0001)), "COMMAND 0 of APPLY: unknown command 65537; this version knows commands 1…17")
        assertRefusedExactly(applying(cmd(1) + nameAttribute), "COMMAND 0 of APPLY: ADD requires attribute TYPE")
        assertRefusedExactly(
            applying(cmd(6) + nameAttribute + RawMessage.string(2, "n") + RawMessage.u32(7, 4)),
            "COMMAND 0 of APPLY: FLAGS has unknown bits 0x4; known: 0x1 (DROP)")
    }

    func testNestingAttributesOutsideTheirPlace() {
        assertRefusedExactly(
            RawMessage.message(command: 2, attributes: nameAttribute + RawMessage.attribute(14, cmd(2) + nameAttribute)),
            "attribute COMMAND is not valid in RM (expected: NAME)")
        assertRefusedExactly(
            RawMessage.message(command: 16, attributes: cmd(2)), "attribute CMD is not valid in APPLY (expected: COMMAND)")
        // LINE, APPLY's text lines before it carried commands, is gone.
        assertRefusedExactly(
            RawMessage.message(command: 16, attributes: RawMessage.string(8, "fbctl add a dummy")),
            "unknown attribute type 8 at offset 20; this version knows types 1…7, 9…16 without flag bits")
        // NLA_F_NESTED belongs on COMMAND only.
        assertRefusedExactly(
            RawMessage.message(command: 2, attributes: RawMessage.attribute(0x8000 | 1, Array("c1".utf8) + [0])),
            "unknown attribute type 32769 at offset 20; this version knows types 1…7, 9…16 without flag bits")
        // A tag beyond 10 bits.
        assertRefusedExactly(
            RawMessage.message(command: 13, attributes: RawMessage.string(1, "v") + RawMessage.string(5, "e") + RawMessage.u32(6, 1024)),
            "TAG 1024 is out of range; expected 0…1023")
    }

    private func assertRefusedExactly(
        _ bytes: [UInt8], _ message: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try Command(decoding: bytes), file: file, line: line) { error in
            guard let error = error as? ControlProtocolError else {
                return XCTFail("unexpected error \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.errno, .invalidArgument, file: file, line: line)
            XCTAssertEqual(error.message, message, file: file, line: line)
        }
    }

    private func assertRejected(
        _ bytes: [UInt8], _ errno: Errno, _ text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try Command(decoding: bytes), file: file, line: line) { error in
            guard let error = error as? ControlProtocolError else {
                return XCTFail("unexpected error \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.errno, errno, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(text), "'\(error.message)' lacks '\(text)'", file: file, line: line)
        }
    }
}
