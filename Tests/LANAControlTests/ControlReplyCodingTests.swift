import SystemPackage
import LANATestSupport
import XCTest

@testable import LANAControl

/// Replies: data messages, NLMSG_DONE, NLMSG_ERROR with extended ack, events.
final class ControlReplyCodingTests: XCTestCase {
    private let request = NetlinkHeader(length: 40, type: 0x20, flags: 5, sequence: 0x0102_0304, port: 99)

    private func roundTrip(_ reply: ControlReply, command: ControlCommand) throws -> ControlReply {
        var decoder = ControlReplyDecoder(sequence: request.sequence, command: command)
        let datagrams = try reply.encode(replyingTo: request, command: command)
        for (index, datagram) in datagrams.enumerated() {
            let output = try decoder.decode(datagram)
            if index == datagrams.count - 1 {
                guard case .reply(let decoded) = output else { throw UnmetRequirement("no reply at the end: \(output)") }
                return decoded
            }
            XCTAssertEqual(output, .pending)
        }
        throw UnmetRequirement("no datagrams")
    }

    func testSuccessWithoutDataIsOneAcknowledgement() throws {
        let datagrams = try ControlReply.ok.encode(replyingTo: request, command: .add)
        XCTAssertEqual(datagrams.count, 1)
        XCTAssertEqual(try roundTrip(.ok, command: .add), .ok)
    }

    func testDumpRoundTripsItemsInOrder() throws {
        let reply = ControlReply.ok(items: [
            .init(text: "a dummy 1 0\n", json: #"{"name":"a"}"#),
            .init(text: "b counter 2 1\n"),
            .init(json: #"{"name":"c"}"#),
        ])
        let datagrams = try reply.encode(replyingTo: request, command: .list)
        XCTAssertEqual(datagrams.count, 5, "3 data messages, NLMSG_DONE, NLMSG_ERROR")
        for datagram in datagrams.prefix(3) {
            let header = try XCTUnwrap(NetlinkHeader(parsing: datagram))
            XCTAssertEqual(header.type, ControlProtocol.familyID)
            XCTAssertEqual(header.flags, 0x2, "NLM_F_MULTI")
            XCTAssertEqual(header.sequence, request.sequence)
            XCTAssertEqual(datagram[16], ControlCommand.list.rawValue)
        }
        XCTAssertEqual(NetlinkHeader(parsing: datagrams[3])?.type, 3, "NLMSG_DONE")
        XCTAssertEqual(NetlinkHeader(parsing: datagrams[4])?.type, 2, "NLMSG_ERROR")
        XCTAssertEqual(try roundTrip(reply, command: .list), reply)
    }

    func testFailureWithCommandIndexRoundTrips() throws {
        let reply = ControlReply.failure(.fileExists, "a block named a already exists", command: 3)
        XCTAssertEqual(try roundTrip(reply, command: .apply), reply)
    }

    /// NLMSG_ERROR for `request` refused with EEXIST "block c1 exists":
    /// nlmsghdr (16) + nlmsgerr (4 + 16) + NLMSGERR_ATTR_MSG (4 + 16) = 56.
    func testAcknowledgementLayoutMatchesHandComputedBytes() throws {
        let datagrams = try ControlReply.failure(.fileExists, "block c1 exists")
            .encode(replyingTo: request, command: .add)
        XCTAssertEqual(datagrams.count, 1)
        let expected: [UInt8] =
            [0x38, 0, 0, 0, 0x02, 0x00, 0x00, 0x03, 0x04, 0x03, 0x02, 0x01, 99, 0, 0, 0]  // len 56, ERROR, CAPPED|ACK_TLVS
            + [0xef, 0xff, 0xff, 0xff]  // -17
            + [40, 0, 0, 0, 0x20, 0x00, 0x05, 0x00, 0x04, 0x03, 0x02, 0x01, 99, 0, 0, 0]  // the request's header
            + [20, 0, 1, 0] + Array("block c1 exists".utf8) + [0]  // NLMSGERR_ATTR_MSG
        XCTAssertEqual(datagrams[0], expected)
    }

    func testSuccessAcknowledgementHasNoTLVs() throws {
        let datagram = try ControlReply.ok.encode(replyingTo: request, command: .add)[0]
        XCTAssertEqual(datagram.count, 36)
        XCTAssertEqual(Array(datagram[4..<8]), [0x02, 0x00, 0x00, 0x01], "NLMSG_ERROR, NLM_F_CAPPED only")
        XCTAssertEqual(Array(datagram[16..<20]), [0, 0, 0, 0])
    }

    func testLongAndNULMessagesAreSanitized() throws {
        let long = String(repeating: "é", count: 5000)
        let reply = try roundTrip(.failure(.invalidArgument, long), command: .set)
        XCTAssertLessThanOrEqual(reply.message!.utf8.count, ControlReply.maximumMessageLength)
        XCTAssertTrue(reply.message!.hasSuffix("é…"))
        let withNUL = try roundTrip(.failure(.invalidArgument, "a\0b"), command: .set)
        XCTAssertEqual(withNUL.message, "a\u{FFFD}b")
    }

    func testItemThatDoesNotFitIsAnError() {
        let reply = ControlReply.ok(text: String(repeating: "x", count: 65_001))
        XCTAssertThrowsError(try reply.encode(replyingTo: request, command: .show)) { error in
            XCTAssertTrue((error as? ControlProtocolError)?.message.contains("TEXT") == true)
        }
    }

    func testEventsRoundTripAndInterleave() throws {
        let event = try ControlProtocol.encodeEvent("bound a b")
        XCTAssertEqual(NetlinkHeader(parsing: event)?.sequence, 0)
        XCTAssertEqual(event[16], ControlProtocol.eventCommand)
        var decoder = ControlReplyDecoder(sequence: request.sequence, command: .add)
        XCTAssertEqual(try decoder.decode(event), .event("bound a b"))
        let ack = try ControlReply.ok.encode(replyingTo: request, command: .add)[0]
        XCTAssertEqual(try decoder.decode(ack), .reply(.ok))
        XCTAssertEqual(try decoder.decode(event), .event("bound a b"))
        XCTAssertThrowsError(try decoder.decode(ack), "a second acknowledgement")
    }

    func testDecoderRejectsForeignReplies() throws {
        let datagrams = try ControlReply.ok(text: "x").encode(replyingTo: request, command: .show)
        var wrongSequence = ControlReplyDecoder(sequence: 5, command: .show)
        XCTAssertThrowsError(try wrongSequence.decode(datagrams[0])) { error in
            XCTAssertTrue("\(error)".contains("sequence number 16909060; expected 5"), "\(error)")
        }
        var wrongCommand = ControlReplyDecoder(sequence: request.sequence, command: .list)
        XCTAssertThrowsError(try wrongCommand.decode(datagrams[0])) { error in
            XCTAssertTrue("\(error)".contains("command 10; expected 9"), "\(error)")
        }
        var decoder = ControlReplyDecoder(sequence: request.sequence, command: .show)
        XCTAssertThrowsError(try decoder.decode([UInt8](repeating: 0, count: 8)))
        XCTAssertThrowsError(try decoder.decode(RawMessage.message(command: 0, type: 0x2, sequence: request.sequence)))
    }

    func testDecoderReadsUncappedKernelStyleAcknowledgement() throws {
        // The kernel echoes the whole request when NLM_F_CAPPED is clear.
        let echoed = RawMessage.message(command: 1, attributes: RawMessage.string(1, "c1"), sequence: 7)
        let tlv = RawMessage.string(1, "bad name") + RawMessage.u32(2, 20)
        var ack = RawMessage.le32(UInt32(16 + 4 + echoed.count + tlv.count)) + RawMessage.le16(2)
            + RawMessage.le16(0x200) + RawMessage.le32(7) + RawMessage.le32(0)
        ack += RawMessage.le32(UInt32(bitPattern: -22)) + echoed + tlv
        var decoder = ControlReplyDecoder(sequence: 7, command: .add)
        XCTAssertEqual(try decoder.decode(ack), .reply(.failure(.invalidArgument, "bad name")))
    }

    /// Found by the fuzzer: NLMSG_ERROR with error Int32.min trapped on negation.
    func testAcknowledgementWithImpossibleErrnoIsRefusedNotTrapped() throws {
        let crash: [UInt8] = [
            0x24, 0, 0, 0, 0x02, 0, 0, 0x01, 0x4d, 0, 0, 0, 0x01, 0, 0, 0,
            0, 0, 0, 0x80, 0x14, 0, 0, 0, 0x20, 0, 0x05, 0, 0x4d, 0, 0, 0, 0x01, 0, 0, 0,
        ]
        var decoder = ControlReplyDecoder(sequence: 77, command: .list)
        XCTAssertThrowsError(try decoder.decode(crash)) { error in
            XCTAssertTrue("\(error)".contains("NLMSG_ERROR carries -2147483648"), "\(error)")
        }
    }

    func testHandlerErrnoOutsideLinuxRangeGoesOutAsEINVAL() throws {
        for bogus: Int32 in [0, -5, 4096, .min] {
            let datagrams = try ControlReply.failure(Errno(rawValue: bogus), "oops").encode(replyingTo: request, command: .add)
            var decoder = ControlReplyDecoder(sequence: request.sequence, command: .add)
            XCTAssertEqual(try decoder.decode(datagrams[0]), .reply(.failure(.invalidArgument, "oops")))
        }
    }
}
