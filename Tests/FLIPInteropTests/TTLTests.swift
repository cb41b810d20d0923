import Foundation
import LANATestSupport
import XCTest

/// A chain a — f — b on one segment: a (Linux) sends to b's address
/// through f (lanad, forward=on), which resolves b (lanad, 10.0.0.11) with
/// RFC 826, answered by b's `arp`. TTL 5 arrives as 4; TTL 1 ends at f as
/// `ttl-expired` (docs/flip.md §6.2).
final class TTLTests: FLIPInteropTestCase, @unchecked Sendable {
    func testForwardingDecrementsTTLAndDropsExpiredPackets() throws {
        let lan = try makeLAN([("a", "02:00:00:00:00:0a"), ("f", "02:00:00:00:00:0f"), ("b", "02:00:00:00:00:0b")])
        let a = lan["a"], f = lan["f"], b = lan["b"]
        let capture = work + "/b.pcap"
        let tcpdump = try startCapture(on: b, filter: "ether proto 0x2020", file: capture)
        let lanadF = try startNode(on: f, addresses: "10.0.0.2", forward: true)
        let lanadB = try startNode(on: b, addresses: "10.0.0.11")

        // TTL 1 first: f drops every one before anything reaches b.
        try sendFLIP(from: a, to: f.mac, count: 5, destination: "10.0.0.11", source: "0x00aa", ttl: 1, first: 0)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.05) { lanadF.drops()["ttl-expired"] == 5 },
                      "f drops: \(lanadF.nonzeroDrops()); fbctl show f:\n\(lanadF.show("f"))")
        // TTL 5: through f (resolving b first), TTL 4 at b.
        let sent = try sendFLIP(from: a, to: f.mac, count: 10, destination: "10.0.0.11", source: "0x00aa", ttl: 5, first: 100)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.05) { lanadB.counted("up") == 10 },
                      "b counted \(lanadB.counted("up").map(String.init) ?? "nothing"); fbctl show f:\n\(lanadF.show("f"))")
        let fromF = { [self] in frames(in: capture).filter { WireFrame.sourceMAC($0) == f.macBytes } }
        XCTAssertTrue(waitUntil(within: 5) { fromF().count >= 10 }, "\(fromF().count) frames from f on b's link")
        stopCapture(tcpdump)

        let forwarded = fromF()
        XCTAssertEqual(forwarded.count, 10, "frames from f: \(forwarded.compactMap { FLIPPacket(body: WireFrame.body($0)) })")
        XCTAssertEqual(forwarded.compactMap { FLIPPacket(body: WireFrame.body($0))?.ttl }, Array(repeating: 4, count: forwarded.count))
        assertForwarded(forwarded, sent: sent, nextHop: b.macBytes)

        let show = lanadF.show("f")
        XCTAssertEqual(lanadF.engineTotal(inShow: show, "forwarded"), 10, "fbctl show f:\n\(show)")
        XCTAssertEqual(lanadF.engineTotal(inShow: show, "ttl-expired"), 5, "fbctl show f:\n\(show)")
        XCTAssertEqual(lanadF.nonzeroDrops(), ["ttl-expired": 5])
        XCTAssertEqual(lanadB.counted("up"), 10)
        XCTAssertEqual(lanadB.nonzeroDrops(), [:])
        lanadF.assertArpTable([ArpEntry("10.0.0.11", b.mac)])
        lanadB.assertArpTable([ArpEntry("10.0.0.2", f.mac)])
    }
}
