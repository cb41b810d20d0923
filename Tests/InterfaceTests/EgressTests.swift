import Foundation
import Glibc
import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import Synchronization
import XCTest

/// Egress through an `eth` block, byte for byte, checked by `tcpdump` on
/// the peer.
///
/// Why in-process: no block of the daemon flips a packet's direction
/// (dummy, counter and tee forward along it; tee copies keep it), and an
/// `eth` block sends a packet going *ingress* up its ingress port. So no
/// graph lanad can build turns frames received on one interface into
/// frames sent on another, and there is no injector command. The test
/// therefore hooks the interface as `lanad` does — the ethernet device
/// kind, attached to an in-process registry, with its sockets opened
/// inside the daemon namespace — and feeds egress packets from in-memory
/// sources.
final class EgressTests: InterfaceTestCase, @unchecked Sendable {
    func testEgressFramesReachThePeerByteForByte() throws {
        let link = try net.addLink()
        let engineCount = 2
        let perEngine = 2_000
        let memoryFrames = 1_000
        let total = engineCount * perEngine + memoryFrames

        // The oracle: tcpdump on the peer, with a filter for our EtherType.
        let capture = work + "/egress.pcap"
        let tcpdump = try captureOnPeer(link.peer, count: total, into: capture)

        // What vlink ethernet hook does, inside the daemon namespace.
        let registry = Registry(engineCount: engineCount)
        BuiltinBlocks.register(in: registry)
        let ifname = link.inside
        let (block, ethIDP) = try hookInProcess(ifname, registry: registry, engineCount: engineCount)
        try registry.add("c", type: "counter")
        try registry.bind("c", ifname)
        let counterIDP = try XCTUnwrap(registry.idp(of: "c"))

        let engines = EngineGroup(registry: registry, cpus: Array(repeating: nil, count: engineCount))
        engines.start()
        defer { engines.stop() }

        // Phase 1: distinct, numbered frames of every size enter at the
        // counter going egress (counter → eth), one source per engine.
        let sizes = [60, 128, 512, 1514]
        var expected: [UInt32: [UInt8]] = [:]
        var sources: [SequenceSource] = []
        for e in 0..<engineCount {
            var frames: [[UInt8]] = []
            for i in 0..<perEngine {
                let seq = UInt32(i * engineCount + e)
                let f = PeerScripts.customFrame(sequence: seq, size: sizes[i % sizes.count])
                expected[seq] = f
                frames.append(f)
            }
            let s = SequenceSource(frames: frames, entry: counterIDP)
            sources.append(s)
            registry.attachSource(s, engine: e)
        }
        let phase1 = UInt64(engineCount * perEngine)
        XCTAssertTrue(waitUntil(within: 20) { block.totals.txPackets + block.totals.txErrors >= phase1 },
                      "eth transmitted \(block.totals)")
        XCTAssertEqual(sources.map(\.produced), Array(repeating: perEngine, count: engineCount))
        registry.detachSources()

        // Phase 2: LANACore's MemorySource, entering at the eth block itself.
        let memorySequence: UInt32 = 0x00FF_0000
        let memoryFrame = PeerScripts.customFrame(sequence: memorySequence, size: 256)
        let memory = MemorySource(frame: memoryFrame, count: UInt64(memoryFrames), entry: ethIDP, direction: .egress)
        registry.attachSource(memory, engine: 0)
        XCTAssertTrue(waitUntil(within: 20) { block.totals.txPackets + block.totals.txErrors >= UInt64(total) },
                      "eth transmitted \(block.totals)")

        // The peer saw every frame exactly once, unchanged.
        if tcpdump.wait(seconds: 10) == nil { tcpdump.stop(first: SIGINT) }
        XCTAssertTrue(tcpdump.stderr.contains("\(total) packets captured"), tcpdump.stderr)
        XCTAssertTrue(tcpdump.stderr.contains("0 packets dropped by kernel"), tcpdump.stderr)
        let pcap = try Pcap.read(capture)
        XCTAssertEqual(pcap.linkType, 1, "DLT_EN10MB")
        XCTAssertEqual(pcap.records.count, total)
        var seen: [UInt32: Int] = [:]
        var lastPerEngine = [Int](repeating: -1, count: engineCount)
        var mismatched = 0, reordered = 0, memoryCopies = 0
        for r in pcap.records {
            XCTAssertEqual(r.originalLength, r.bytes.count, "capture truncated a frame")
            guard r.bytes.count >= 18 else { mismatched += 1; continue }
            let seq = UInt32(r.bytes[14]) << 24 | UInt32(r.bytes[15]) << 16 | UInt32(r.bytes[16]) << 8 | UInt32(r.bytes[17])
            if seq == memorySequence {
                if r.bytes != memoryFrame { mismatched += 1 }
                memoryCopies += 1
                continue
            }
            seen[seq, default: 0] += 1
            if expected[seq] != r.bytes { mismatched += 1 }
            // Each engine's own frames leave in the order it sent them.
            let e = Int(seq) % engineCount
            if Int(seq) < lastPerEngine[e] { reordered += 1 }
            lastPerEngine[e] = Int(seq)
        }
        XCTAssertEqual(mismatched, 0, "frames that differ from what was sent")
        XCTAssertEqual(seen.count, expected.count, "distinct frames received")
        XCTAssertEqual(seen.values.filter { $0 != 1 }.count, 0, "frames received more than once")
        XCTAssertEqual(reordered, 0, "frames of one engine out of order")
        XCTAssertEqual(memoryCopies, memoryFrames)

        // The sender's books agree.
        let t = block.totals
        let expectedBytes = expected.values.reduce(0) { $0 + UInt64($1.count) } + UInt64(memoryFrames * memoryFrame.count)
        XCTAssertEqual(t.txPackets, UInt64(total))
        XCTAssertEqual(t.txBytes, expectedBytes)
        XCTAssertEqual(t.txErrors, 0)
        XCTAssertEqual(block.transmitErrorsReportedByKernel, 0)
        XCTAssertEqual(t.rxPackets, 0, "the engines' own output must not come back in (PACKET_IGNORE_OUTGOING)")
        let counter = try XCTUnwrap(registry.block(named: "c") as? CounterBlock)
        XCTAssertEqual(counter.totals.egressPackets, phase1)
        XCTAssertEqual(counter.totals.ingressPackets, 0)
        XCTAssertTrue(engines.waitUntilIdle())
        let stats = engines.stats.total()
        XCTAssertEqual(stats.delivered, UInt64(total), "every packet counted as delivered (transmitted)")
        XCTAssertEqual(stats.totalDrops, 0, "drops: \(stats.drops)")
        XCTAssertEqual(stats.received, UInt64(total))
    }
}

/// Feeds one engine a fixed list of frames going egress, entering at
/// `entry`, as fast as the engine takes them.
final class SequenceSource: PacketSource, @unchecked Sendable {
    private let frames: [[UInt8]]
    private let entry: IDP
    private var next = 0
    private let producedCount = Atomic<Int>(0)

    init(frames: [[UInt8]], entry: IDP) {
        self.frames = frames
        self.entry = entry
    }

    var produced: Int { producedCount.load(ordering: .acquiring) }

    override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        var n = 0
        while n < max, next < frames.count {
            guard let h = frames[next].withUnsafeBytes({ engine.pool.allocate(copying: $0) }) else { break }
            let m = engine.pool.meta(h)
            m.pointee.next = entry.rawValue
            m.pointee.direction = .egress
            out[n] = h
            n += 1
            next += 1
        }
        if n > 0 { producedCount.store(next, ordering: .releasing) }
        return n
    }
}
