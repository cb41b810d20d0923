import CNetlink
import SystemPackage
import XCTest

@testable import LANAControl

/// The libnl layer under the codec: its policy and its error texts.
final class NetlinkMessageTests: XCTestCase {
    func testLibnlErrorsCarryNlGeterrorText() {
        let error = ControlProtocolError(libnl: -Int32(NLE_RANGE), while: "adding attribute NAME")
        XCTAssertEqual(error.libnlCode, Int32(NLE_RANGE))
        XCTAssertEqual(error.errno, .outOfRange)
        let text = String(cString: nl_geterror(Int32(NLE_RANGE)))
        XCTAssertFalse(text.isEmpty)
        XCTAssertEqual(error.message, "adding attribute NAME: \(text) (libnl error \(NLE_RANGE))")
        XCTAssertEqual(ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "x").errno, .noMemory)
    }

    /// The walk refuses these first; libnl's policy must refuse them too
    /// when handed the message without the walk.
    func testLibnlPolicyIsASecondLineOfDefence() {
        let cases: [([UInt8], Int32)] = [
            (RawMessage.attribute(1, Array("c1AB".utf8)), Int32(NLE_INVAL)),  // string without NUL
            (RawMessage.string(1, String(repeating: "n", count: 300)), Int32(NLE_RANGE)),  // over maxlen
            (RawMessage.attribute(6, [1, 0]), Int32(NLE_RANGE)),  // u32 of 2 bytes
        ]
        for (attribute, code) in cases {
            let bytes = RawMessage.message(command: 2, attributes: attribute)
            let view = GenericNetlinkView(
                header: NetlinkHeader(parsing: bytes)!, command: 2, version: 1, attributes: [])
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(ControlProtocolError) in
                    try NetlinkMessage.converting(raw, view: view).parsedAttributes()
                }
            }
            XCTAssertThrowsError(try result.get()) { error in
                let error = error as? ControlProtocolError
                XCTAssertEqual(error?.libnlCode, code, "\(String(describing: error))")
                XCTAssertTrue(error?.message.hasPrefix("checking attributes against the policy: ") == true)
            }
        }
    }

    func testPolicyTableMatchesAttributeKinds() {
        let table = ControlAttributePolicy.table
        XCTAssertEqual(table.count, Int(ControlAttribute.maximum.rawValue) + 1)
        XCTAssertEqual(table[Int(ControlAttribute.name.rawValue)].type, UInt16(NLA_STRING))
        XCTAssertEqual(table[Int(ControlAttribute.name.rawValue)].maxlen, 256)
        XCTAssertEqual(table[Int(ControlAttribute.tag.rawValue)].type, UInt16(NLA_U32))
        XCTAssertEqual(table[0].type, UInt16(NLA_UNSPEC))
    }
}
