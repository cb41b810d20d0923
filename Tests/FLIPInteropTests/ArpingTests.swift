import Foundation
import LANATestSupport
import XCTest

/// A Linux host resolves a FLIP node's IPv4 address with the real `arping`
/// (RFC 826), answered by lanad's `arp` block (docs/flip.md §8.3, §8.6).
final class ArpingTests: FLIPInteropTestCase, @unchecked Sendable {
    func testArpingGetsFiveRepliesFromLanad() throws {
        let lan = try makeLAN([("lana", "02:00:00:00:00:02"), ("linux", "02:00:00:00:00:01")])
        let lana = lan["lana"], linux = lan["linux"]
        try lan.ip(linux, "addr", "add", "10.0.0.1/24", "dev", linux.interface)
        // arping's requests are not the kernel's own, and Linux records a
        // reply to a request it did not send only with arp_accept: with it,
        // the neighbour table shows whether the kernel took lanad's reply
        // for a valid one.
        try lan.sysctl(linux, "net.ipv4.conf.\(linux.interface).arp_accept=1")
        let lanad = try startNode(on: lana, addresses: "10.0.0.2")

        let arping = try run(in: linux, ["arping", "-c", "5", "-I", linux.interface, "10.0.0.2"], timeout: 15)
        // Habets' arping: "60 bytes from 02:00:00:00:00:02 (10.0.0.2): …";
        // iputils': "Unicast reply from 10.0.0.2 [02:00:00:00:00:02] …".
        let replies = arping.stdout.split(separator: "\n").filter { $0.lowercased().contains(lana.mac) }
        XCTAssertEqual(replies.count, 5, "arping: \(arping)")
        XCTAssertEqual(arping.status, 0, "arping: \(arping)")

        let neighbours = try lan.ip(linux, "neigh", "show", "10.0.0.2", "dev", linux.interface)
        XCTAssertTrue(neighbours.contains("lladdr \(lana.mac)"), "ip neigh on \(linux.name): \(neighbours.debugDescription)")

        // The requests named their sender, and were for a local address:
        // lanad learned the Linux host (docs/flip.md §8.5 a).
        lanad.assertArpTable([ArpEntry("10.0.0.1", linux.mac)])
        XCTAssertEqual(lanad.nonzeroDrops(), [:], "drops; fbctl show a:\n\(lanad.show("a"))")
    }
}
