import LANAPosix
import LANATestSupport
import SystemPackage
import XCTest

/// The TPACKET_V3 receive ring against a real veth link.
final class PacketSocketTests: VethTestCase {
    /// Sends `count` test frames cycling through the four sizes from side B.
    private func sendFromB(_ frames: [[UInt8]]) throws {
        let net = self.net!
        try net.runB {
            let peer = try RawPeer(interface: net.interfaceB, etherType: 0)
            for frame in frames { try peer.send(frame) }
        }
    }

    private func openSocketA(_ configuration: PacketSocket.Configuration = .init()) throws -> PacketSocket {
        let net = self.net!
        return try net.runA { try PacketSocket(interfaceName: net.interfaceA, configuration: configuration) }
    }

    private func expectedFrames(_ count: Int, from first: UInt32 = 0) -> [[UInt8]] {
        (0..<count).map { i in
            TestFrames.frame(sequence: first + UInt32(i), size: TestFrames.sizes[i % TestFrames.sizes.count])
        }
    }

    func testReceivesExactlyTheFramesSentByteForByte() throws {
        let socket = try openSocketA()
        let frames = expectedFrames(200)
        try sendFromB(frames)

        let received = try socket.collect(frames.count)
        XCTAssertEqual(received.count, frames.count)
        XCTAssertEqual(received, frames, "frames differ or arrived out of order")

        // Nothing else may show up: no duplicates, no kernel chatter.
        let extra = try socket.collectAll(for: 0.2)
        XCTAssertEqual(extra.count, 0, "unexpected extra frames")

        let statistics = try socket.statistics()
        XCTAssertEqual(statistics.packets, 200)
        XCTAssertEqual(statistics.delivered, 200)
        XCTAssertEqual(statistics.drops, 0)
    }

    func testReportsOriginalLengthAndPacketType() throws {
        let socket = try openSocketA()
        try sendFromB([TestFrames.frame(sequence: 7, size: 1514)])
        let epoll = try Epoll()
        try epoll.add(socket.descriptor, events: .readable, data: 0)
        var seen: (Int, Int, PacketSocket.PacketType, Bool)?
        let deadline = Deadline(seconds: 5)
        while seen == nil && !deadline.hasPassed {
            _ = try epoll.wait(timeout: .milliseconds(50))
            _ = socket.receiveBurst(max: 1) { frame in
                seen = (frame.bytes.count, frame.originalLength, frame.packetType, frame.vlan == nil)
            }
        }
        let (captured, original, type, untagged) = try XCTUnwrap(seen)
        XCTAssertEqual(captured, 1514)
        XCTAssertEqual(original, 1514)
        XCTAssertEqual(type, .otherHost, "destination MAC is not side A's")
        XCTAssertTrue(untagged)
    }

    /// The kernel takes the outer VLAN tag out of a frame before packet
    /// sockets see it; the reader puts it back, so the bytes are the frame
    /// as sent, and reports it: an 802.1Q tag, and an 802.1ad + 802.1Q
    /// pair (only the outer one was taken out).
    func testRestoresVLANTagsAsOnTheWire() throws {
        let ring = PacketSocket.RingConfiguration(
            blockSize: 16384, blockCount: 4, frameSize: 2048, retireTimeoutMilliseconds: 1)
        let socket = try openSocketA(.init(ring: ring))
        let untagged = TestFrames.frame(sequence: 3, size: 64)
        // VLAN 42, priority 5, inserted after the MAC addresses.
        let tagged = Array(untagged[0..<12]) + [0x81, 0x00, 0xA0, 0x2A] + Array(untagged[12...])
        let qinq = Array(untagged[0..<12]) + [0x88, 0xA8, 0x20, 0x64, 0x81, 0x00, 0x00, 0x07] + Array(untagged[12...])
        try sendFromB([tagged, qinq, untagged])
        let epoll = try Epoll()
        try epoll.add(socket.descriptor, events: .readable, data: 0)
        var seen: [([UInt8], Int, PacketSocket.VLANTag?)] = []
        let deadline = Deadline(seconds: 5)
        while seen.count < 3 && !deadline.hasPassed {
            _ = try epoll.wait(timeout: .milliseconds(50))
            _ = socket.receiveBurst(max: 3) { frame in seen.append((Array(frame.bytes), frame.originalLength, frame.vlan)) }
        }
        XCTAssertEqual(seen.count, 3)
        guard seen.count == 3 else { return }
        XCTAssertEqual(seen[0].0, tagged)
        XCTAssertEqual(seen[0].1, tagged.count)
        XCTAssertEqual(seen[0].2?.protocolID, 0x8100)
        XCTAssertEqual(seen[0].2?.identifier, 42)
        XCTAssertEqual(seen[0].2?.controlInformation, 0xA02A)
        XCTAssertEqual(seen[1].0, qinq)
        XCTAssertEqual(seen[1].2?.protocolID, 0x88A8)
        XCTAssertEqual(seen[1].2?.controlInformation, 0x2064)
        XCTAssertEqual(seen[2].0, untagged)
        XCTAssertNil(seen[2].2)
        XCTAssertEqual(socket.takeUnrestoredTags().frames, 0)
    }

    /// The zero-copy walk hands out the restored frame too, its length the
    /// length on the wire.
    func testTakeFramesHandsOutRestoredTags() throws {
        let socket = try openSocketA()
        let untagged = TestFrames.frame(sequence: 9, size: 100)
        let tagged = Array(untagged[0..<12]) + [0x81, 0x00, 0x00, 0x64] + Array(untagged[12...])
        try sendFromB([tagged, untagged])
        let epoll = try Epoll()
        try epoll.add(socket.descriptor, events: .readable, data: 0)
        var seen: [[UInt8]] = []
        let deadline = Deadline(seconds: 5)
        while seen.count < 2 && !deadline.hasPassed {
            _ = try epoll.wait(timeout: .milliseconds(50))
            _ = socket.takeFrames(max: 2) { ringFrame, bytes, length in
                let copy = Array(UnsafeRawBufferPointer(start: bytes, count: length))
                XCTAssertEqual(copy, Array(ringFrame.bytes), "the ring's header matches what was handed out")
                seen.append(copy)
            }
            socket.releaseFrames()
        }
        XCTAssertEqual(seen, [tagged, untagged])
    }

    /// A tiny ring read in small bursts: blocks are returned, the ring wraps
    /// several times, and bursts end in the middle of blocks.
    func testSmallRingWrapsAndReturnsBlocks() throws {
        let ring = PacketSocket.RingConfiguration(
            blockSize: 16384, blockCount: 4, frameSize: 2048, retireTimeoutMilliseconds: 1)
        let socket = try openSocketA(.init(ring: ring))
        var all: [[UInt8]] = []
        for round in 0..<10 {
            // 20 mixed frames fit in the 64 KiB ring without loss.
            let frames = expectedFrames(20, from: UInt32(round * 20))
            try sendFromB(frames)
            let received = try socket.collect(frames.count, burst: 7)
            XCTAssertEqual(received, frames, "round \(round)")
            all += received
        }
        XCTAssertEqual(all.count, 200)
        let statistics = try socket.statistics()
        XCTAssertEqual(statistics.drops, 0)
        XCTAssertEqual(statistics.delivered, 200)
        XCTAssertFalse(socket.hasPendingFrames)
    }

    func testStatisticsCountRingDrops() throws {
        // Two one-page blocks hold two full-size frames each.
        let ring = PacketSocket.RingConfiguration(
            blockSize: 4096, blockCount: 2, frameSize: 2048, retireTimeoutMilliseconds: 1)
        let socket = try openSocketA(.init(ring: ring))
        let frames = expectedFrames(100).map { frame -> [UInt8] in
            var full = frame
            while full.count < 1514 { full.append(0x5A) }
            return full
        }
        try sendFromB(frames)

        // The kernel counts in the veth's receive softirq, usually before
        // the send returns; wait for it rather than assume.
        var statistics = PacketSocket.Statistics()
        XCTAssertTrue(try waitUntil(within: 5, interval: 0.001) {
            statistics = try socket.statistics()
            return statistics.packets >= 100
        })
        XCTAssertEqual(statistics.packets, 100)
        XCTAssertGreaterThan(statistics.drops, 0)
        XCTAssertGreaterThan(statistics.freezes, 0, "a full ring freezes")

        let received = try socket.collect(Int(statistics.delivered), within: 5)
        XCTAssertEqual(UInt64(received.count), statistics.delivered)
        // What did arrive is the first frames, intact.
        XCTAssertEqual(received, Array(frames.prefix(received.count)))

        // Returned blocks take new frames again; totals accumulate.
        try sendFromB([TestFrames.frame(sequence: 1000, size: 60)])
        XCTAssertEqual(try socket.collect(1).count, 1)
        statistics = try socket.statistics()
        XCTAssertEqual(statistics.packets, 101)
    }

    func testPromiscuousMembershipLastsAsLongAsTheSocket() throws {
        let net = self.net!
        // A membership raises the device's promiscuity count, which only
        // `ip -d link` shows (SIOCGIFFLAGS reports the administrative flag).
        func promiscuity() throws -> String? {
            let details = try Shell.output("ip", "-d", "-n", net.namespaceA, "link", "show", net.interfaceA)
            let words = details.split(whereSeparator: { $0 == " " || $0 == "\n" })
            guard let i = words.firstIndex(of: "promiscuity"), i + 1 < words.count else { return nil }
            return String(words[i + 1])
        }
        XCTAssertEqual(try promiscuity(), "0")
        var socket: PacketSocket? = try openSocketA(.init(promiscuous: true))
        XCTAssertEqual(try promiscuity(), "1")
        let frames = expectedFrames(8)
        try sendFromB(frames)
        XCTAssertEqual(try socket?.collect(8), frames)
        socket = nil
        XCTAssertEqual(try promiscuity(), "0", "closing the socket drops the membership")
    }

    func testIgnoresOwnTransmitsUnlessAsked() throws {
        let net = self.net!
        let quiet = try openSocketA(.init(ignoreOutgoing: true))
        let hearing = try openSocketA(.init(ignoreOutgoing: false))
        let transmitter = try net.runA { try PacketTransmitter(interfaceName: net.interfaceA) }
        let frames = expectedFrames(10)
        for frame in frames {
            XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
        }
        XCTAssertEqual(try transmitter.flush(), 10)

        XCTAssertEqual(try hearing.collect(10), frames)
        XCTAssertEqual(try quiet.collectAll(for: 0.2).count, 0)

        // And incoming traffic still reaches the quiet socket.
        try sendFromB([TestFrames.frame(sequence: 99, size: 60)])
        XCTAssertEqual(try quiet.collect(1), [TestFrames.frame(sequence: 99, size: 60)])
    }

    /// In a fanout group, frames reach the socket through the group's hook,
    /// which ignores PACKET_IGNORE_OUTGOING: either the group takes the
    /// kernel's ignore-outgoing flag, and then the kernel must not put own
    /// transmits in the ring at all (the reader no longer looks for them),
    /// or the reader skips them.
    func testAFanoutMemberIgnoresOwnTransmits() throws {
        let net = self.net!
        let fanout = PacketSocket.Fanout(group: UInt16.random(in: 1...0xFFFF), mode: .hash)
        let quiet = try openSocketA(.init(ignoreOutgoing: true, fanout: fanout))
        let hearing = try openSocketA(.init(ignoreOutgoing: false))
        XCTAssertFalse(hearing.skipsOutgoingFrames, "nothing to skip when outgoing frames are wanted")
        let transmitter = try net.runA { try PacketTransmitter(interfaceName: net.interfaceA) }
        let frames = expectedFrames(10)
        for frame in frames {
            XCTAssertTrue(frame.withUnsafeBytes { transmitter.enqueue($0) })
        }
        XCTAssertEqual(try transmitter.flush(), 10)

        XCTAssertEqual(try hearing.collect(10), frames, "the frames left")
        XCTAssertEqual(try quiet.collectAll(for: 0.2).count, 0)
        if !quiet.skipsOutgoingFrames {
            XCTAssertEqual(try quiet.statistics().packets, 0, "the kernel put own transmits in a ring nobody filters")
        }

        try sendFromB([TestFrames.frame(sequence: 99, size: 60)])
        XCTAssertEqual(try quiet.collect(1), [TestFrames.frame(sequence: 99, size: 60)])
    }

    func testHashFanoutSplitsFlowsAndLosesNothing() throws {
        let fanout = PacketSocket.Fanout(group: UInt16.random(in: 1...0xFFFF), mode: .hash)
        let first = try openSocketA(.init(fanout: fanout))
        let second = try openSocketA(.init(fanout: fanout))
        let flows: UInt32 = 64
        let perFlow: UInt32 = 8
        var frames: [[UInt8]] = []
        for sequence in 0..<perFlow {
            for flow in 0..<flows { frames.append(TestFrames.udpFrame(flow: flow, sequence: sequence)) }
        }
        try sendFromB(frames)

        // Collect until the two together have everything.
        let deadline = Deadline(seconds: 5)
        var firstFrames: [[UInt8]] = []
        var secondFrames: [[UInt8]] = []
        while firstFrames.count + secondFrames.count < frames.count && !deadline.hasPassed {
            firstFrames += try first.collect(frames.count, within: 0.05)
            secondFrames += try second.collect(frames.count, within: 0.05)
        }
        XCTAssertEqual(firstFrames.count + secondFrames.count, frames.count)
        XCTAssertGreaterThan(firstFrames.count, 0, "hash put every flow on one socket")
        XCTAssertGreaterThan(secondFrames.count, 0, "hash put every flow on one socket")
        XCTAssertEqual(Set(firstFrames + secondFrames), Set(frames))

        // A flow never straddles the two sockets.
        let firstFlows = Set(firstFrames.compactMap { f in f.withUnsafeBytes { TestFrames.flow(of: $0) } })
        let secondFlows = Set(secondFrames.compactMap { f in f.withUnsafeBytes { TestFrames.flow(of: $0) } })
        XCTAssertTrue(firstFlows.isDisjoint(with: secondFlows))
        XCTAssertEqual(firstFlows.count + secondFlows.count, Int(flows))
    }

    func testLoadBalanceFanoutAlternates() throws {
        let fanout = PacketSocket.Fanout(group: UInt16.random(in: 1...0xFFFF), mode: .loadBalance)
        let first = try openSocketA(.init(fanout: fanout))
        let second = try openSocketA(.init(fanout: fanout))
        let frames = expectedFrames(100)
        try sendFromB(frames)
        let deadline = Deadline(seconds: 5)
        var a: [[UInt8]] = []
        var b: [[UInt8]] = []
        while a.count + b.count < 100 && !deadline.hasPassed {
            a += try first.collect(100, within: 0.05)
            b += try second.collect(100, within: 0.05)
        }
        XCTAssertEqual(a.count, 50)
        XCTAssertEqual(b.count, 50)
        XCTAssertEqual(Set(a + b), Set(frames))
    }

    func testFanoutGroupsMustAgreeOnMode() throws {
        let group = UInt16.random(in: 1...0xFFFF)
        let member = try openSocketA(.init(fanout: .init(group: group, mode: .hash)))
        XCTAssertThrowsError(try openSocketA(.init(fanout: .init(group: group, mode: .loadBalance)))) { error in
            XCTAssertEqual(error as? Errno, .invalidArgument)
        }
        XCTAssertThrowsError(try member.join(.init(group: group &+ 1))) { error in
            XCTAssertEqual(error as? Errno, .alreadyInProcess, "one group per socket")
        }
    }

    func testRejectsInvalidRingGeometry() throws {
        let ring = PacketSocket.RingConfiguration(blockSize: 4096, blockCount: 2, frameSize: 3000)
        XCTAssertThrowsError(try openSocketA(.init(ring: ring))) { error in
            XCTAssertEqual(error as? Errno, .invalidArgument)
        }
    }
}
