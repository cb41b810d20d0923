import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// Live reconfiguration while `trafgen` sends 60-byte frames (64 on the
/// wire) as fast as it can: the project's headline claim (docs/design.md §5).
///
/// Accounting. Nothing in the graph consumes a frame (dummy, counter and
/// tee all forward), so every frame ends (`ended` in `ppe`) at the top of
/// its chain: the main counter `c` (nothing bound above it) or the tee
/// branch counter `br`. Tee copies enter the engine's books through
/// the backlog (`ppe` column "backlog enq"). Once the traffic has stopped
/// and the engines are idle:
///
///     received (ppe)            = c                    frames that entered reached the top
///     backlog enqueued (ppe)    = br                   every tee copy reached the branch
///     ended (ppe)               = c + br               each ended exactly once, at a top
///     every drop reason         = 0                    no no-next-hop, unknown-idp, hop-limit, …
///
/// With deliberate unbind/bind windows the difference `received − c` is
/// the number of frames that went up from a block whose upper port was
/// deliberately unbound: they end there (the engine cannot tell a top that
/// is meant from one that is briefly open), and no drop reason appears.
///
/// How insertion avoids a window: `bind` refuses a taken port (EBUSY), so
/// putting a block between two bound blocks needs unbind + bind + bind.
/// Sent as separate requests that leaves a window in which the lower
/// block's ingress port is unbound. Sent as one APPLY request (what
/// `fbctl apply` does) the registry checks all lines and publishes one
/// snapshot, so engines see the old chain or the new one, never the gap.
/// `replace` swaps a block at its IDP in one snapshot.
///
/// Engine stall. lanad runs with `--measure-stalls`: each engine records
/// its longest burst and the longest time between the end of one burst and
/// the start of the next while it had work (`<run-dir>/stalls`). Each test
/// prints the largest over both engines as a `benchmark:` line; it is a
/// figure, not asserted (the CPUs are shared with the generator). As a
/// cross-check from outside, the test also reads `ppe` after every control
/// request and reports, per engine, the longest time between two samples
/// at which its received count advanced.
final class ReconfigurationTests: InterfaceTestCase, @unchecked Sendable {
    /// Atomic operations only: replace the dummy, insert and remove a tee
    /// with APPLY, toggle the tee's branch with bind/unbind. Nothing may
    /// be lost.
    func testLiveReconfigurationAtLineRateLosesNothing() throws {
        let rig = try setUpChain()
        let d = rig.daemon
        try d.fb("add", "br", "counter")

        let run = try runUnderLoad(rig) { ctl, i in
            // 1. Replace the dummy by a fresh one (keeps name d0 and its IDP);
            //    the new block is added in the same request.
            try ctl.op(applying(["fbctl add n\(i) dummy", "fbctl replace d0 n\(i)"]))
            // 2. Insert a tee between d0 and c in one snapshot.
            try ctl.op(applying(["fbctl add t\(i) tee", "fbctl unbind c d0", "fbctl bind t\(i) d0", "fbctl bind c t\(i)"]))
            // 3. Branch on: br becomes the tee's clone port (second bind above it).
            try ctl.op(.bind("br", onTopOf: "t\(i)"))
            // 4. Branch off.
            try ctl.op(.unbind("br", from: "t\(i)"))
            // 5. Take the tee out again in one snapshot.
            try ctl.op(applying(["fbctl unbind c t\(i)", "fbctl unbind t\(i) d0", "fbctl bind c d0", "fbctl rm t\(i)"]))
        }
        let end = try settle(d, rig.ifname)
        let c = try XCTUnwrap(d.counter("c"))
        let br = try XCTUnwrap(d.counter("br"))
        run.report("atomic", end: end, counted: c.packets)
        print("tee copies: \(end.backlogEnqueued) enqueued, \(br.packets) counted by the branch")

        XCTAssertGreaterThanOrEqual(run.operations, 200, "hundreds of reconfigurations under load")
        XCTAssertGreaterThan(end.received, 100_000, "the generator ran at speed")
        XCTAssertEqual(end.received, c.packets, "every frame that entered the graph reached the counter")
        XCTAssertEqual(end.receivedBytes, c.bytes)
        XCTAssertEqual(end.backlogEnqueued, br.packets, "every tee copy reached the branch")
        XCTAssertGreaterThan(br.packets, 0, "the branch was on while traffic flowed")
        XCTAssertEqual(end.ended, c.packets + br.packets, "each packet ended once, at the top of a chain")
        XCTAssertEqual(end.unexpectedDrops, [:], "drop reasons neither graph produces")
        let list = try d.fbctl("list")
        XCTAssertTrue(list.stdout.contains("d0 dummy"), list.stdout)
        XCTAssertEqual(list.stdout.split(separator: "\n").count, 4, "eth, d0, c, br left: \(list.stdout)")
    }

    /// The same chain changed with separate requests (unbind, then bind):
    /// frames that meet the deliberately unbound port in between are the
    /// only ones that do not reach the counter: they end below it, and
    /// nothing is dropped.
    func testUnbindBindWindowsLoseNothingButEndBelowTheCounter() throws {
        let rig = try setUpChain()
        let d = rig.daemon
        var windows = 0
        let run = try runUnderLoad(rig) { ctl, i in
            // Re-bind the counter: one window at d0's ingress port.
            try ctl.op(.unbind("c", from: "d0"))
            try ctl.op(.bind("c", onTopOf: "d0"))
            // Replace (atomic) in between, to mix both kinds.
            try ctl.op(.add(name: "n\(i)", type: "dummy"))
            try ctl.op(.replace("d0", with: "n\(i)"))
            // Insert x between d0 and c with separate requests: one window.
            try ctl.op(.add(name: "x\(i)", type: "dummy"))
            try ctl.op(.unbind("c", from: "d0"))
            try ctl.op(.bind("x\(i)", onTopOf: "d0"))
            try ctl.op(.bind("c", onTopOf: "x\(i)"))
            // And take it out again: windows at x's and d0's ingress ports.
            try ctl.op(.unbind("c", from: "x\(i)"))
            try ctl.op(.unbind("x\(i)", from: "d0"))
            try ctl.op(.bind("c", onTopOf: "d0"))
            try ctl.op(.remove(name: "x\(i)"))
            windows += 3
        }
        let end = try settle(d, rig.ifname)
        let c = try XCTUnwrap(d.counter("c"))
        run.report("with-unbind", end: end, counted: c.packets)
        let lost = end.received - Swift.min(end.received, c.packets)
        print("unbind/bind windows: \(windows), frames dropped in them: \(lost) (\(String(format: "%.1f", Double(lost) / Double(Swift.max(windows, 1)))) per window)")

        XCTAssertGreaterThanOrEqual(run.operations, 200)
        XCTAssertGreaterThan(end.received, 100_000)
        XCTAssertGreaterThanOrEqual(end.received, c.packets)
        XCTAssertEqual(end.ended, end.received, "every frame ended: at c's top or below it in a window")
        XCTAssertEqual(end.unexpectedDrops, [:], "drop reasons neither graph produces")
    }

    /// Removing a tee's branch block (unbind + rm in one APPLY) while the
    /// tee copies frames to it. Tee copies wait in the engine's backlog
    /// until the next burst; a copy addressed to the removed block must
    /// not turn into an `unknown-idp` drop — the old graph would have
    /// delivered it to the branch, the new one would not have made it
    /// (docs/design.md §5: a packet inside the graph finishes on the snapshot it
    /// started with).
    func testRemovingATeeBranchUnderLoadLosesNoCopies() throws {
        let rig = try setUpChain()
        let d = rig.daemon
        // eth → d0 → t → c, persistent tee.
        try d.fb("add", "t", "tee")
        try d.fb("unbind", "c", "d0")
        try d.fb("bind", "t", "d0")
        try d.fb("bind", "c", "t")
        let run = try runUnderLoad(rig) { ctl, i in
            try ctl.op(applying(["fbctl add b\(i) counter", "fbctl bind b\(i) t"]))
            try ctl.op(applying(["fbctl unbind b\(i) t", "fbctl rm b\(i)"]))
        }
        let end = try settle(d, rig.ifname)
        let c = try XCTUnwrap(d.counter("c"))
        run.report("tee-branch-removal", end: end, counted: c.packets)
        XCTAssertGreaterThanOrEqual(run.operations, 200)
        XCTAssertGreaterThan(end.backlogEnqueued, 0, "copies were made")
        XCTAssertEqual(end.received, c.packets, "the main chain lost nothing")
        XCTAssertEqual(end.drops["unknown-idp"] ?? 0, 0,
                       "tee copies queued for a branch removed before the next burst are dropped as unknown-idp")
        XCTAssertEqual(end.unexpectedDrops, [:], "drop reasons neither graph produces")
    }

    // MARK: Rig

    struct Rig {
        let daemon: Lanad
        let ifname: String
        let peer: String
    }

    /// eth → d0 (dummy) → c (counter).
    private func setUpChain() throws -> Rig {
        let link = try net.addLink()
        let d = try startDaemon(engines: 2, options: ["--measure-stalls"])
        try d.hook(link.inside)
        try d.fb("add", "d0", "dummy")
        try d.fb("add", "c", "counter")
        try d.fb("bind", "d0", link.inside)
        try d.fb("bind", "c", "d0")
        return Rig(daemon: d, ifname: link.inside, peer: link.peer)
    }

    /// A `trafgen` configuration: IPv4/UDP, 60 bytes, to a MAC that is not
    /// lanad's, source address and port varying per frame so the fanout
    /// hash spreads them over both engines.
    static let trafgenConfig = """
        {
          0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  c16(0x0800),
          0x45, 0x00, c16(46), c16(0), c16(0x4000), 64, 17, csumip(14, 33),
          10, 0, 0, drnd(1),  10, 200, 0, 2,
          0x10, dinc(0, 255),  c16(9),  c16(26),  c16(0),
          fill(0xa5, 18)
        }
        """

    struct Run {
        var iterations = 0
        var operations = 0
        var trafficSeconds = 0.0
        var loopSeconds = 0.0
        var maxOperationSeconds = 0.0
        /// Per engine (ppe line): the longest time between two samples at
        /// which its received count advanced, while the generator ran.
        var maxGap: [String: Double] = [:]
        var samples = 0
        var engineThreads: [EngineThreadSampler.Engine] = []
        /// Frames trafgen reports sent.
        var offered: UInt64?

        func report(_ name: String, end: Settled, counted: UInt64) {
            let rate = Double(end.received) / Swift.max(trafficSeconds, 0.001)
            print("""
                reconfiguration under load: \(iterations) iterations, \(operations) control requests in \
                \(String(format: "%.2f", loopSeconds)) s (\(String(format: "%.0f", Double(operations) / Swift.max(loopSeconds, 0.001))) req/s, \
                slowest \(String(format: "%.1f", maxOperationSeconds * 1000)) ms)
                traffic: \(end.received) frames entered the graph in \(String(format: "%.2f", trafficSeconds)) s \
                (\(String(format: "%.0f", rate)) frames/s, bounded by the generator), counted \(counted), ring drops \(end.ringDrops)
                per engine: \(end.perEngine.map { "\($0.cpu)=\($0.packets)" }.joined(separator: " "))
                drops: \(end.drops.filter { $0.value != 0 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "))
                generator: \(offered.map(String.init) ?? "?") frames sent; \(end.received) entered the graph, ring drops \(end.ringDrops)
                largest gap between ppe samples showing progress, per engine (\(samples) samples, one per request): \
                \(maxGap.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.1f", $0.value * 1000)) ms" }.joined(separator: " "))
                engine threads during the loop (schedstat, ~1 ms sampling): \(engineThreads.map(\.description).joined(separator: "; "))
                engine stalls (--measure-stalls): \(end.stalls.map { "\($0.cpu) max_burst_ns=\($0.maxBurstNanos) max_gap_ns=\($0.maxGapNanos)" }.joined(separator: " "))
                benchmark: reconfig test=\(name) ops=\(operations) entered=\(end.received) \
                max_burst_us=\(String(format: "%.1f", Double(end.stalls.map(\.maxBurstNanos).max() ?? 0) / 1000)) \
                max_gap_us=\(String(format: "%.1f", Double(end.stalls.map(\.maxGapNanos).max() ?? 0) / 1000))
                """)
        }
    }

    /// One control connection; every request must succeed. Samples `ppe`
    /// after each.
    final class Controller {
        let client: ControlClient
        let daemon: Lanad
        var run = Run()
        var sampling = true
        private var lastProgress: [String: (packets: UInt64, at: ContinuousClock.Instant)] = [:]

        init(_ daemon: Lanad) throws {
            self.daemon = daemon
            client = try ControlClient(socketPath: daemon.controlSocket)
        }

        func op(_ request: Command, file: StaticString = #filePath, line: UInt = #line) throws {
            let started = ContinuousClock.now
            let reply = try client.send(request)
            run.maxOperationSeconds = Swift.max(run.maxOperationSeconds, seconds(since: started))
            run.operations += 1
            guard reply.isSuccess else {
                XCTFail("\(request): \(String(describing: reply.error)) \(reply.message ?? "")",
                        file: file, line: line)
                throw CommandFailure(description: "request refused")
            }
            if sampling { sample() }
        }

        func sample() {
            let now = ContinuousClock.now
            run.samples += 1
            for e in daemon.engines() {
                if let last = lastProgress[e.cpu] {
                    if e.packets != last.packets {
                        run.maxGap[e.cpu] = Swift.max(run.maxGap[e.cpu] ?? 0, seconds(since: last.at))
                        lastProgress[e.cpu] = (e.packets, now)
                    }
                } else if e.packets > 0 {
                    lastProgress[e.cpu] = (e.packets, now)
                }
            }
        }
    }

    /// Starts trafgen (at most 10,000,000 frames, at most 15 s), runs `step`
    /// in a loop for up to `limit` seconds while it sends, then stops it.
    /// The frame bound is far more than trafgen sends in the loop's time
    /// here (~450,000 a second): the loop must end before the traffic does.
    private func runUnderLoad(_ rig: Rig, seconds limit: Double = 4.5,
                              _ step: (Controller, Int) throws -> Void) throws -> Run {
        let config = work + "/udp.trafgen"
        try Self.trafgenConfig.write(toFile: config, atomically: true, encoding: .utf8)
        let ctl = try Controller(rig.daemon)
        // Under timeout(1): a process group of its own, so SIGINT reaches
        // trafgen's forked worker too, and a hard bound on its run time.
        let trafgen = try spawnInPeer("trafgen", [
            try Shell.which("timeout"), "-s", "INT", "15",
            try Shell.which("trafgen"), "--dev", rig.peer, "--conf", config, "--num", "10000000", "--cpus", "1",
            "--no-sock-mem", "--notouch-irq", "--no-cpu-stats",
        ])
        trafgen.signalsGroup = true
        let trafficStart = ContinuousClock.now
        // Both engines are receiving before the first change.
        let flowing = waitUntil(within: 10) {
            let e = rig.daemon.engines()
            return e.count == 2 && e.allSatisfy { $0.packets > 0 }
        }
        guard flowing else {
            XCTFail("traffic does not reach both engines: \(rig.daemon.engines()), trafgen: \(trafgen.stdout) \(trafgen.stderr)")
            throw CommandFailure(description: "no traffic")
        }
        let sampler = EngineThreadSampler(pid: rig.daemon.child.pid)
        XCTAssertEqual(sampler.engineCount, 2, "engine threads (pinned) found in /proc/\(rig.daemon.child.pid)/task")
        sampler.start()
        ctl.sample()
        let loopStart = ContinuousClock.now
        var i = 0
        while seconds(since: loopStart) < limit && trafgen.isRunning {
            try step(ctl, i)
            i += 1
        }
        ctl.run.loopSeconds = seconds(since: loopStart)
        ctl.run.iterations = i
        ctl.run.engineThreads = sampler.stop()
        XCTAssertTrue(trafgen.isRunning, "the generator ran for the whole loop: \(trafgen.stdout) \(trafgen.stderr)")
        ctl.sampling = false
        trafgen.stop(first: SIGINT, grace: 5)
        ctl.run.trafficSeconds = seconds(since: trafficStart)
        ctl.run.offered = (trafgen.stdout + trafgen.stderr).split(separator: "\n")
            .first { $0.contains("packets outgoing") }
            .flatMap { UInt64($0.split(whereSeparator: \.isWhitespace).first ?? "") }
        return ctl.run
    }

    struct Settled {
        var received: UInt64 = 0
        var receivedBytes: UInt64 = 0
        var backlogEnqueued: UInt64 = 0
        var ended: UInt64 = 0
        var perEngine: [EngineLine] = []
        var drops: [String: UInt64] = [:]
        var ringDrops: UInt64 = 0
        var stalls: [(cpu: String, maxBurstNanos: UInt64, maxGapNanos: UInt64)] = []

        var unexpectedDrops: [String: UInt64] {
            drops.filter { $0.value != 0 }
        }
    }

    /// Waits until the engines are done with every frame: the books close
    /// (received + backlog enqueued = ended + drops, nothing being
    /// delivered here)
    /// and stay the same over two refreshes of the state files.
    private func settle(_ d: Lanad, _ ifname: String) throws -> Settled {
        var last: [EngineLine] = []
        var stableSince = ContinuousClock.now
        let done = waitUntil(within: 15, interval: 0.05) {
            let e = d.engines()
            if e != last { last = e; stableSince = .now; return false }
            return e.count == 2 && e.allSatisfy { $0.backlogLength == 0 } && seconds(since: stableSince) > 0.5
        }
        XCTAssertTrue(done, "the engines did not settle: ppe \(d.engines()), drops \(d.drops())")
        var s = Settled()
        s.perEngine = d.engines()
        s.received = s.perEngine.reduce(0) { $0 + $1.packets }
        s.receivedBytes = s.perEngine.reduce(0) { $0 + $1.bytes }
        s.backlogEnqueued = s.perEngine.reduce(0) { $0 + $1.backlogEnqueued }
        s.ended = s.perEngine.reduce(0) { $0 + $1.ended }
        s.drops = d.drops()
        // The engine's ledger: received + created = delivered + ended +
        // dropped. Nothing is delivered here; tee copies are created and
        // either enqueued or dropped as backlog-full.
        let dropped = s.perEngine.reduce(0) { $0 + $1.drops }
        XCTAssertEqual(s.received + s.backlogEnqueued + (s.drops["backlog-full"] ?? 0), s.ended + dropped,
                       "books: ppe \(s.perEngine), drops \(s.drops)")
        XCTAssertEqual(s.drops.values.reduce(0, +), dropped, "drops file and ppe agree")
        let show = try d.fbctl("show", ifname)
        s.ringDrops = showValue(show.stdout, line: "ring", key: "drops") ?? 0
        s.stalls = d.stalls()
        XCTAssertEqual(s.stalls.count, 2, "one stalls line per engine: \(d.stateFile("stalls") ?? "no stalls file")")
        XCTAssertTrue(s.stalls.allSatisfy { $0.maxBurstNanos > 0 }, "engines that ran bursts measured them: \(d.stateFile("stalls") ?? "-")")
        return s
    }
}

/// APPLY of configuration-file lines, parsed as `fbctl apply` parses them.
private func applying(_ lines: [String]) throws -> Command {
    .apply(try ConfigurationFile(parsing: lines.joined(separator: "\n")).commands)
}
