import Foundation
import Glibc
import LANATestSupport
import XCTest

/// The thesis's Appendix C.3 walkthrough, for real: `eth0` is a veth end in
/// the daemon's namespace, fb3 and fb5 are `bpf` blocks loaded with the
/// thesis's `ipv4.bpf` and `arp.bpf` (from `Configs/`), one through LANA's
/// assembler (`bpf=@file`), one as Debian's `bpfc` output piped into
/// `fbctl set … bpf=-`; the peer sends known numbers of IPv4, ARP and other
/// frames and the counters must read exactly those numbers.
final class BpfWalkthroughTests: InterfaceTestCase, @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var configs: String { repository + "/Configs" }

    /// Renames veth end `name` in the daemon namespace to `eth0`, as in the
    /// thesis (the namespace is the test's own; nothing else is called so).
    func renameToEth0(_ name: String) throws {
        let ns = net.daemonNamespace
        try Shell.must("ip", "-n", ns, "link", "set", name, "down")
        try Shell.must("ip", "-n", ns, "link", "set", name, "name", "eth0")
        try Shell.must("ip", "-n", ns, "link", "set", "eth0", "up")
        let up = try waitUntil(within: 5) { try Shell.must("ip", "-n", ns, "-o", "link", "show", "eth0").contains("LOWER_UP") }
        try require(up, "eth0 in \(ns) did not come back up after the rename")
    }

    /// Runs `lana-send.py` in the peer namespace: `count` frames of `kind`.
    func send(_ link: String, _ count: Int, kind: String, size: Int) throws {
        let r = try Shell.run(["ip", "netns", "exec", net.peerNamespace, try Shell.which("python3"),
                               Self.repository + "/Scripts/lana-send.py", link, String(count), "--kind", kind, "--size", String(size)],
                              timeout: 30, logDirectory: work)
        guard r.status == 0 else { throw CommandFailure(description: "lana-send.py \(kind): \(r)") }
    }

    /// What `fbctl show` reports running a program: native code on x86-64.
    #if arch(x86_64)
    static let machine = "jit"
    #else
    static let machine = "interpreter"
    #endif

    func testAppendixC3WithRealBpfBlocks() throws {
        let bpfc = try Shell.which("bpfc")   // Debian's netsniff-ng
        try require(FileManager.default.fileExists(atPath: Self.configs + "/ipv4.bpf"), "Configs/ipv4.bpf missing")
        let link = try net.addLink()
        try renameToEth0(link.inside)
        let lanad = try startDaemon()

        // vlink ethernet hook eth0; fbctl add fb2 tee; … (the walkthrough's order)
        try lanad.hook("eth0")
        for (name, type) in [("fb2", "tee"), ("fb3", "bpf"), ("fb4", "counter"), ("fb5", "bpf"), ("fb6", "counter")] {
            try lanad.fb("add", name, type)
        }
        let blocks = lanad.fblocks()
        XCTAssertEqual(blocks["fb2"], ["tee", "2", "1", "[]"])
        XCTAssertEqual(blocks["fb3"], ["bpf", "3", "1", "[]"])
        XCTAssertEqual(blocks["fb5"], ["bpf", "5", "1", "[]"])

        // bpfc ipv4.bpf > …/fb3, bpfc arp.bpf > …/fb5 — here once through
        // LANA's assembler, once through bpfc itself.
        try lanad.fb("set", "fb3", "bpf=@" + Self.configs + "/ipv4.bpf")
        let pipe = try Shell.run(["bash", "-c", "set -o pipefail; \"$0\" \"$1\" | \"$2\" --run-dir \"$3\" set fb5 bpf=-",
                                  bpfc, Self.configs + "/arp.bpf", BuildProducts.path("fbctl"), lanad.runDirectory],
                                 logDirectory: work)
        XCTAssertEqual(pipe.status, 0, "bpfc arp.bpf | fbctl set fb5 bpf=-: \(pipe)")
        XCTAssertEqual(pipe.stderr, "")
        // The status files show the loaded programs as bpfc prints them.
        let ipv4Tuples = try Shell.must(bpfc, Self.configs + "/ipv4.bpf")
        let arpTuples = try Shell.must(bpfc, Self.configs + "/arp.bpf")
        XCTAssertEqual(ipv4Tuples, """
            { 0x28, 0, 0, 0xfffff000 },
            { 0x15, 0, 1, 0x00000800 },
            { 0x6, 0, 0, 0x0000ffff },
            { 0x6, 0, 0, 0x00000000 },

            """)
        XCTAssertTrue(waitUntil(within: 5) { lanad.stateFile("fblock/fb3") == ipv4Tuples && lanad.stateFile("fblock/fb5") == arpTuples },
                      "fblock/fb3: \(lanad.stateFile("fblock/fb3") ?? "-")\nfblock/fb5: \(lanad.stateFile("fblock/fb5") ?? "-")")

        for (upper, lower) in [("fb2", "eth0"), ("fb3", "fb2"), ("fb5", "fb2"), ("fb4", "fb3"), ("fb6", "fb5")] {
            try lanad.fb("bind", upper, lower)
        }
        let bound = lanad.fblocks()
        XCTAssertEqual(bound["fb2"], ["tee", "2", "4", "[5", "3", "1]"])
        XCTAssertEqual(bound["fb3"], ["bpf", "3", "3", "[4", "2]"])
        XCTAssertEqual(bound["fb5"], ["bpf", "5", "3", "[6", "2]"])

        // Known traffic: IPv4 (98 bytes), ARP (60) and other frames (64).
        let ipv4 = 300, arp = 200, other = 100
        try send(link.peer, ipv4, kind: "ipv4", size: 98)
        try send(link.peer, arp, kind: "arp", size: 60)
        try send(link.peer, other, kind: "other", size: 64)
        // Every copy is either counted or dropped as filtered by one filter.
        let expectedFiltered = UInt64((arp + other) + (ipv4 + other))
        let settled = waitUntil(within: 15) {
            (lanad.drops()["filtered"] ?? 0) >= expectedFiltered
                && (lanad.counter("fb4")?.packets ?? 0) >= UInt64(ipv4) && (lanad.counter("fb6")?.packets ?? 0) >= UInt64(arp)
        }
        XCTAssertTrue(settled, "drops: \(lanad.drops()), fb4: \(String(describing: lanad.counter("fb4"))), fb6: \(String(describing: lanad.counter("fb6")))")
        XCTAssertEqual(lanad.stateFile("fblock/fb4"), "\(ipv4) \(ipv4 * 98)\n")
        XCTAssertEqual(lanad.stateFile("fblock/fb6"), "\(arp) \(arp * 60)\n")
        XCTAssertEqual(lanad.drops()["filtered"], expectedFiltered)
        let show3 = try lanad.fbctl("show", "fb3")
        XCTAssertEqual(show3.status, 0, "\(show3)")
        XCTAssertTrue(show3.stdout.contains("matched=\(ipv4) not-matched=\(arp + other) passed=0"), show3.stdout)
        XCTAssertTrue(show3.stdout.contains("options: direction=both program=bpf instructions=4 jit=on machine=\(Self.machine)\n"), show3.stdout)
        let show5 = try lanad.fbctl("show", "fb5")
        XCTAssertTrue(show5.stdout.contains("matched=\(arp) not-matched=\(ipv4 + other) passed=0"), show5.stdout)

        // The walkthrough's teardown, in its order.
        for (upper, lower) in [("fb6", "fb5"), ("fb4", "fb3"), ("fb5", "fb2"), ("fb3", "fb2"), ("fb2", "eth0")] {
            try lanad.fb("unbind", upper, lower)
        }
        let unhook = try lanad.vlink("ethernet", "unhook", "eth0")
        XCTAssertEqual(unhook.status, 0, "\(unhook)")
        for name in ["fb2", "fb3", "fb4", "fb5", "fb6"] { try lanad.fb("rm", name) }
        XCTAssertEqual(lanad.stateFile("fblocks"), "")
        XCTAssertEqual(try lanad.entries("fblock"), [])
    }

    /// `Configs/appendix-c3.conf` builds the same graph in one unit, with
    /// the same programs, and filters the same way.
    func testAppendixC3ConfigurationFile() throws {
        let link = try net.addLink()
        try renameToEth0(link.inside)
        let lanad = try startDaemon()
        let apply = try lanad.fbctl("apply", Self.configs + "/appendix-c3.conf")
        XCTAssertEqual(apply.status, 0, "\(apply)")
        XCTAssertEqual(lanad.stateFile("fblock/fb3"), try BpfProgramText.tuples(of: Self.configs + "/ipv4.bpf"))
        XCTAssertEqual(lanad.stateFile("fblock/fb5"), try BpfProgramText.tuples(of: Self.configs + "/arp.bpf"))
        try send(link.peer, 40, kind: "ipv4", size: 98)
        try send(link.peer, 30, kind: "arp", size: 60)
        try send(link.peer, 20, kind: "other", size: 64)
        // State files are rewritten one by one: wait for all three.
        XCTAssertTrue(waitUntil(within: 15) {
            (lanad.drops()["filtered"] ?? 0) >= 110 && (lanad.counter("fb4")?.packets ?? 0) >= 40 && (lanad.counter("fb6")?.packets ?? 0) >= 30
        }, "drops: \(lanad.drops()), fb4: \(String(describing: lanad.counter("fb4"))), fb6: \(String(describing: lanad.counter("fb6")))")
        XCTAssertEqual(lanad.stateFile("fblock/fb4"), "40 3920\n")
        XCTAssertEqual(lanad.stateFile("fblock/fb6"), "30 1800\n")
    }

    /// A refused program leaves the loaded one in place and says where it
    /// went wrong; a good one swapped in under traffic takes over without
    /// losing or double-counting a frame.
    func testRefusedProgramKeepsTheOldOneAndSwapsUnderTraffic() throws {
        let link = try net.addLink()
        let lanad = try startDaemon()
        try lanad.hook(link.inside)
        try lanad.fb("add", "f", "bpf")
        try lanad.fb("add", "c", "counter")
        try lanad.fb("bind", "f", link.inside)
        try lanad.fb("bind", "c", "f")
        try lanad.fb("set", "f", "bpf=@" + Self.configs + "/ipv4.bpf")

        let bad = work + "/bad.bpf"
        try "ldh [12]\njeq #0x800, L1, L2\nL1: ret #1\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try lanad.fbctl("set", "f", "bpf=@" + bad)
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertEqual(refused.stdout, "")
        XCTAssertTrue(refused.stderr.hasPrefix("fbctl: set f bpf=@\(bad): Invalid argument (EINVAL): f: bpf=<"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("program refused, the loaded one stays: line 2: "), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("L2"), refused.stderr)
        let missing = try lanad.fbctl("set", "f", "bpf=@" + work + "/missing.bpf")
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertEqual(missing.stderr, "fbctl: set f bpf=@\(work!)/missing.bpf: cannot read \(work!)/missing.bpf: No such file or directory\n")
        XCTAssertEqual(lanad.stateFile("fblock/f"), try BpfProgramText.tuples(of: Self.configs + "/ipv4.bpf"))

        // Swap between two programs that both match IPv4 ("ip" through
        // libpcap, ipv4.bpf through the assembler) while frames flow:
        // whichever program a burst sees, every frame is counted once.
        let swapper = Swapper()
        let runDirectory = lanad.runDirectory
        let ipv4File = Self.configs + "/ipv4.bpf"
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var n = 0
            while !swapper.stopped && n < 500 {
                let r = try? Shell.run([BuildProducts.path("fbctl"), "--run-dir", runDirectory, "set", "f",
                                        n.isMultiple(of: 2) ? "filter=ip" : "bpf=@" + ipv4File])
                swapper.record(ok: r?.status == 0)
                n += 1
            }
            done.signal()
        }
        let batches = 10, perBatch = 1000
        for _ in 0..<batches { try send(link.peer, perBatch, kind: "ipv4", size: 98) }
        swapper.stop()
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertTrue(waitUntil(within: 10) { lanad.counter("c")?.packets == UInt64(batches * perBatch) },
                      "counter: \(String(describing: lanad.counter("c")))")
        XCTAssertEqual(lanad.drops()["filtered"] ?? 0, 0)
        // Live counters: loading a program keeps them.
        let show = try lanad.fbctl("show", "f")
        XCTAssertTrue(show.stdout.contains("matched=\(batches * perBatch) not-matched=0 passed=0"), show.stdout)
        XCTAssertEqual(swapper.failures, 0)
        XCTAssertGreaterThanOrEqual(swapper.swaps, 2, "the swaps should overlap the traffic")
    }

    /// A 4096-instruction program whose source is far beyond the control
    /// protocol's 61,440-byte option limit still loads (fbctl sends it as
    /// `bpf64=`), and the status file and `fbctl show` cope with it.
    func testLongestProgramLoadsThroughFbctl() throws {
        let lanad = try startDaemon(engines: 1)
        try lanad.fb("add", "f", "bpf")
        var source = "; the longest program the verifier accepts, with comments that make its source large\n"
        for i in 0..<4095 {
            source += "ld #0x\(String(UInt32(truncatingIfNeeded: i &* 2_654_435_761), radix: 16)) ; load a constant nobody needs\n"
        }
        source += "ret a\n"
        XCTAssertGreaterThan(source.utf8.count, 61_440)
        try source.write(toFile: work + "/long.bpf", atomically: true, encoding: .utf8)
        try lanad.fb("set", "f", "bpf=@" + work + "/long.bpf")
        let expected = try BpfProgramText.tuples(of: work + "/long.bpf")
        XCTAssertEqual(expected.split(separator: "\n").count, 4096)
        XCTAssertTrue(waitUntil(within: 5) { lanad.stateFile("fblock/f") == expected })
        let show = try lanad.fbctl("show", "f")
        XCTAssertEqual(show.status, 0, "\(show)")
        XCTAssertTrue(show.stdout.contains("options: direction=both program=bpf instructions=4096 jit=on machine=\(Self.machine)\n"), show.stdout)
        XCTAssertTrue(show.stdout.contains("more lines in the status file"), show.stdout)
        // One instruction more is refused on the client, before sending.
        try (source + "ret #0\n").write(toFile: work + "/toolong.bpf", atomically: true, encoding: .utf8)
        let refused = try lanad.fbctl("set", "f", "bpf=@" + work + "/toolong.bpf")
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertTrue(refused.stderr.contains("more than 4096 instructions"), refused.stderr)
        XCTAssertEqual(lanad.stateFile("fblock/f"), expected)
    }

    /// `fbctl bpf compile` prints what Debian's `bpfc` prints; `disasm` and
    /// `filter` round-trip; errors name the line and exit 1.
    func testBpfToolsAgreeWithBpfcAndTcpdump() throws {
        let bpfc = try Shell.which("bpfc")
        let tcpdump = try Shell.which("tcpdump")
        for name in ["ipv4.bpf", "arp.bpf"] {
            let file = Self.configs + "/" + name
            let ours = try Shell.run([BuildProducts.path("fbctl"), "bpf", "compile", file])
            XCTAssertEqual(ours.status, 0, "\(ours)")
            XCTAssertEqual(ours.stdout, try Shell.must(bpfc, file), name)
            // disasm → compile gives the same program back.
            try ours.stdout.write(toFile: work + "/tuples", atomically: true, encoding: .utf8)
            let asm = try Shell.run([BuildProducts.path("fbctl"), "bpf", "disasm", work + "/tuples"])
            XCTAssertEqual(asm.status, 0, "\(asm)")
            try asm.stdout.write(toFile: work + "/back.bpf", atomically: true, encoding: .utf8)
            XCTAssertEqual(try BpfProgramText.tuples(of: work + "/back.bpf"), ours.stdout)
        }
        // filter: the instructions tcpdump -dd prints for the same expression.
        let expression = "tcp port 80 and (ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0"
        let ours = try Shell.run([BuildProducts.path("fbctl"), "bpf", "filter", "--format", "decimal", expression])
        XCTAssertEqual(ours.status, 0, "\(ours)")
        let theirs = try Shell.run([tcpdump, "-y", "EN10MB", "-s", "65535", "-ddd", expression])
        XCTAssertEqual(theirs.status, 0, "\(theirs)")
        XCTAssertEqual(ours.stdout, theirs.stdout)

        try "ldh [12]\njeq #0x800 L1\nL1: ret #1\n".write(toFile: work + "/bad.bpf", atomically: true, encoding: .utf8)
        let bad = try Shell.run([BuildProducts.path("fbctl"), "bpf", "compile", work + "/bad.bpf"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stdout, "")
        XCTAssertTrue(bad.stderr.hasPrefix("fbctl: bpf compile \(work!)/bad.bpf: line 2: "), bad.stderr)
        let badFilter = try Shell.run([BuildProducts.path("fbctl"), "bpf", "filter", "tcp port eighty"])
        XCTAssertEqual(badFilter.status, 1)
        XCTAssertTrue(badFilter.stderr.hasPrefix("fbctl: bpf filter tcp port eighty: tcpdump expression: "), badFilter.stderr)

        // --native: the machine code, which objdump reads as the program.
        #if arch(x86_64)
        let native = try Shell.run([BuildProducts.path("fbctl"), "bpf", "disasm", "--native", Self.configs + "/arp.bpf"])
        XCTAssertEqual(native.status, 0, "\(native)")
        var code: [UInt8] = []
        for line in native.stdout.split(separator: "\n") {
            XCTAssertLessThanOrEqual(line.count, 32, String(line))
            var rest = Substring(line)
            while rest.count >= 2, let byte = UInt8(rest.prefix(2), radix: 16) { code.append(byte); rest = rest.dropFirst(2) }
            XCTAssertEqual(rest, "", String(line))
        }
        try Data(code).write(to: URL(fileURLWithPath: work + "/arp.bin"))
        let listing = try Shell.must(try Shell.which("objdump"), "-D", "-b", "binary", "-mi386:x86-64", work + "/arp.bin")
        // ldh #proto; jeq #0x806: a 16-bit load from the environment (r8), a compare, returns.
        XCTAssertTrue(listing.contains("movzwl 0x0(%r8),%eax") || listing.contains("movzwl (%r8),%eax"), listing)
        XCTAssertTrue(listing.contains("cmp    $0x806,%eax"), listing)
        XCTAssertTrue(listing.contains("mov    $0xffff,%eax"), listing)
        #endif
    }
}

/// Counts program swaps made from another thread.
final class Swapper: @unchecked Sendable {
    private let lock = NSLock()
    private var _stopped = false, _swaps = 0, _failures = 0
    var stopped: Bool { lock.withLock { _stopped } }
    var swaps: Int { lock.withLock { _swaps } }
    var failures: Int { lock.withLock { _failures } }
    func stop() { lock.withLock { _stopped = true } }
    func record(ok: Bool) { lock.withLock { if ok { _swaps += 1 } else { _failures += 1 } } }
}

/// What a program file looks like as tuples, through `fbctl bpf compile`.
enum BpfProgramText {
    static func tuples(of file: String) throws -> String {
        let r = try Shell.run([BuildProducts.path("fbctl"), "bpf", "compile", file])
        guard r.status == 0 else { throw CommandFailure(description: "fbctl bpf compile \(file): \(r)") }
        return r.stdout
    }
}
