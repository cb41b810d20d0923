import Foundation
import LANATestSupport
import XCTest

/// Frames from the wire reach the graph, exactly once each, and every
/// counter that reports them agrees.
final class IngressTests: InterfaceTestCase, @unchecked Sendable {
    /// eth → counter; N = 10,000 frames of each size 60, 128, 512, 1514 sent
    /// by a raw socket on the peer. After each size: the counter's file, the
    /// eth block's `fbctl show` (received, dropped on arrival, ring drops),
    /// the `ppe` totals and the `drops` file all match exactly.
    func testExactFrameAndByteCountsPerSize() throws {
        let (link, d) = try counterOnHookedLink()

        let n = 10_000
        var packets: UInt64 = 0, bytes: UInt64 = 0
        for size in [60, 128, 512, 1514] {
            let started = ContinuousClock.now
            let sent = try sendFromPeer(link.peer, count: n, sizes: [size], firstSequence: Int(packets))
            XCTAssertEqual(sent, n)
            packets += UInt64(n)
            bytes += UInt64(n * size)
            let arrived = waitUntil(within: 20) { (d.counter("c")?.packets ?? 0) >= packets }
            XCTAssertTrue(arrived, "size \(size): counter shows \(String(describing: d.counter("c"))), want \(packets) packets")
            print("size \(size): \(n) frames sent and counted in \(String(format: "%.2f", seconds(since: started))) s")
            guard let c = d.counter("c") else { return XCTFail("no fblock/c") }
            XCTAssertEqual(c.packets, packets, "size \(size): counter packets")
            XCTAssertEqual(c.bytes, bytes, "size \(size): counter bytes (exact per size)")

            let show = try d.fbctl("show", link.inside)
            XCTAssertEqual(show.status, 0, "\(show)")
            XCTAssertEqual(showValue(show.stdout, line: "received", key: "packets"), packets, show.stdout)
            XCTAssertEqual(showValue(show.stdout, line: "received", key: "bytes"), bytes, show.stdout)
            XCTAssertEqual(showValue(show.stdout, line: "received", key: "dropped-on-arrival"), 0, show.stdout)
            XCTAssertEqual(showValue(show.stdout, line: "ring", key: "drops"), 0, "kernel ring drops: \(show.stdout)")

            // The stats thread refreshes ppe/drops every 200 ms.
            let settled = waitUntil(within: 5) {
                d.engines().reduce(0) { $0 + $1.packets } == packets && d.engines().reduce(0) { $0 + $1.ended } == packets
            }
            let engines = d.engines()
            XCTAssertTrue(settled, "ppe \(engines), drops \(d.drops())")
            XCTAssertEqual(engines.count, 2, "one ppe line per engine")
            XCTAssertEqual(engines.reduce(0) { $0 + $1.packets }, packets, "ppe packets")
            XCTAssertEqual(engines.reduce(0) { $0 + $1.bytes }, bytes, "ppe bytes")
            // eth and counter: two block calls per frame.
            XCTAssertEqual(engines.reduce(0) { $0 + $1.blockCalls }, 2 * packets, "ppe block calls")
            // Nothing is bound above the counter, so each frame ends there,
            // exactly once: the normal end of its path, not a drop.
            XCTAssertEqual(engines.reduce(0) { $0 + $1.ended }, packets, "ppe ended: each frame once, at the top")
            XCTAssertEqual(engines.reduce(0) { $0 + $1.drops }, 0, "ppe drops: a working graph drops nothing")
            XCTAssertEqual(d.drops().filter { $0.value != 0 }, [:], "no drop reason may appear")
        }

        // Nothing extra arrives afterwards (the kernel sends nothing: IPv6 off).
        usleep(500_000)
        XCTAssertEqual(d.counter("c")?.packets, packets)
        let counterShow = try d.fbctl("show", "c")
        XCTAssertEqual(showValue(counterShow.stdout, line: "ingress", key: "packets"), packets, counterShow.stdout)
        XCTAssertEqual(showValue(counterShow.stdout, line: "egress", key: "packets"), 0, counterShow.stdout)
        let vlink = d.vlinks()[link.inside]
        XCTAssertEqual(vlink, ["ethernet", String(try net.ifindex(link.inside)), "up"], "vlink file: \(d.stateFile("vlink") ?? "-")")
        XCTAssertEqual(d.fblocks()[link.inside]?.first, "eth", "fblocks: \(d.stateFile("fblocks") ?? "-")")
    }

    /// The files the state writer refreshes under traffic are replaced,
    /// never rewritten in place: `fblock/c` and `ppe` opened after a first
    /// batch still read that batch's counts, whole, after later batches
    /// have replaced them many times over, while the paths show the newest
    /// counts.
    func testStateFilesHeldOpenKeepTheirVersionUnderTraffic() throws {
        let (link, d) = try counterOnHookedLink(engines: 1)

        XCTAssertEqual(try sendFromPeer(link.peer, count: 1000, sizes: [60]), 1000)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == 1000 }, "\(String(describing: d.counter("c")))")
        XCTAssertTrue(waitUntil(within: 5) { d.engines().first?.packets == 1000 }, "\(d.engines())")
        let counterPath = d.runDirectory + "/fblock/c", ppePath = d.runDirectory + "/ppe"
        let heldCounter = open(counterPath, O_RDONLY | O_CLOEXEC), heldPPE = open(ppePath, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(heldCounter, 0)
        XCTAssertGreaterThanOrEqual(heldPPE, 0)
        let counterBefore = read(heldCounter), ppeBefore = read(heldPPE)
        XCTAssertEqual(counterBefore, "1000 60000\n")

        // Each batch takes longer than a refresh (200 ms): many versions.
        var sent = 1000
        for _ in 0..<5 {
            sent += try sendFromPeer(link.peer, count: 2000, sizes: [60], firstSequence: sent)
            XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == UInt64(sent) })
        }
        XCTAssertTrue(waitUntil(within: 5) { d.engines().first?.packets == UInt64(sent) }, "\(d.engines())")
        XCTAssertEqual(readTextFile(counterPath), "\(sent) \(sent * 60)\n")
        XCTAssertEqual(read(heldCounter), counterBefore, "the held version of fblock/c changed")
        XCTAssertEqual(read(heldPPE), ppeBefore, "the held version of ppe changed")
        close(heldCounter)
        close(heldPPE)
    }

    /// A veth link whose inside end is hooked by a new daemon, with a
    /// counter `c` bound on top of its eth block.
    /// eth's per-EtherType upper ports: a block bound on `up.type.0x88b5`
    /// gets exactly the frames of that EtherType, `up` all the others.
    func testEtherTypePortsSplitReceivedFrames() throws {
        let (link, d) = try counterOnHookedLink()
        try d.fb("add", "t", "counter")
        try d.fb("bind", "t", link.inside, "up.type.0x88b5")
        XCTAssertEqual(try sendFromPeer(link.peer, count: 500, sizes: [60, 200], kind: .custom), 500)
        XCTAssertEqual(try sendFromPeer(link.peer, count: 300, sizes: [80], kind: .udp, flows: 7), 300)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("t")?.packets == 500 && d.counter("c")?.packets == 300 },
                      "t \(String(describing: d.counter("t"))), c \(String(describing: d.counter("c")))")
        XCTAssertEqual(d.counter("t")?.bytes, 250 * 60 + 250 * 200)
        XCTAssertEqual(d.counter("c")?.bytes, 300 * 80)
        let show = try d.fbctl("show", link.inside)
        XCTAssertTrue(show.stdout.contains("up.type.0x88b5"), show.stdout)
        XCTAssertNotEqual(try d.fbctl("bind", "t", link.inside, "up.type.0x10000").status, 0)
    }

    /// eth prefetches the frames' first lines only when a block bound
    /// above reads their bytes (a counter does not; bpf does), and counts
    /// stay exact either way.
    func testPrefetchFollowsTheBlocksBoundAbove() throws {
        let (link, d) = try counterOnHookedLink()
        XCTAssertTrue(try d.fbctl("show", link.inside).stdout.contains("prefetch=off"))
        XCTAssertEqual(try sendFromPeer(link.peer, count: 400, sizes: [60], kind: .custom), 400)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == 400 }, "c \(String(describing: d.counter("c")))")
        try d.fb("unbind", "c", link.inside)
        try d.fb("add", "f", "bpf")
        try d.fb("bind", "f", link.inside)
        try d.fb("bind", "c", "f")
        XCTAssertTrue(try d.fbctl("show", link.inside).stdout.contains("prefetch=on"))
        XCTAssertEqual(try sendFromPeer(link.peer, count: 400, sizes: [60, 200], kind: .custom), 400)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == 800 }, "c \(String(describing: d.counter("c")))")
        try d.fb("unbind", "f", link.inside)
        XCTAssertTrue(try d.fbctl("show", link.inside).stdout.contains("prefetch=off"))
    }

    private func counterOnHookedLink(engines: Int = 2) throws -> (TestNetwork.VethLink, Lanad) {
        let link = try net.addLink()
        let d = try startDaemon(engines: engines)
        try d.hook(link.inside)
        try d.fb("add", "c", "counter")
        try d.fb("bind", "c", link.inside)
        return (link, d)
    }

    /// The whole content of `fd` from its start.
    private func read(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
    }

    /// A multi-flow IPv4/UDP stream, a known mix of all four sizes, is
    /// spread over both engines by the PACKET_FANOUT hash group: both `ppe`
    /// lines received some, their sums are exactly N frames and the mix's
    /// bytes, and the counter's per-engine split agrees.
    func testFanoutSpreadsFlowsOverBothEngines() throws {
        let (link, d) = try counterOnHookedLink(engines: 2)

        let n = 10_000
        let sizes = [60, 128, 512, 1514]
        let mixBytes = UInt64(n / sizes.count * sizes.reduce(0, +))
        XCTAssertEqual(try sendFromPeer(link.peer, count: n, sizes: sizes, kind: .udp, flows: 997), n)
        XCTAssertTrue(waitUntil(within: 20) { d.counter("c")?.packets == UInt64(n) }, "counter \(String(describing: d.counter("c")))")
        XCTAssertTrue(waitUntil(within: 5) { d.engines().reduce(0) { $0 + $1.packets } == UInt64(n) }, "ppe \(d.engines())")
        let engines = d.engines()
        XCTAssertEqual(engines.count, 2)
        for e in engines { XCTAssertGreaterThan(e.packets, 0, "\(e.cpu) received nothing: \(engines)") }
        XCTAssertEqual(engines.reduce(0) { $0 + $1.packets }, UInt64(n))
        XCTAssertEqual(engines.reduce(0) { $0 + $1.bytes }, mixBytes)
        XCTAssertEqual(d.counter("c")?.bytes, mixBytes, "counter bytes")
        print("fanout split: \(engines.map { "\($0.cpu)=\($0.packets)" }.joined(separator: " "))")

        let show = try d.fbctl("show", "c")
        let perEngine = (0..<2).map { showValue(show.stdout, line: "engine \($0) ingress", key: "packets") ?? 0 }
        XCTAssertEqual(perEngine.reduce(0, +), UInt64(n), show.stdout)
        XCTAssertEqual(Set(perEngine), Set(engines.map(\.packets)), "counter per engine vs ppe: \(show.stdout)")
        XCTAssertEqual(engines.reduce(0) { $0 + $1.ended }, UInt64(n), "every frame ended at the counter")
        XCTAssertEqual(d.drops().filter { $0.value != 0 }, [:])
    }
}
