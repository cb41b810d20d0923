import Foundation
import LANATestSupport
import XCTest

/// The injector the other tests and the demo use, `Scripts/lana-send.py
/// --kind flip`, against the vectors of docs/flip.md §9 and the tests' own
/// reading of FLIP: the frames it sends are what the other tests compare
/// with.
final class SenderTests: XCTestCase {
    func printed(_ arguments: [String]) throws -> CommandResult {
        try Shell.run(["python3", FLIPInteropTestCase.sender, "unused0", "1", "--kind", "flip", "--print"] + arguments)
    }

    func testVectorV2() throws {
        let r = try printed(["--to", "02:00:00:00:00:02", "--from", "02:00:00:00:00:01", "--dst", "10.0.0.2",
                             "--src", "10.0.0.1", "--type", "0", "--payload", "68656c6c6f"])
        XCTAssertEqual(r.status, 0, "\(r)")
        XCTAssertEqual(r.stdout, "020000000002020000000001202094580a00000200000a000001001513bd68656c6c6f\n")
    }

    func testEveryAddressSizeParsesBackWithAValidChecksum() throws {
        for (dst, src) in [("0xabcd", "0x0102"), ("10.0.0.3", "10.0.0.1"), ("1112131415161718191a1b1c1d1e1f20", "0x0102030405060708090a0b0c0d0e0f10")] {
            let r = try printed(["--to", "02:00:00:00:00:02", "--from", "02:00:00:00:00:01", "--dst", dst, "--src", src,
                                 "--type", "0x88b5", "--ttl", "7", "--first", "41"])
            XCTAssertEqual(r.status, 0, "\(r)")
            let frame = hexBytes(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            XCTAssertEqual(frame.count, 60, "lana-send.py makes --size (60) byte frames")
            XCTAssertEqual(WireFrame.etherType(frame), 0x2020)
            let p = try XCTUnwrap(FLIPPacket(body: WireFrame.body(frame)), hexString(frame))
            XCTAssertEqual(p.destination, FLIPAddress.parse(dst))
            XCTAssertEqual(p.source, FLIPAddress.parse(src))
            XCTAssertEqual(p.type, 0x88B5)
            XCTAssertEqual(p.ttl, 7)
            XCTAssertEqual(p.length, frame.count - 14)
            XCTAssertTrue(p.checksumIsValid, "\(p)")
            XCTAssertEqual(Array(p.payload.prefix(4)), [0, 0, 0, 41], "sequence number first")
        }
    }

    func testABadAddressIsNamed() throws {
        let r = try printed(["--dst", "10.0.0.256", "--from", "02:00:00:00:00:01"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("'10.0.0.256' is not a FLIP address: expected IPv4 (10.0.0.2), 2 bytes (0xabcd) or an object id (32 hex digits)"),
                      r.stderr)
    }
}
