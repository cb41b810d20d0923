import LANABlocks
import LANAPosix
import LANACore
import LANATestSupport
import XCTest

/// MAC and FLIP addresses as users type them (options such as `address=`
/// and `static=`): every accepted form, every refusal, and round trips
/// through `description`.
final class AddressParsingTests: XCTestCase {
    func mac(_ text: String) -> MACAddress? { MACAddress(parsing: text[...]) }
    func flip(_ text: String) -> FLIPAddress? { FLIPAddress(parsing: text[...]) }

    func testMACForms() {
        XCTAssertEqual(mac("02:00:00:00:00:01"), MACAddress(value: 0x0200_0000_0001))
        XCTAssertEqual(mac("02-00-00-00-00-01"), MACAddress(value: 0x0200_0000_0001))
        XCTAssertEqual(mac("0A:bC:De:F0:12:9f"), MACAddress(value: 0x0abc_def0_129f))
        XCTAssertEqual(mac("ff:ff:ff:ff:ff:ff"), .broadcast)
        XCTAssertEqual(mac("00:00:00:00:00:00"), .zero)
        XCTAssertEqual(MACAddress(value: 0x0abc_def0_129f).description, "0a:bc:de:f0:12:9f")
        XCTAssertEqual(MACAddress(value: 0x0abc_def0_129f).bytes, [0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x9f])
        XCTAssertEqual(MACAddress([0x0a, 0xbc, 0xde, 0xf0, 0x12, 0x9f]), MACAddress(value: 0x0abc_def0_129f))
    }

    func testMACFlags() {
        XCTAssertTrue(MACAddress.broadcast.isBroadcast)
        XCTAssertTrue(MACAddress.broadcast.isMulticast, "broadcast is a group address")
        XCTAssertTrue(mac("01:00:5e:00:00:fb")!.isMulticast)
        XCTAssertTrue(mac("33:33:00:00:00:01")!.isMulticast)
        XCTAssertFalse(mac("01:00:5e:00:00:fb")!.isBroadcast)
        XCTAssertFalse(mac("02:00:00:00:00:01")!.isMulticast, "the locally administered bit is not the group bit")
        XCTAssertFalse(mac("fe:ff:ff:ff:ff:ff")!.isMulticast)
        XCTAssertFalse(MACAddress.zero.isMulticast)
    }

    func testMACRefusals() {
        for text in ["", "02:00:00:00:00", "02:00:00:00:00:01:02", "02:00:00:00:00:0g", "02:00-00:00:00:01",
                     "2:0:0:0:0:1", "0200.0000.0001", "020000000001", " 02:00:00:00:00:01", "02:00:00:00:00:01 ",
                     "02:00:00:00:00:001", "02::00:00:00:00:01", "02;00;00;00;00;01", "02:00:00:00:00:+1"] {
            XCTAssertNil(mac(text), text)
        }
        XCTAssertThrowsError(try MACAddress.parse("02:00:00:00:00:zz")) {
            XCTAssertEqual(($0 as? BlockOptionError)?.message,
                           "'02:00:00:00:00:zz' is not a MAC address, expected six hex pairs separated by ':' or '-' (02:00:00:00:00:01)")
        }
    }

    func testMACPointersAndRandomRoundTrips() {
        var rng = SplitMix64(seed: 0x4d41_4331)
        for _ in 0..<1000 {
            let address = MACAddress(value: rng.next() >> 16)
            XCTAssertEqual(mac(address.description), address)
            XCTAssertEqual(mac(String(address.description.uppercased().map { $0 == ":" ? "-" : $0 })), address)
            XCTAssertEqual(MACAddress(address.bytes), address)
            // At an odd offset, to show that neither direction needs alignment.
            var buffer = [UInt8](repeating: 0xEE, count: 9)
            buffer.withUnsafeMutableBytes { address.write(to: $0.baseAddress! + 1) }
            XCTAssertEqual(Array(buffer[1..<7]), address.bytes)
            XCTAssertEqual([buffer[0]] + buffer[7...], [0xEE, 0xEE, 0xEE], "write stays within 6 bytes")
            XCTAssertEqual(buffer.withUnsafeBytes { MACAddress(at: $0.baseAddress! + 1) }, address)
        }
    }

    func testFLIPAddressForms() {
        XCTAssertEqual(flip("10.0.0.2"), .ipv4(10, 0, 0, 2))
        XCTAssertEqual(flip("255.255.255.255"), .broadcast(.ipv4))
        XCTAssertEqual(flip("0.0.0.0"), .ipv4(0, 0, 0, 0))
        XCTAssertEqual(flip("192.168.100.9"), .ipv4(192, 168, 100, 9))
        XCTAssertEqual(flip("0xabcd"), FLIPAddress([0xab, 0xcd]))
        XCTAssertEqual(flip("0XABCD"), FLIPAddress([0xab, 0xcd]))
        XCTAssertEqual(flip("0x0001"), FLIPAddress([0x00, 0x01]))
        XCTAssertEqual(flip("0102030405060708090a0b0c0d0e0f10"), FLIPAddress(Array(1...16)))
        XCTAssertEqual(flip("0x0102030405060708090A0B0C0D0E0F10"), FLIPAddress(Array(1...16)))
        XCTAssertEqual(flip("ffffffffffffffffffffffffffffffff"), .broadcast(.objectID))
        XCTAssertEqual(FLIPAddress(Array(1...16))!.description, "0x0102030405060708090a0b0c0d0e0f10")
        XCTAssertEqual(FLIPAddress([0xab, 0xcd])!.description, "0xabcd")
    }

    func testFLIPAddressRefusals() {
        for text in ["", "10.0.0", "10.0.0.2.1", "10.0.0.256", "10.0.0.02", "010.0.0.2", "10..0.2", ".10.0.0.2",
                     "10.0.0.2.", "10.0.0.-2", "10.0.0.2 ", " 10.0.0.2", "1000.0.0.2", "10.0.0.0x2",
                     "abcd", "0xabc", "0xabcde", "0x", "0x0a000002", "0xabcg", "0x 1234",
                     String(repeating: "a", count: 31), String(repeating: "a", count: 33),
                     "0x" + String(repeating: "a", count: 31), "0x" + String(repeating: "0", count: 30) + "0g",
                     "00" + String(repeating: "a", count: 32), "::1", "fe80::1"] {
            XCTAssertNil(flip(text), text)
        }
    }

    func testFLIPAddressRandomRoundTrips() {
        var rng = SplitMix64(seed: 0x464c_4931)
        for kind in FLIPAddress.Kind.allCases {
            for _ in 0..<500 {
                let address = FLIPAddress((0..<kind.size).map { _ in UInt8(truncatingIfNeeded: rng.next()) })!
                XCTAssertEqual(flip(address.description), address, address.description)
                XCTAssertEqual(flip(address.description.uppercased()), address, "hex digits of either case")
                XCTAssertEqual(try FLIPAddress.parseList(address.description), [address])
            }
        }
    }

    func testFLIPAddressLists() throws {
        XCTAssertEqual(try FLIPAddress.parseList(""), [])
        XCTAssertEqual(
            try FLIPAddress.parseList("10.0.0.1,0xabcd, 0102030405060708090a0b0c0d0e0f10 "),
            [.ipv4(10, 0, 0, 1), FLIPAddress([0xab, 0xcd])!, FLIPAddress(Array(1...16))!])
        let list: [FLIPAddress] = [.ipv4(10, 0, 0, 2), FLIPAddress([0, 7])!, .broadcast(.objectID)]
        XCTAssertEqual(try FLIPAddress.parseList(list.map(\.description).joined(separator: ",")), list)

        let forms = "expected an IPv4 address (10.0.0.2), a 2-byte address as 0x and 4 hex digits (0xabcd) "
            + "or an object id as 32 hex digits, with or without 0x"
        let cases: [(String, String)] = [
            ("10.0.0.1,bogus", "'bogus' (item 2 of '10.0.0.1,bogus') is not a FLIP address, \(forms)"),
            ("10.0.0.1,,10.0.0.2", "empty item (item 2 of '10.0.0.1,,10.0.0.2') is not a FLIP address, \(forms)"),
            ("10.0.0.1,", "empty item (item 2 of '10.0.0.1,') is not a FLIP address, \(forms)"),
            (" ", "empty item (item 1 of ' ') is not a FLIP address, \(forms)"),
            ("10.0.0.300", "'10.0.0.300' (item 1 of '10.0.0.300') is not a FLIP address, \(forms)"),
            ("0xabcd,abcd", "'abcd' (item 2 of '0xabcd,abcd') is not a FLIP address, \(forms)"),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try FLIPAddress.parseList(text), text) {
                XCTAssertEqual(($0 as? BlockOptionError)?.message, message)
            }
        }
        XCTAssertThrowsError(try FLIPAddress.parse("10.0.0")) {
            XCTAssertEqual(($0 as? BlockOptionError)?.message, "'10.0.0' is not a FLIP address, \(forms)")
        }
        XCTAssertEqual(try FLIPAddress.parse("10.0.0.7"), .ipv4(10, 0, 0, 7))
    }
}
