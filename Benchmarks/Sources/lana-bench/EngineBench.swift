import CBenchSupport
import LANABPF
import LANABlocks
import LANACore

#if canImport(Glibc)
import Glibc
#endif

/// The `engine` benchmark: bursts from an in-memory source through a chain
/// of `dummy` blocks on started, pinned engine threads.
///
/// Graph (ingress direction, `bind a b` = a on top of b):
///
///     MemorySource → counter → d1 → … → dk → bench-sink      (--terminal sink)
///     MemorySource → counter → d1 → … → dk   (unbound: drop) (--terminal drop)
///     MemorySource → counter → bpf → d1 → … → dk → bench-sink (--bpf FILTER)
///
/// With `--bpf FILTER` (a filter of `lana-bench bpf`) a `bpf` block runs the
/// program on every packet, once as native code and once in the interpreter
/// (`jit=on`, `jit=off`); the frames are then IPv4/TCP to port 80 with 32
/// bytes of payload, which every such filter reads through and
/// `tcp-80-payload` matches.
///
/// Every packet costs what a received one does: a buffer taken from the
/// engine's pool and a 64-byte frame copied into it (LANACore's
/// `MemorySource`), a `counter`, k `dummy` hops, and its buffer returned to
/// the pool at the end — by the sink block (which counts it delivered, like
/// a real terminal block) or by the engine's `unbound-port` drop.
struct EngineBenchmark {
    enum Terminal: String {
        case sink, drop
    }

    struct Options {
        var blocks: [Int] = [1, 5, 10]
        /// Chain lengths to run once more with two engines.
        var dualBlocks: [Int] = [1]
        var repetitions = 5
        var dualRepetitions = 3
        /// Packets per engine per run; 0 = calibrate to `seconds`.
        var packets: UInt64 = 0
        var seconds = 2.5
        var terminal = Terminal.sink
        /// CPU of the single engine.
        var cpu = 1
        var report = "median"
        var requireMallocCounting = true
        /// A `bpf` block with this filter after the counter, run with each
        /// `jit` setting in turn.
        var bpfFilter: String?
    }

    /// The `jit=` setting of the bpf block in this configuration, if any.
    var jit: String?

    /// What one run measured.
    struct Run {
        var blocks: Int
        var engines: Int
        var packets: UInt64
        var nanoseconds: UInt64
        var bursts: UInt64
        var mallocs: Int
        var frees: Int
        var blockCalls: UInt64
        /// Process CPU time over the window (engines + control thread).
        var cpuNanoseconds: UInt64

        /// Share of the window the engines were on a CPU (1.0 = never
        /// preempted; lower means other work on the machine disturbed the run).
        var cpuShare: Double { Double(cpuNanoseconds) / (Double(nanoseconds) * Double(engines)) }

        var mpps: Double { Double(packets) * 1e3 / Double(nanoseconds) }
        /// Wall time per packet; with n engines, per packet of one engine.
        var nsPerPacket: Double { Double(nanoseconds) * Double(engines) / Double(packets) }
        var mallocsPerBurst: Double { bursts == 0 ? .nan : Double(mallocs) / Double(bursts) }
    }

    static let frame: [UInt8] = {
        // 64-byte Ethernet frame with the local experimental EtherType 0x88B5.
        var f = [UInt8](repeating: 0, count: 64)
        let dst: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]
        let src: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
        f.replaceSubrange(0..<6, with: dst)
        f.replaceSubrange(6..<12, with: src)
        f[12] = 0x88; f[13] = 0xB5
        for i in 14..<64 { f[i] = UInt8(truncatingIfNeeded: i) }
        return f
    }()

    /// IPv4/TCP to port 80 with 32 bytes of payload (for `--bpf`).
    static let tcpFrame = BenchPackets.ipv4TCP(1, sport: 40001, dport: 80, payload: 32)

    let options: Options

    /// Runs the suite and prints one result line per configuration.
    func runSuite() throws {
        try Allocations.checkActive(required: options.requireMallocCounting)
        let cpus = onlineCPUs()
        note("# lana-bench engine: \(cpus) online CPUs, terminal=\(options.terminal.rawValue), "
            + "\(options.report) of \(options.repetitions) repetitions (engines=2: \(options.dualRepetitions))")
        if options.bpfFilter != nil {
            for k in options.blocks {
                for jit in ["on", "off"] {
                    var variant = self
                    variant.jit = jit
                    try variant.runConfiguration(blocks: k, engines: 1, cpus: [options.cpu], repetitions: options.repetitions)
                }
            }
            return
        }
        for k in options.blocks {
            try runConfiguration(blocks: k, engines: 1, cpus: [options.cpu], repetitions: options.repetitions)
        }
        if cpus >= 2 {
            for k in options.dualBlocks {
                try runConfiguration(blocks: k, engines: 2, cpus: [0, 1], repetitions: options.dualRepetitions)
            }
        } else {
            note("# engines=2 skipped: only one online CPU")
        }
    }

    func runConfiguration(blocks k: Int, engines n: Int, cpus: [Int], repetitions: Int) throws {
        // Keep the control thread off the engine's CPU while one engine runs.
        if n == 1, onlineCPUs() >= 2 { pinCurrentThread(to: cpus[0] == 0 ? 1 : 0) }
        var packets = options.packets
        if packets == 0 {
            // Calibrate (also the warm-up): ~0.4 s worth of packets.
            var probe = try runOnce(blocks: k, engines: n, cpus: cpus, packets: 20_000_000)
            if probe.nanoseconds < 200_000_000 {
                let more = UInt64(Double(probe.packets) * 4e8 / Double(probe.nanoseconds))
                probe = try runOnce(blocks: k, engines: n, cpus: cpus, packets: more)
            }
            let perSecond = Double(probe.packets) * 1e9 / Double(probe.nanoseconds)
            packets = UInt64(perSecond * options.seconds / 1e6).clamped(10, 2_000) * 1_000_000
        } else {
            _ = try runOnce(blocks: k, engines: n, cpus: cpus, packets: min(packets, 10_000_000))
        }
        var runs: [Run] = []
        var reference: [Double] = []
        for r in 0..<repetitions {
            let run = try runOnce(blocks: k, engines: n, cpus: cpus, packets: packets)
            note("#   blocks=\(k) engines=\(n) rep=\(r + 1) packets=\(run.packets) "
                + "seconds=\(fixed(Double(run.nanoseconds) / 1e9, 3)) mpps=\(fixed(run.mpps, 2)) "
                + "cpu_share=\(fixed(run.cpuShare, 3)) bursts=\(run.bursts) mallocs=\(run.mallocs) frees=\(run.frees)")
            runs.append(run)
            // The C reference, interleaved on the engine's CPU so that both
            // see the same machine.
            if n == 1 { reference.append(try referenceNanosecondsPerPacket(blocks: k, packets: packets, cpu: cpus[0])) }
        }
        let chosen: Run
        if options.report == "best" {
            chosen = runs.min { $0.nanoseconds < $1.nanoseconds }!
        } else {
            let m = median(runs.map { Double($0.nanoseconds) })
            chosen = runs.min { abs(Double($0.nanoseconds) - m) < abs(Double($1.nanoseconds) - m) }!
        }
        let mpps = runs.map(\.mpps)
        note("#   blocks=\(k) engines=\(n) mpps best=\(fixed(mpps.max()!, 2)) median=\(fixed(median(mpps), 2)) "
            + "worst=\(fixed(mpps.min()!, 2)) mallocs total=\(runs.map(\.mallocs).reduce(0, +))")
        let bpf = options.bpfFilter.map { " bpf=\($0) machine=\(jit == "on" ? "jit" : "interpreter")" } ?? ""
        print("engine blocks=\(k) engines=\(n)\(bpf) mpps=\(fixed(chosen.mpps, 2)) "
            + "ns_per_packet=\(fixed(chosen.nsPerPacket, 3)) mallocs_per_burst=\(formatRate(chosen.mallocsPerBurst))")
        if !reference.isEmpty {
            let ns = median(reference)
            print("engine-reference impl=c blocks=\(k) engines=1 mpps=\(fixed(1e3 / ns, 2)) ns_per_packet=\(fixed(ns, 3)) "
                + "lana_over_c=\(fixed(chosen.nsPerPacket / ns, 2))")
        }
        fflush(nil)
    }

    /// One run of the C reference pipeline (CBenchSupport's reference.c)
    /// on `cpu`: the same work per packet without the framework.
    func referenceNanosecondsPerPacket(blocks k: Int, packets: UInt64, cpu: Int) throws -> Double {
        let control = onlineCPUs() >= 2 ? (cpu == 0 ? 1 : 0) : cpu
        _ = pinCurrentThread(to: cpu)
        defer { _ = pinCurrentThread(to: control) }
        let ns = Self.frame.withUnsafeBufferPointer { f in
            bench_c_reference(Int32(k), packets, f.baseAddress, Int32(f.count))
        }
        guard ns > 0 else { throw UsageError("C reference lost packets (blocks=\(k))") }
        let perPacket = Double(ns) / Double(packets)
        note("#   reference impl=c blocks=\(k) ns_per_packet=\(fixed(perPacket, 3))")
        return perPacket
    }

    private func formatRate(_ x: Double) -> String {
        if !Allocations.isActive { return "nan" }
        return x == 0 ? "0" : fixed(x, 6)
    }

    /// One measured run: a fresh registry and engine group, `packets` per
    /// engine, timed from starting the engine threads until every packet
    /// is accounted for (received == drops + delivered on every engine).
    func runOnce(blocks k: Int, engines n: Int, cpus: [Int], packets: UInt64) throws -> Run {
        let registry = Registry(engineCount: n)
        BuiltinBlocks.register(in: registry)
        registry.register(BenchSinkBlock.type)
        let entry = try registry.add("counter", type: "counter")
        var below = "counter"
        if let filter = options.bpfFilter {
            try registry.add("f", type: "bpf")
            try registry.set("f", "bpf64=" + BPFProgram.base64Encoded(try BPFBenchmark.filters.first { $0.name == filter }!.source.program().instructions))
            try registry.set("f", "jit=\(jit ?? "on")")
            try registry.bind("f", below)
            below = "f"
        }
        for i in 1...max(k, 1) {
            try registry.add("d\(i)", type: "dummy")
            try registry.bind("d\(i)", below)
            below = "d\(i)"
        }
        if options.terminal == .sink {
            try registry.add("sink", type: BenchSinkBlock.type.name)
            try registry.bind("sink", below)
        }
        let group = EngineGroup(registry: registry, cpus: cpus)
        for e in 0..<n {
            registry.attachSource(
                MemorySource(frame: options.bpfFilter == nil ? Self.frame : Self.tcpFrame, count: packets, entry: entry,
                             direction: .ingress), engine: e)
        }
        let slots = (0..<n).map { group.stats.slot($0) }
        let window = try MeasuredWindow.run(group, slots: slots, packets: packets) {
            UsageError("timed out: blocks=\(k) engines=\(n) received=\(slots.map { $0.load(.received) })")
        }

        // Check that every packet went the whole way.
        let total = group.stats.total()
        let expected = packets * UInt64(n)
        let hops = UInt64(1 + k + (options.terminal == .sink ? 1 : 0) + (options.bpfFilter == nil ? 0 : 1))
        var problems: [String] = []
        if total.received != expected { problems.append("received \(total.received) != \(expected)") }
        if total.blockCalls != expected * hops { problems.append("blockCalls \(total.blockCalls) != \(expected * hops)") }
        switch options.terminal {
        case .sink:
            if total.delivered != expected || total.totalDrops != 0 {
                problems.append("delivered \(total.delivered), drops \(total.drops)")
            }
        case .drop:
            if total.drops(.unboundPort) != expected || total.totalDrops != expected {
                problems.append("unbound-port drops \(total.drops(.unboundPort)), drops \(total.drops)")
            }
        }
        if let counter = registry.block(named: "counter") as? CounterBlock, counter.totals.ingressPackets != expected {
            problems.append("counter saw \(counter.totals.ingressPackets)")
        }
        for e in group.engines where e.pool.available != e.pool.capacity {
            problems.append("engine \(e.index) pool \(e.pool.available)/\(e.pool.capacity) after the run")
        }
        if !problems.isEmpty { throw UsageError("blocks=\(k) engines=\(n): " + problems.joined(separator: "; ")) }

        return Run(blocks: k, engines: n, packets: expected, nanoseconds: window.nanoseconds, bursts: total.bursts,
                   mallocs: window.allocations.mallocs, frees: window.allocations.frees, blockCalls: total.blockCalls,
                   cpuNanoseconds: window.cpuNanoseconds)
    }
}

extension Comparable {
    func clamped(_ low: Self, _ high: Self) -> Self { min(max(self, low), high) }
}
