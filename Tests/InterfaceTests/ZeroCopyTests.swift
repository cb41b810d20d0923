import Foundation
import Glibc
import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import Synchronization
import XCTest

/// Frames received on an `eth` block are not copied: a packet's bytes stay
/// in the receive ring until the burst has left the graph. This relays
/// frames from one interface to another through a block that reads them
/// in place, detaches some and clones some, and checks on the far peer
/// (with `tcpdump`) that every frame and every copy left byte for byte.
///
/// In-process (``InterfaceTestCase/hookInProcess(_:registry:engineCount:)``),
/// because no block of the daemon turns received frames around.
final class ZeroCopyTests: InterfaceTestCase, @unchecked Sendable {
    func testRelayedFramesLeaveByteForByteFromTheRing() throws {
        let inbound = try net.addLink()
        let outbound = try net.addLink()
        let engineCount = 2
        let sizes = [60, 128, 512, 1514]
        let count = 4_000
        // Every fourth frame is also cloned and the copy sent too.
        let total = count + count / 4

        let capture = work + "/relay.pcap"
        let tcpdump = try captureOnPeer(outbound.peer, count: total, into: capture)

        let registry = Registry(engineCount: engineCount)
        BuiltinBlocks.register(in: registry)
        registry.register(EthBlock.type)
        let (inBlock, _) = try hookInProcess(inbound.inside, registry: registry, engineCount: engineCount)
        let (outBlock, outIDP) = try hookInProcess(outbound.inside, registry: registry, engineCount: engineCount)
        let relay = RelayBlock(to: outIDP)
        let relayType = BlockType(name: "relay", summary: "test: turns frames around to one IDP") { _ in relay }
        registry.register(relayType)
        try registry.add("relay", type: "relay")
        try registry.bind("relay", inbound.inside)

        let engines = EngineGroup(registry: registry, cpus: Array(repeating: nil, count: engineCount))
        engines.start()
        defer { engines.stop() }

        let sent = try sendFromPeer(inbound.peer, count: count, sizes: sizes)
        XCTAssertEqual(sent, count)
        XCTAssertTrue(waitUntil(within: 20) { outBlock.totals.txPackets + outBlock.totals.txErrors >= UInt64(total) },
                      "out: \(outBlock.totals), in: \(inBlock.totals)")

        // The relay saw every frame in the ring, and what it checked held.
        XCTAssertEqual(relay.seen, count)
        XCTAssertEqual(relay.inRing, count, "frames whose bytes were in the ring, not a pool buffer")
        XCTAssertEqual(relay.detached, (0..<count).filter { $0 % 3 == 0 }.count)
        XCTAssertEqual(relay.cloned, count / 4)
        XCTAssertEqual(relay.wrongBytes, 0, "frames whose bytes differed from what the peer sent, read in place")
        XCTAssertEqual(relay.failures, 0, "a detach or clone that failed or left the bytes in the ring")

        if tcpdump.wait(seconds: 10) == nil { tcpdump.stop(first: SIGINT) }
        XCTAssertTrue(tcpdump.stderr.contains("\(total) packets captured"), tcpdump.stderr)
        let pcap = try Pcap.read(capture)
        var copies: [UInt32: Int] = [:]
        var mismatched = 0
        for r in pcap.records {
            guard r.bytes.count >= 18 else { mismatched += 1; continue }
            let seq = UInt32(r.bytes[14]) << 24 | UInt32(r.bytes[15]) << 16 | UInt32(r.bytes[16]) << 8 | UInt32(r.bytes[17])
            if r.bytes != PeerScripts.customFrame(sequence: seq, size: sizes[Int(seq) % sizes.count]) { mismatched += 1 }
            copies[seq, default: 0] += 1
        }
        XCTAssertEqual(mismatched, 0, "frames that left different from how they arrived")
        XCTAssertEqual(copies.count, count, "distinct frames relayed")
        XCTAssertEqual(copies.filter { $0.value != ($0.key % 4 == 0 ? 2 : 1) }.count, 0,
                       "each frame once, each fourth one twice")

        XCTAssertTrue(engines.waitUntilIdle())
        let stats = engines.stats.total()
        XCTAssertEqual(stats.totalDrops, 0, "drops: \(stats.drops)")
        XCTAssertEqual(stats.delivered, UInt64(total))
        XCTAssertEqual(inBlock.totals.rxPackets, UInt64(count))
        XCTAssertEqual(outBlock.totals.txPackets, UInt64(total))
        XCTAssertEqual(outBlock.totals.rxPackets, 0)
    }
}

/// Sends every packet it gets to one IDP going egress, after checking its
/// bytes in place against the frame the peer script sent (by the sequence
/// number at offset 14). Frames whose number is a multiple of 3 are
/// detached first, multiples of 4 are also cloned.
private final class RelayBlock: FunctionalBlock, @unchecked Sendable {
    private let target: IDP
    private let counts = Mutex([Int](repeating: 0, count: 6))

    init(to target: IDP) { self.target = target }

    var seen: Int { counts.withLock { $0[0] } }
    var inRing: Int { counts.withLock { $0[1] } }
    var detached: Int { counts.withLock { $0[2] } }
    var cloned: Int { counts.withLock { $0[3] } }
    var wrongBytes: Int { counts.withLock { $0[4] } }
    var failures: Int { counts.withLock { $0[5] } }

    override var readsPacketHistory: Bool { true }

    override func process(_ burst: Burst, _ context: BlockContext) {
        let sizes = [60, 128, 512, 1514]
        var tally = [Int](repeating: 0, count: 6)
        for i in 0..<burst.count {
            let p = burst[i]
            tally[0] += 1
            let pool = context.engine.pool
            if !pool.ownsBytes(p.handle) { tally[1] += 1 }
            let bytes = Array(p.bytes)
            let seq = bytes.count >= 18
                ? UInt32(bytes[14]) << 24 | UInt32(bytes[15]) << 16 | UInt32(bytes[16]) << 8 | UInt32(bytes[17]) : 0
            if bytes != PeerScripts.customFrame(sequence: seq, size: sizes[Int(seq) % sizes.count]) { tally[4] += 1 }
            if seq % 3 == 0 {
                tally[2] += 1
                if !context.engine.detach(p) || !pool.ownsBytes(p.handle) || Array(p.bytes) != bytes { tally[5] += 1 }
            }
            if seq % 4 == 0 {
                if let c = context.engine.clone(p), pool.ownsBytes(c.handle), Array(c.bytes) == bytes {
                    tally[3] += 1
                    c.direction = .egress
                    context.engine.enqueue(c, to: target, from: context.idp)
                } else {
                    tally[5] += 1
                }
            }
            p.direction = .egress
            p.verdict = .forward(target)
        }
        counts.withLock { c in for k in 0..<6 { c[k] += tally[k] } }
    }
}
