import Foundation
import LANATestSupport
import XCTest

/// Only EtherType 0x2020 carries FLIP (docs/flip.md §1): IPv4 and other
/// frames reaching a node's `eth` ← `arp` ← `flip` graph are no FLIP
/// packets, whatever their first byte reads like (an IPv4 header's 0x45
/// has the ESP bit set; a body starting 0x00 reads as a minimal FLIP
/// packet without destination).
final class EtherTypeTests: FLIPInteropTestCase, @unchecked Sendable {
    func testOnlyEtherType2020ReachesFLIP() throws {
        let lan = try makeLAN([("lana", "02:00:00:00:00:02"), ("linux", "02:00:00:00:00:01")])
        let lana = lan["lana"], linux = lan["linux"]
        let lanad = try startNode(on: lana, addresses: "10.0.0.2")

        for kind in ["ipv4", "other"] {
            let r = try run(in: linux, ["python3", Self.sender, linux.interface, "5", "--kind", kind,
                                        "--to", lana.mac, "--from", linux.mac])
            XCTAssertEqual(r.status, 0, "lana-send.py --kind \(kind): \(r)")
        }
        // And one FLIP packet for the node, counted above flip.
        try sendFLIP(from: linux, to: lana.mac, count: 1, destination: "10.0.0.2", source: "0x0001", ttl: nil, first: 0)

        // Every frame has ended or been dropped (nothing is sent here).
        let settled = waitUntil(within: 5) {
            let e = lanad.engines()
            return e.reduce(0) { $0 + $1.packets } == 11 && e.reduce(0) { $0 + $1.ended + $1.drops } == 11
        }
        XCTAssertTrue(settled, "ppe: \(lanad.engines())")
        let show = lanad.show("f")
        XCTAssertEqual(lanad.engineTotal(inShow: show, "delivered"), 1, "fbctl show f:\n\(show)")
        XCTAssertEqual(lanad.engineTotal(inShow: show, "esp"), 0, "fbctl show f:\n\(show)")
        XCTAssertEqual(lanad.counted("up"), 1, "the counter above flip; fbctl show a:\n\(lanad.show("a"))")
    }
}
