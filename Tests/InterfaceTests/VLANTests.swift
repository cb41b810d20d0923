import Foundation
import LANATestSupport
import XCTest

/// VLAN-tagged frames reach the graph as they were on the wire: the kernel
/// takes the outer tag out of every frame it receives, and the receive
/// ring puts it back. Checked against `tcpdump -e` on the hooked interface.
final class VLANTests: InterfaceTestCase, @unchecked Sendable {
    /// What the peer sends: `count` frames of `size` bytes on the wire with
    /// these tags (outermost first, each a TPID and a VLAN id), then the
    /// EtherType 0x88B5.
    struct Batch {
        let tags: [(tpid: UInt16, vid: UInt16)]
        let count: Int
        let size: Int
    }

    static let sender = #"""
import socket, struct, sys
ifname = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
seq = 0
sent = 0
for spec in sys.argv[2:]:
    # count:size:tpid/vid,tpid/vid...
    count, size, tags = spec.split(':')
    head = b'\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01'
    for t in filter(None, tags.split(',')):
        tpid, vid = t.split('/')
        # priority 3 on every tag, so the TCI is more than the VLAN id
        head += struct.pack('!HH', int(tpid, 16), (3 << 13) | int(vid))
    for i in range(int(count)):
        f = head + b'\x88\xb5' + struct.pack('!I', seq)
        f += bytes((seq + j) & 0xFF for j in range(int(size) - len(f)))
        s.send(f)
        seq += 1
        sent += 1
print(sent)
"""#

    func send(_ peer: String, _ batches: [Batch]) throws -> Int {
        let script = work + "/send-vlan.py"
        try Self.sender.write(toFile: script, atomically: true, encoding: .utf8)
        let specs = batches.map { b in
            "\(b.count):\(b.size):" + b.tags.map { String($0.tpid, radix: 16) + "/" + String($0.vid) }.joined(separator: ",")
        }
        let r = try Shell.run(["ip", "netns", "exec", net.peerNamespace, try Shell.which("python3"), script, peer] + specs,
                              timeout: 30, logDirectory: work)
        guard r.status == 0, let sent = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CommandFailure(description: "send-vlan.py failed: \(r)")
        }
        return sent
    }

    /// eth → tee → all (counter) → v100 (`filter='vlan 100'`) → c100 →
    /// tci (`ld #vlan_tci`) → ctci → pr (`ld #vlan_pr`) → cpr, the tee's
    /// copies to `copies` (counter). Single-tagged frames (VLAN 100 and
    /// 200, TPID 0x8100), QinQ frames (outer 0x88a8 or 0x8100 VLAN 100,
    /// inner 0x8100 VLAN 7) and untagged ones: packets and bytes equal what
    /// tcpdump -e counts on the same interface, and the filters match
    /// exactly the frames whose outer tag is VLAN 100 — or, for `#vlan_pr`,
    /// every tagged frame.
    func testTaggedFramesCountAndFilterAsOnTheWire() throws {
        _ = try Shell.which("tcpdump")
        let link = try net.addLink()
        let d = try startDaemon(engines: 2)
        try d.hook(link.inside)
        let tciProgram = work + "/tci.bpf", prProgram = work + "/pr.bpf"
        try """
            ldh #vlan_tci
            and #0xfff
            jeq #100, match, miss
            match: ret #-1
            miss: ret #0
            """.write(toFile: tciProgram, atomically: true, encoding: .utf8)
        try """
            ld #vlan_pr
            jeq #1, match, miss
            match: ret #-1
            miss: ret #0
            """.write(toFile: prProgram, atomically: true, encoding: .utf8)
        for (name, type) in [("t", "tee"), ("all", "counter"), ("copies", "counter"), ("v100", "bpf"), ("c100", "counter"),
                             ("tci", "bpf"), ("ctci", "counter"), ("pr", "bpf"), ("cpr", "counter")] {
            try d.fb("add", name, type)
        }
        try d.fb("set", "v100", "filter=vlan 100")
        try d.fb("set", "tci", "bpf=@" + tciProgram)
        try d.fb("set", "pr", "bpf=@" + prProgram)
        for (upper, lower) in [("t", link.inside), ("all", "t"), ("copies", "t"), ("v100", "all"), ("c100", "v100"),
                               ("tci", "c100"), ("ctci", "tci"), ("pr", "ctci"), ("cpr", "pr")] {
            try d.fb("bind", upper, lower)
        }

        let batches = [
            Batch(tags: [(0x8100, 100)], count: 300, size: 64),
            Batch(tags: [(0x8100, 200)], count: 200, size: 64),
            Batch(tags: [(0x8100, 100)], count: 100, size: 1518),
            Batch(tags: [(0x88A8, 100), (0x8100, 7)], count: 150, size: 68),
            Batch(tags: [(0x8100, 100), (0x8100, 7)], count: 50, size: 128),
            Batch(tags: [(0x88A8, 200), (0x8100, 100)], count: 70, size: 68),
            Batch(tags: [], count: 250, size: 60),
        ]
        let total = batches.reduce(0) { $0 + $1.count }
        let totalBytes = UInt64(batches.reduce(0) { $0 + $1.count * $1.size })
        let outer100 = batches.filter { $0.tags.first?.vid == 100 }
        let tagged = batches.filter { !$0.tags.isEmpty }

        // The oracle: tcpdump on the hooked interface itself.
        let tcpdump = try ChildProcess(name: "tcpdump", arguments: [
            try Shell.which("ip"), "netns", "exec", net.daemonNamespace, try Shell.which("tcpdump"),
            "-i", link.inside, "-e", "-nn", "-l", "-c", String(total), "ether src 02:00:00:00:00:01",
        ], logDirectory: work)
        defer { tcpdump.stop(first: SIGINT, grace: 2) }
        XCTAssertTrue(waitUntil(within: 10) { tcpdump.stderr.contains("listening on") || !tcpdump.isRunning },
                      "tcpdump: \(tcpdump.stderr)")

        XCTAssertEqual(try send(link.peer, batches), total)
        XCTAssertTrue(waitUntil(within: 20) { d.counter("all")?.packets == UInt64(total) && d.counter("copies")?.packets == UInt64(total) },
                      "all \(String(describing: d.counter("all"))), copies \(String(describing: d.counter("copies"))), want \(total)")
        XCTAssertNotNil(tcpdump.wait(seconds: 10), "tcpdump did not see \(total) frames: \(tcpdump.stderr)")

        // What tcpdump saw: one line per frame, its length and VLAN ids.
        // (For an unknown EtherType it adds a hex dump, on indented lines.)
        let lines = tcpdump.stdout.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("\t") && !$0.hasPrefix(" ") }
        XCTAssertEqual(lines.count, total, tcpdump.stderr)
        var dumpBytes: UInt64 = 0
        var dumpOuter100 = 0, dumpTagged = 0
        for line in lines {
            guard let length = line.firstMatch(of: /length (\d+)/).flatMap({ UInt64($0.1) }) else {
                XCTFail("no length in tcpdump line: \(line)")
                continue
            }
            dumpBytes += length
            let vids = line.matches(of: /vlan (\d+)/).map { String($0.1) }
            if !vids.isEmpty { dumpTagged += 1 }
            if vids.first == "100" { dumpOuter100 += 1 }
        }
        XCTAssertEqual(dumpBytes, totalBytes, "tcpdump's lengths are the sent sizes")
        XCTAssertEqual(dumpTagged, tagged.reduce(0) { $0 + $1.count })
        XCTAssertEqual(dumpOuter100, outer100.reduce(0) { $0 + $1.count })

        // LANA's counts: the frames as tcpdump saw them, tags included.
        XCTAssertEqual(d.counter("all")?.packets, UInt64(lines.count))
        XCTAssertEqual(d.counter("all")?.bytes, dumpBytes, "counter bytes = tcpdump's lengths")
        XCTAssertEqual(d.counter("copies")?.bytes, dumpBytes, "tee copies carry the tags")
        let show = try d.fbctl("show", link.inside)
        XCTAssertEqual(showValue(show.stdout, line: "received", key: "bytes"), dumpBytes, show.stdout)
        XCTAssertEqual(showValue(show.stdout, line: "received", key: "dropped-on-arrival"), 0, show.stdout)
        let want100 = UInt64(dumpOuter100)
        let bytes100 = UInt64(outer100.reduce(0) { $0 + $1.count * $1.size })
        XCTAssertTrue(waitUntil(within: 5) { d.counter("cpr")?.packets == want100 }, "cpr \(String(describing: d.counter("cpr")))")
        XCTAssertEqual(d.counter("c100")?.packets, want100, "filter='vlan 100'")
        XCTAssertEqual(d.counter("c100")?.bytes, bytes100)
        XCTAssertEqual(d.counter("ctci")?.packets, want100, "ld #vlan_tci")
        XCTAssertEqual(d.counter("cpr")?.packets, want100, "ld #vlan_pr after the VLAN 100 filters: all tagged")
        // Everything the filters let through or refused is accounted for.
        XCTAssertTrue(waitUntil(within: 5) { d.drops()["filtered"] == UInt64(total) - want100 }, "drops \(d.drops())")
        XCTAssertNil(d.drops()["vlan-headroom"].flatMap { $0 == 0 ? nil : $0 }, "drops \(d.drops())")
    }

    /// `ld #vlan_pr` alone: it matches every frame whose outer EtherType is
    /// a VLAN TPID and no other, and `ld #proto` gives the EtherType behind
    /// that tag, as the kernel's filters have them.
    func testVLANPresentAndProtocolMatchTheKernel() throws {
        let link = try net.addLink()
        let d = try startDaemon(engines: 1)
        try d.hook(link.inside)
        let prProgram = work + "/pr.bpf", protoProgram = work + "/proto.bpf"
        try "ld #vlan_pr\njeq #1, match, miss\nmatch: ret #-1\nmiss: ret #0\n".write(toFile: prProgram, atomically: true, encoding: .utf8)
        try "ld #proto\njeq #0x88b5, match, miss\nmatch: ret #-1\nmiss: ret #0\n".write(toFile: protoProgram, atomically: true, encoding: .utf8)
        for (name, type) in [("pr", "bpf"), ("cpr", "counter"), ("proto", "bpf"), ("cproto", "counter")] {
            try d.fb("add", name, type)
        }
        try d.fb("set", "pr", "bpf=@" + prProgram)
        try d.fb("set", "proto", "bpf=@" + protoProgram)
        for (upper, lower) in [("pr", link.inside), ("cpr", "pr"), ("proto", "cpr"), ("cproto", "proto")] {
            try d.fb("bind", upper, lower)
        }
        let batches = [
            Batch(tags: [(0x8100, 5)], count: 40, size: 64),
            Batch(tags: [(0x88A8, 6)], count: 30, size: 64),
            Batch(tags: [(0x88A8, 6), (0x8100, 9)], count: 20, size: 68),
            Batch(tags: [], count: 50, size: 60),
        ]
        XCTAssertEqual(try send(link.peer, batches), 140)
        // Single tags: the EtherType behind the tag is 0x88b5. QinQ: the
        // kernel took out the outer tag only; behind it is the inner TPID.
        XCTAssertTrue(waitUntil(within: 10) {
            d.counter("cpr")?.packets == 90 && d.counter("cproto")?.packets == 70 && d.drops()["filtered"] == 70
        }, "cpr \(String(describing: d.counter("cpr"))), cproto \(String(describing: d.counter("cproto"))), drops \(d.drops())")
        XCTAssertEqual(d.counter("cpr")?.packets, 90)
        let taggedBytes: UInt64 = 40 * 64 + 30 * 64 + 20 * 68
        XCTAssertEqual(d.counter("cpr")?.bytes, taggedBytes)
        XCTAssertEqual(d.counter("cproto")?.packets, 70)
    }
}
