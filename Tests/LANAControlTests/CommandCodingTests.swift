import LANACore
import SystemPackage
import XCTest

@testable import LANAControl

/// Encoding and decoding of commands, and the exact bytes on the wire.
final class CommandCodingTests: XCTestCase {
    /// Every command that can run inside APPLY, each with every argument
    /// its command takes (and once without the optional ones).
    static let everyBatchCommand: [BatchCommand] = [
        .graph(.add(name: "c1", type: "counter")),
        .graph(.remove(name: "c1")),
        .graph(.set(name: "f1", option: "bpf={ 0x28, 0, 0, 0x0000000c },")),
        .graph(.bind(upper: "a", lower: "b", port: nil)),
        .graph(.bind(upper: "a", lower: "b", port: "up.clone")),
        .graph(.unbind(upper: "a", lower: "b")),
        .graph(.replace(old: "old", new: "new", dropState: false)),
        .graph(.replace(old: "old", new: "new", dropState: true)),
        .graph(.subscribe(publisher: "a", subscriber: "b")),
        .graph(.unsubscribe(publisher: "a", subscriber: "b")),
        .hook(interface: "eth0"),
    ]

    /// One command of every kind, with every argument its kind takes.
    static let everyCommand: [Command] = everyBatchCommand.map(\.command) + [
        .list,
        .types,
        .show(name: "c1"),
        .unhook(interface: "eth0"),
        .addVirtualLink(name: "lana0", rootDevice: "eth0", tag: Command.maximumTag),
        .removeVirtualLink(name: "lana0"),
        .watch,
        .apply(everyBatchCommand),
        .apply([]),
    ]

    func testEveryCommandRoundTrips() throws {
        XCTAssertEqual(
            Set(Self.everyCommand.map(\.wireCommand)), Set(ControlCommand.allCases),
            "the table above must cover every command")
        for (index, command) in Self.everyCommand.enumerated() {
            let bytes = try command.encode(sequence: UInt32(index + 1), port: 42)
            let decoded = try Command(decoding: bytes)
            XCTAssertEqual(decoded, command, "\(command.wireCommand.wireName)")
            let header = try XCTUnwrap(NetlinkHeader(parsing: bytes))
            XCTAssertEqual(header.sequence, UInt32(index + 1))
            XCTAssertEqual(header.port, 42)
            XCTAssertEqual(header.type, ControlProtocol.familyID)
            XCTAssertEqual(Int(header.length), bytes.count)
            XCTAssertEqual(header.flags & 0x5, 0x5, "NLM_F_REQUEST|NLM_F_ACK")
            XCTAssertEqual(header.flags & 0x300 != 0, command == .list || command == .types, "NLM_F_DUMP only for LIST and TYPES")
            XCTAssertEqual(bytes[16], command.wireCommand.rawValue)
            XCTAssertEqual(bytes[17], 1, "genl version")
        }
    }

    /// Each command of an APPLY is the attributes a request of it carries,
    /// behind CMD: the nested form decodes with the top-level decoder's rules.
    func testNestedCommandsCarryTheirRequestsAttributes() throws {
        for batch in Self.everyBatchCommand {
            let alone = try batch.command.encode(sequence: 1)
            let applied = try Command.apply([batch]).encode(sequence: 1)
            let ownAttributes = Array(alone[20...])
            // nlmsghdr + genlmsghdr, COMMAND header, CMD (8 bytes), then the same attributes.
            XCTAssertEqual(applied.count, 20 + 4 + 8 + ownAttributes.count, "\(batch)")
            XCTAssertEqual(applied[22], 14, "COMMAND")
            XCTAssertEqual(applied[23] & 0x3f, 0, "COMMAND (NLA_F_NESTED may be set)")
            XCTAssertEqual(Array(applied[24..<32]), [8, 0, 15, 0, alone[16], 0, 0, 0], "CMD")
            XCTAssertEqual(Array(applied[32...]), ownAttributes, "\(batch)")
        }
    }

    func testUnicodeAndLongOptionRoundTrip() throws {
        let option = "bpf=" + String(repeating: "ldh [12]\njeq #0x806,L1,L2 ; ärger\n", count: 1500)
        let command = Command.set(name: "f", option: option)
        XCTAssertEqual(try Command(decoding: command.encode(sequence: 1)), command)
        let applied = Command.apply([.graph(.set(name: "f", option: option)), .graph(.add(name: "ü", type: "dummy"))])
        XCTAssertEqual(try Command(decoding: applied.encode(sequence: 1)), applied)
    }

    /// `add c1 counter`, seq 0x01020304, port 0x0a0b0c0d, computed by hand:
    /// nlmsghdr (16) + genlmsghdr (4) + NAME "c1\0" (4+3, padded to 8)
    /// + TYPE "counter\0" (4+8) = 40 bytes.
    func testAddMessageLayoutMatchesHandComputedBytes() throws {
        let bytes = try Command.add(name: "c1", type: "counter")
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

    /// `apply [rm x]` by hand: COMMAND (14) of 4 + CMD (8) + NAME "x\0" (8).
    func testApplyMessageLayoutMatchesHandComputedBytes() throws {
        let bytes = try Command.apply([.graph(.remove(name: "x"))]).encode(sequence: 1)
        XCTAssertEqual(bytes[16], 16, "APPLY")
        let attributes = Array(bytes[20...])
        XCTAssertEqual(attributes.count, 20)
        XCTAssertEqual(Array(attributes[0..<2]), [20, 0], "COMMAND's nla_len")
        XCTAssertEqual(attributes[2], 14)
        XCTAssertEqual(attributes[3] & 0x3f, 0, "COMMAND (NLA_F_NESTED may be set)")
        XCTAssertEqual(Array(attributes[4...]), [8, 0, 15, 0, 2, 0, 0, 0, 6, 0, 1, 0, 0x78, 0, 0, 0])
    }

    /// VADD carries a u32 TAG and REPLACE-DROP a u32 FLAGS, host byte order.
    func testU32AttributeLayout() throws {
        let vadd = try Command.addVirtualLink(name: "v", rootDevice: "e", tag: 0x0102)
            .encode(sequence: 9)
        // 20 header bytes, NAME "v\0" (6 → 8), IFNAME "e\0" (6 → 8), TAG (8)
        XCTAssertEqual(vadd.count, 44)
        XCTAssertEqual(Array(vadd[16..<20]), [13, 1, 0, 0])
        XCTAssertEqual(Array(vadd[36..<44]), [0x08, 0x00, 0x06, 0x00, 0x02, 0x01, 0x00, 0x00])

        let drop = try Command.replace("a", with: "b", dropState: true).encode(sequence: 9)
        XCTAssertEqual(Array(drop[(drop.count - 8)...]), [0x08, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00])
        let plain = try Command.replace("a", with: "b").encode(sequence: 9)
        XCTAssertEqual(plain.count, drop.count - 8, "FLAGS is left out when empty")
    }

    func testEncodeRefusesWhatTheWireCannotCarry() {
        assertEncodeFails(.add(name: "a\0b", type: "dummy"), mentions: "NAME contains a NUL byte")
        assertEncodeFails(
            .add(name: String(repeating: "n", count: 256), type: "dummy"), mentions: "at most 255 allowed")
        assertEncodeFails(.apply([.hook(interface: "a\0")]), mentions: "IFNAME contains a NUL byte")
        assertEncodeFails(
            .addVirtualLink(name: "v", rootDevice: "e", tag: Command.maximumTag + 1), mentions: "TAG 1024 is out of range; expected 0…1023")
        let huge = Command.apply(Array(repeating: .graph(.set(name: "f", option: String(repeating: "x", count: 60_000))), count: 2))
        XCTAssertThrowsError(try huge.encode(sequence: 1)) { error in
            XCTAssertEqual((error as? ControlProtocolError)?.errno, .messageTooLong)
        }
    }

    private func assertEncodeFails(
        _ command: Command, mentions text: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertThrowsError(try command.encode(sequence: 1), file: file, line: line) { error in
            let error = error as? ControlProtocolError
            XCTAssertEqual(error?.errno, .invalidArgument, file: file, line: line)
            XCTAssertTrue(
                error?.message.contains(text) == true, "\(String(describing: error)) lacks \(text)",
                file: file, line: line)
        }
    }
}
