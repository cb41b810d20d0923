import Foundation
import LANATestSupport
import XCTest

/// Two lanad nodes resolve each other with ARP-over-FLIP (docs/flip.md
/// §8.2) and exchange FLIP data with 2-byte, object-id and IPv4 addresses.
///
/// Three namespaces on one bridge: `x` (lanad: 10.0.0.10, 0x000a, object
/// id A; forward=on, ipv4-encoding=flip, an echo block on Type 0x88b5),
/// `y` (lanad: 10.0.0.20, 0x0014, object id B; a counter on top) and `i`
/// (Linux, injects frames into x). x's echo answers to Y's addresses, and
/// x forwards to Y's IPv4 address; x must resolve each of them first, and
/// y's `arp` answers. tcpdump on y's link sees every request and answer.
/// One test per address size, each on a fresh segment.
final class ArpOverFLIPTests: FLIPInteropTestCase, @unchecked Sendable {
    static let objectX = "0102030405060708090a0b0c0d0e0f10"
    static let objectY = "1112131415161718191a1b1c1d1e1f20"

    /// What one exchange sends and expects: i sends 10 frames to x for
    /// `destination` from `source`; x answers (echo) or forwards to an
    /// address of y, which x resolves with `request` and y answers with
    /// `reply` (ARP bodies in hex, docs/flip.md §8.2).
    struct Exchange {
        var destination: String
        var source: String
        var echo: Bool
        var request: String
        var reply: String
        /// The entry x learns (y's address) and the one y learns (x's).
        var xLearns: String
        var yLearns: String
    }

    func testTwoByteAddresses() throws {
        try exchange(Exchange(destination: "0x000a", source: "0x0014", echo: true,
                              request: "8826" + "0014" + "000a", reply: "8825" + "000a" + "0014",
                              xLearns: "0x0014", yLearns: "0x000a"))
    }

    func testObjectIds() throws {
        try exchange(Exchange(destination: Self.objectX, source: Self.objectY, echo: true,
                              request: "9866" + Self.objectY + Self.objectX, reply: "9865" + Self.objectX + Self.objectY,
                              xLearns: Self.objectY, yLearns: Self.objectX))
    }

    /// IPv4 with ipv4-encoding=flip: x forwards to 10.0.0.20. (An IPv4
    /// packet for x's echo would not do: x learns a 4-byte Source from the
    /// frame itself, docs/flip.md §8.5 b, and would resolve nothing.)
    func testIPv4WithTheFLIPEncoding() throws {
        try exchange(Exchange(destination: "10.0.0.20", source: "0x00ee", echo: false,
                              request: "9046" + "0a000014" + "0a00000a", reply: "9045" + "0a00000a" + "0a000014",
                              xLearns: "10.0.0.20", yLearns: "10.0.0.10"))
    }

    func exchange(_ e: Exchange, file: StaticString = #filePath, line: UInt = #line) throws {
        let lan = try makeLAN([("x", "02:00:00:00:00:10"), ("y", "02:00:00:00:00:20"), ("i", "02:00:00:00:00:30")])
        let x = lan["x"], y = lan["y"], i = lan["i"]
        let capture = work + "/y.pcap"
        let tcpdump = try startCapture(on: y, filter: "arp or ether proto 0x2020", file: capture)
        let lanadX = try startNode(on: x, addresses: "10.0.0.10,0x000a,\(Self.objectX)", forward: true,
                                   ipv4Encoding: "flip", echo: true)
        let lanadY = try startNode(on: y, addresses: "10.0.0.20,0x0014,\(Self.objectY)")
        let counted = { lanadY.counted("up") ?? 0 }

        // Ten frames, all sent before the answer can be there: x queues
        // them (at most 16 per address, docs/flip.md §8.6) and sends them
        // once y has answered.
        let sent = try sendFLIP(from: i, to: x.mac, count: 10, destination: e.destination, source: e.source, ttl: 64, first: 0)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.05) { counted() >= 10 },
                      "y counted \(counted()) of 10\n" + diagnostics(lanadX, lanadY), file: file, line: line)
        let fromX = { [self] in frames(in: capture).filter { WireFrame.sourceMAC($0) == x.macBytes && WireFrame.etherType($0) == 0x2020 } }
        XCTAssertTrue(waitUntil(within: 2) { fromX().count >= 10 }, "\(fromX().count) FLIP frames from x on y's link",
                      file: file, line: line)
        stopCapture(tcpdump)

        // On the wire: one request from x (no retransmission, no RFC 826),
        // one answer from y.
        let captured = frames(in: capture)
        let arp = captured.filter { WireFrame.etherType($0) == WireFrame.arpEtherType }
        XCTAssertEqual(arp.filter { Array(WireFrame.body($0).prefix(2)) == [0, 1] }.map(hexString), [], "RFC 826 frames",
                       file: file, line: line)
        assertArp(arp.filter { WireFrame.sourceMAC($0) == x.macBytes }, to: WireFrame.broadcastMAC, bodies: [e.request],
                  file: file, line: line)
        assertArp(arp.filter { WireFrame.sourceMAC($0) == y.macBytes }, to: x.macBytes, bodies: [e.reply], file: file, line: line)

        // The data: echoes turned around, or forwarded with TTL − 1.
        let data = captured.filter { WireFrame.sourceMAC($0) == x.macBytes && WireFrame.etherType($0) == 0x2020 }
        XCTAssertEqual(data.count, 10, file: file, line: line)
        if e.echo {
            assertEchoes(data, of: sent, to: y.macBytes, file: file, line: line)
        } else {
            assertForwarded(data, sent: sent, nextHop: y.macBytes, file: file, line: line)
        }

        // Exact counts on both sides.
        XCTAssertEqual(counted(), 10, file: file, line: line)
        let showX = lanadX.show("f"), showY = lanadY.show("f")
        XCTAssertEqual(lanadX.engineTotal(inShow: showX, "delivered"), e.echo ? 10 : 0, "x: fbctl show f:\n\(showX)", file: file, line: line)
        XCTAssertEqual(lanadX.engineTotal(inShow: showX, "forwarded"), e.echo ? 0 : 10, "x: fbctl show f:\n\(showX)", file: file, line: line)
        XCTAssertEqual(lanadX.engineTotal(inShow: showX, "sent"), e.echo ? 10 : 0, "x: fbctl show f:\n\(showX)", file: file, line: line)
        XCTAssertEqual(lanadY.engineTotal(inShow: showY, "delivered"), 10, "y: fbctl show f:\n\(showY)", file: file, line: line)
        XCTAssertEqual(lanadY.engineTotal(inShow: showY, "forwarded"), 0, "y: fbctl show f:\n\(showY)", file: file, line: line)

        // Each side learned the other, at the other's MAC: x from the
        // answer, y from the request (its target was local).
        lanadX.assertArpTable([ArpEntry(e.xLearns, y.mac)], file: file, line: line)
        lanadY.assertArpTable([ArpEntry(e.yLearns, x.mac)], file: file, line: line)
        XCTAssertEqual(lanadX.nonzeroDrops(), [:], "x drops", file: file, line: line)
        XCTAssertEqual(lanadY.nonzeroDrops(), [:], "y drops", file: file, line: line)
    }

    func diagnostics(_ nodes: Lanad...) -> String {
        nodes.enumerated().map { n, lanad in
            "node \(n): fbctl show f:\n\(lanad.show("f"))fbctl show a:\n\(lanad.show("a"))fblock/a:\n\(lanad.arpTable().text)"
        }.joined(separator: "\n")
    }

    /// `frames` are exactly one ARP frame per body of `bodies` (a body may
    /// carry link padding: zeros after it), each to `mac`.
    func assertArp(_ frames: [[UInt8]], to mac: [UInt8], bodies: [String], file: StaticString = #filePath, line: UInt = #line) {
        var actual: [String] = []
        for frame in frames {
            XCTAssertEqual(macString(WireFrame.destinationMAC(frame)), macString(mac), hexString(frame), file: file, line: line)
            var body = WireFrame.body(frame)
            while body.count > 0, body.last == 0, !bodies.contains(hexString(body)) { body.removeLast() }
            actual.append(hexString(body))
        }
        XCTAssertEqual(actual.sorted(), bodies.sorted(), file: file, line: line)
    }

    /// Every frame of `echoes` answers one of `sent`, once: to `mac`, with
    /// Destination and Source swapped, the same payload, Type 0x88b6 (echo's
    /// default `reply-type`, docs/design.md §6), TTL 64 and a valid checksum.
    func assertEchoes(_ echoes: [[UInt8]], of sent: [[UInt8]], to mac: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        var unseen = Dictionary(sent.compactMap { f in FLIPPacket(body: WireFrame.body(f)).map { ($0.payload, $0) } },
                                uniquingKeysWith: { a, _ in a })
        for frame in echoes {
            XCTAssertEqual(WireFrame.destinationMAC(frame), mac, hexString(frame), file: file, line: line)
            guard let echo = FLIPPacket(body: WireFrame.body(frame)), let original = unseen.removeValue(forKey: echo.payload) else {
                XCTFail("not an echo of a packet sent (or one echoed twice): \(hexString(frame))", file: file, line: line)
                continue
            }
            XCTAssertEqual(echo.destination, original.source, "\(echo)", file: file, line: line)
            XCTAssertEqual(echo.source, original.destination, "\(echo)", file: file, line: line)
            XCTAssertEqual(original.type, 0x88B5, "\(original)", file: file, line: line)
            XCTAssertEqual(echo.type, 0x88B6, "\(echo)", file: file, line: line)
            XCTAssertEqual(echo.ttl, 64, "\(echo)", file: file, line: line)
            XCTAssertNotNil(echo.checksum, "\(echo)", file: file, line: line)
            XCTAssertTrue(echo.checksumIsValid, "\(echo): \(hexString(echo.packet))", file: file, line: line)
        }
        XCTAssertEqual(unseen.count, 0, "never echoed: \(unseen.values.map(\.description))", file: file, line: line)
    }
}
