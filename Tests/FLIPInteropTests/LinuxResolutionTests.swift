import Foundation
import LANATestSupport
import XCTest

/// A forwarding FLIP node resolves an IPv4 next hop that only a Linux host
/// has, with RFC 826 (the default encoding): the Linux kernel answers,
/// and the forwarded frames arrive there with TTL − 1 and a valid
/// checksum (docs/flip.md §6.2, §8.6).
///
/// Three namespaces on one bridge: `a` (Linux, sends FLIP frames with a
/// raw socket to lanad's MAC), `f` (lanad, forward=on, 10.0.0.2) and `b`
/// (Linux with 10.0.0.3 and nothing else, tcpdump listening).
final class LinuxResolutionTests: FLIPInteropTestCase, @unchecked Sendable {
    func testForwardedFramesReachALinuxHostResolvedByRFC826() throws {
        let lan = try makeLAN([("a", "02:00:00:00:00:0a"), ("f", "02:00:00:00:00:0f"), ("b", "02:00:00:00:00:0b")])
        let a = lan["a"], f = lan["f"], b = lan["b"]
        try lan.ip(b, "addr", "add", "10.0.0.3/24", "dev", b.interface)
        let capture = work + "/b.pcap"
        let tcpdump = try startCapture(on: b, filter: "ether proto 0x2020 or arp", file: capture)
        let lanad = try startNode(on: f, addresses: "10.0.0.2", forward: true)

        // First a burst that waits in arp's queue for the answer (at most
        // 16 per address are queued, docs/flip.md §8.6), then frames that
        // find the entry.
        var sent = try sendFLIP(from: a, to: f.mac, count: 10, destination: "10.0.0.3", source: "10.0.0.1", ttl: 5, first: 0)
        let forwardedToB = { [self] in frames(in: capture).filter { WireFrame.sourceMAC($0) == f.macBytes && WireFrame.etherType($0) == 0x2020 } }
        XCTAssertTrue(waitUntil(within: 5) { forwardedToB().count >= 10 },
                      "\(forwardedToB().count) of 10 frames reached b; fbctl show f:\n\(lanad.show("f"))\nfbctl show a:\n\(lanad.show("a"))")
        sent += try sendFLIP(from: a, to: f.mac, count: 40, destination: "10.0.0.3", source: "10.0.0.1", ttl: 5, first: 10)
        XCTAssertTrue(waitUntil(within: 5) { forwardedToB().count >= 50 }, "\(forwardedToB().count) of 50 frames reached b")
        stopCapture(tcpdump)

        // On b's link: one RFC 826 request from lanad, b's answer, and the
        // 50 frames, each once, changed only in TTL and checksum.
        let captured = frames(in: capture)
        let arp = captured.filter { WireFrame.etherType($0) == WireFrame.arpEtherType }
        let requests = arp.filter { WireFrame.sourceMAC($0) == f.macBytes }
        XCTAssertEqual(requests.count, 1, "ARP frames from lanad: \(requests.map(hexString))")
        if let request = requests.first {
            XCTAssertEqual(WireFrame.destinationMAC(request), WireFrame.broadcastMAC)
            let message = RFC826Message(body: WireFrame.body(request))
            XCTAssertEqual(message?.operation, 1, hexString(request))
            XCTAssertEqual(message?.senderMAC, f.macBytes)
            XCTAssertEqual(message?.senderAddress, [10, 0, 0, 2])
            XCTAssertEqual(message?.targetAddress, [10, 0, 0, 3])
        }
        let replies = arp.filter { WireFrame.sourceMAC($0) == b.macBytes }
        XCTAssertEqual(replies.count, 1, "ARP frames from b: \(replies.map(hexString))")
        XCTAssertEqual(replies.first.flatMap { RFC826Message(body: WireFrame.body($0)) }?.targetMAC, f.macBytes)

        let forwarded = captured.filter { WireFrame.sourceMAC($0) == f.macBytes && WireFrame.etherType($0) == 0x2020 }
        XCTAssertEqual(forwarded.count, 50)
        assertForwarded(forwarded, sent: sent, nextHop: b.macBytes)

        lanad.assertArpTable([ArpEntry("10.0.0.3", b.mac)])
        let show = lanad.show("f")
        XCTAssertEqual(lanad.engineTotal(inShow: show, "forwarded"), 50, "fbctl show f:\n\(show)")
        XCTAssertEqual(lanad.nonzeroDrops(), [:], "drops; fbctl show f:\n\(show)")
    }
}

extension FLIPInteropTestCase {
    /// Every frame of `forwarded` is one of `sent`, once, addressed to
    /// `nextHop`, with TTL one less, a checksum that is right for the new
    /// packet, and every other byte of the packet unchanged.
    func assertForwarded(_ forwarded: [[UInt8]], sent: [[UInt8]], nextHop: [UInt8],
                         file: StaticString = #filePath, line: UInt = #line) {
        var unseen = Dictionary(sent.compactMap { frame -> ([UInt8], FLIPPacket)? in
            guard let p = FLIPPacket(body: WireFrame.body(frame)) else { return nil }
            return (p.payload, p)
        }, uniquingKeysWith: { first, _ in first })
        XCTAssertEqual(unseen.count, sent.count, "the sender's frames do not parse or repeat a payload", file: file, line: line)
        for frame in forwarded {
            XCTAssertEqual(WireFrame.destinationMAC(frame), nextHop, hexString(frame), file: file, line: line)
            guard let packet = FLIPPacket(body: WireFrame.body(frame)) else {
                XCTFail("not a FLIP packet: \(hexString(frame))", file: file, line: line)
                continue
            }
            guard let original = unseen.removeValue(forKey: packet.payload) else {
                XCTFail("forwarded twice or never sent: \(packet)", file: file, line: line)
                continue
            }
            XCTAssertEqual(packet.ttl, original.ttl.map { $0 - 1 }, "\(packet)", file: file, line: line)
            XCTAssertTrue(packet.checksumIsValid, "checksum of \(packet): \(hexString(packet.packet))", file: file, line: line)
            var expected = original.packet
            var actual = packet.packet
            if let at = packet.checksumOffset, actual.count == expected.count {
                for i in [at, at + 1] { expected[i] = 0; actual[i] = 0 }
                if let ttlAt = ttlOffset(packet) { expected[ttlAt] = 0; actual[ttlAt] = 0 }
            }
            XCTAssertEqual(hexString(actual), hexString(expected), "bytes other than TTL and checksum changed", file: file, line: line)
        }
        XCTAssertEqual(unseen.count, 0, "never arrived: \(unseen.values.map(\.description))", file: file, line: line)
    }

    /// Where the TTL byte sits: after meta bytes, version, destination and type.
    func ttlOffset(_ p: FLIPPacket) -> Int? {
        guard p.ttl != nil else { return nil }
        let b1 = p.metaBytes[0]
        return p.metaBytes.count + (b1 & 0x20 != 0 ? 1 : 0) + p.destination.count + (p.type != nil ? 2 : 0)
    }
}
