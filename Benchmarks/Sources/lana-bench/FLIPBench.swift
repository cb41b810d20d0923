// lana-bench flip: the flip and arp blocks on one pinned engine — deliver,
// forward, send — against the same work in plain C, in one run.
//
//   lana-bench flip [--ops deliver,forward,send] [--reps 5]
//                   [--packets N | --seconds 2.5] [--cpu 1]
//                   [--report median|best] [--no-malloc-check] [--lana-only]
//
// Prints one line per operation, then one per operation of the C reference:
//   flip op=<op> ns_per_packet=<x> mpps=<y> mallocs_per_burst=<z> cpu_ns_per_packet=<u>
//   flip-c op=<op> ns_per_packet=<x> mpps=<y> cpu_ns_per_packet=<u> lana_over_c=<r>
// (the median repetition, or the best with --report best; ns_per_packet is
// wall time, cpu_ns_per_packet the CPU time the run got, which stays
// meaningful when other work shares the engine's CPU) and the
// per-repetition detail on standard error. Repetitions interleave LANA and
// C on the engine's CPU (A B, then B A) so that drifts of a shared machine
// hit both alike. Before timing, one checking run per operation compares
// every packet the terminal block receives with its docs/flip.md vector,
// and the C reference's last packet with the same bytes.

import CBenchSupport
import LANABlocks
import LANACore

#if canImport(Glibc)
import Glibc
#endif

struct FLIPBenchmark {
    struct Options {
        var operations = Operation.allCases
        var repetitions = 5
        /// Packets per run; 0 = calibrate to `seconds`.
        var packets: UInt64 = 0
        var seconds = 2.5
        var cpu = 1
        var report = "median"
        var requireMallocCounting = true
        /// Skip the C reference (for `perf record` or callgrind on LANA).
        var lanaOnly = false
    }

    /// What one LANA run measured.
    struct Run {
        var packets: UInt64
        var nanoseconds: UInt64
        var bursts: UInt64
        var mallocs: Int
        var frees: Int
        /// Process CPU time over the window: the engine's, and the control
        /// thread's polling (about 2 % of a CPU, hence a share a little
        /// above 1 on an idle machine).
        var cpuNanoseconds: UInt64

        var mpps: Double { Double(packets) * 1e3 / Double(nanoseconds) }
        var nsPerPacket: Double { Double(nanoseconds) / Double(packets) }
        var mallocsPerBurst: Double { bursts == 0 ? .nan : Double(mallocs) / Double(bursts) }
        /// Share of the window the process was on a CPU (1.0 = the engine
        /// was never preempted; lower means other work disturbed the run).
        var cpuShare: Double { Double(cpuNanoseconds) / Double(nanoseconds) }
        var cpuNsPerPacket: Double { Double(cpuNanoseconds) / Double(packets) }
    }

    /// What one run of the C reference measured, per packet.
    struct Reference {
        var ns: Double
        var cpuNs: Double
    }

    let options: Options

    func run() throws {
        try Allocations.checkActive(required: options.requireMallocCounting)
        note("# lana-bench flip: \(onlineCPUs()) online CPUs, engine on CPU \(options.cpu), "
            + "\(options.report) of \(options.repetitions) repetitions")
        var lines: [String] = [], cLines: [String] = []
        for op in options.operations {
            let (lana, c) = try measure(op)
            lines.append("flip op=\(op.rawValue) ns_per_packet=\(fixed(lana.nsPerPacket, 3)) mpps=\(fixed(lana.mpps, 2)) "
                + "mallocs_per_burst=\(formatRate(lana.mallocsPerBurst)) cpu_ns_per_packet=\(fixed(lana.cpuNsPerPacket, 3))")
            cLines.append("flip-c op=\(op.rawValue) ns_per_packet=\(fixed(c.ns, 3)) mpps=\(fixed(1e3 / c.ns, 2)) "
                + "cpu_ns_per_packet=\(fixed(c.cpuNs, 3)) lana_over_c=\(fixed(lana.nsPerPacket / c.ns, 2))")
        }
        for line in lines + (options.lanaOnly ? [] : cLines) { print(line) }
        fflush(nil)
    }

    /// Checks, calibrates and measures one operation; returns the chosen
    /// LANA run and the C reference's (median or best).
    func measure(_ op: Operation) throws -> (Run, Reference) {
        // Keep the control thread off the engine's CPU.
        let control = onlineCPUs() >= 2 ? (options.cpu == 0 ? 1 : 0) : options.cpu
        pinCurrentThread(to: control)
        try checkOutput(op)

        var packets = options.packets
        if packets == 0 {
            // Calibrate (also the warm-up): ~0.4 s worth of packets.
            var probe = try runOnce(op, packets: 2_000_000)
            if probe.nanoseconds < 200_000_000 {
                probe = try runOnce(op, packets: UInt64(Double(probe.packets) * 4e8 / Double(probe.nanoseconds)))
            }
            let perSecond = Double(probe.packets) * 1e9 / Double(probe.nanoseconds)
            packets = UInt64(perSecond * options.seconds / 1e5).clamped(10, 20_000) * 100_000
        } else {
            _ = try runOnce(op, packets: min(packets, 2_000_000))
        }

        var runs: [Run] = []
        var reference: [Reference] = []
        for r in 0..<options.repetitions {
            // A B, then B A.
            if r % 2 == 1 { reference.append(try referenceNanosecondsPerPacket(op, packets: packets)) }
            let run = try runOnce(op, packets: packets)
            runs.append(run)
            if r % 2 == 0 { reference.append(try referenceNanosecondsPerPacket(op, packets: packets)) }
            note("#   op=\(op.rawValue) rep=\(r + 1) packets=\(run.packets) seconds=\(fixed(Double(run.nanoseconds) / 1e9, 3)) "
                + "ns_per_packet=\(fixed(run.nsPerPacket, 3)) mpps=\(fixed(run.mpps, 2)) cpu_share=\(fixed(run.cpuShare, 3)) "
                + "cpu_ns_per_packet=\(fixed(run.cpuNsPerPacket, 3)) bursts=\(run.bursts) mallocs=\(run.mallocs) frees=\(run.frees) "
                + "c_ns_per_packet=\(fixed(reference.last!.ns, 3)) c_cpu_ns_per_packet=\(fixed(reference.last!.cpuNs, 3))")
        }
        let chosen: Run
        let c: Reference
        if options.report == "best" {
            chosen = runs.min { $0.nanoseconds < $1.nanoseconds }!
            c = reference.min { $0.ns < $1.ns }!
        } else {
            let m = median(runs.map { Double($0.nanoseconds) })
            chosen = runs.min { abs(Double($0.nanoseconds) - m) < abs(Double($1.nanoseconds) - m) }!
            let mc = median(reference.map(\.ns))
            c = reference.min { abs($0.ns - mc) < abs($1.ns - mc) }!
        }
        let ns = runs.map(\.nsPerPacket), cns = reference.map(\.ns)
        note("#   op=\(op.rawValue) lana ns_per_packet best=\(fixed(ns.min()!, 3)) median=\(fixed(median(ns), 3)) "
            + "worst=\(fixed(ns.max()!, 3)); c best=\(fixed(cns.min()!, 3)) median=\(fixed(median(cns), 3)) "
            + "worst=\(fixed(cns.max()!, 3)); mallocs total=\(runs.map(\.mallocs).reduce(0, +))")
        return (chosen, c)
    }

    /// Before timing: every packet of a short run through the graph, and
    /// the C reference's last packet, must be the operation's vector.
    func checkOutput(_ op: Operation) throws {
        let count: UInt64 = 1000
        let check = FLIPBenchSink.Check(expected: op.expected)
        _ = try runOnce(op, packets: count, check: check)
        guard check.seen == Int(count), check.mismatched == 0 else {
            throw BenchFailure("flip op=\(op.rawValue): the \(op.terminal) block saw \(check.seen) of \(count) packets, "
                + "\(check.mismatched) not as expected; first: \(hexString(check.firstMismatch ?? [])), "
                + "expected: \(hexString(op.expected))")
        }
        var last = [UInt8](repeating: 0, count: 2048)
        var length: Int32 = 0
        let ns = Self.withCSetup(op) { setup in
            last.withUnsafeMutableBufferPointer { bench_flip_c_reference(setup, count, $0.baseAddress, &length, nil) }
        }
        guard ns > 0, Array(last[0..<Int(length)]) == op.expected else {
            throw BenchFailure("flip-c op=\(op.rawValue): \(ns == 0 ? "dropped packets" : "wrong bytes"): "
                + "\(hexString(Array(last[0..<Int(length)]))), expected \(hexString(op.expected))")
        }
        note("#   op=\(op.rawValue): \(count) packets checked against the vector (LANA and C)")
    }

    func referenceNanosecondsPerPacket(_ op: Operation, packets: UInt64) throws -> Reference {
        if options.lanaOnly { return Reference(ns: .nan, cpuNs: .nan) }
        let control = onlineCPUs() >= 2 ? (options.cpu == 0 ? 1 : 0) : options.cpu
        pinCurrentThread(to: options.cpu)
        defer { pinCurrentThread(to: control) }
        var cpu: UInt64 = 0
        let ns = Self.withCSetup(op) { bench_flip_c_reference($0, packets, nil, nil, &cpu) }
        guard ns > 0 else { throw BenchFailure("flip-c op=\(op.rawValue): the C reference dropped or lost packets") }
        return Reference(ns: Double(ns) / Double(packets), cpuNs: Double(cpu) / Double(packets))
    }

    /// One run on a fresh graph and engine: timed from starting the engine
    /// thread until every packet is accounted for, then checked: every
    /// packet received, through every block, delivered, the flip counter
    /// of the operation at `packets`, the pool whole again.
    func runOnce(_ op: Operation, packets: UInt64, check: FLIPBenchSink.Check? = nil) throws -> Run {
        let (registry, entry) = try Self.makeGraph(op, check: check)
        let group = EngineGroup(registry: registry, cpus: [options.cpu])
        registry.attachSource(Self.makeSource(op, count: packets, entry: entry), engine: 0)
        let window = try MeasuredWindow.run(group, slots: [group.stats.slot(0)], packets: packets) {
            BenchFailure("flip op=\(op.rawValue): timed out, received \(group.stats.slot(0).load(.received)) of \(packets)")
        }

        let total = group.stats.total()
        var problems: [String] = []
        if total.received != packets { problems.append("received \(total.received) != \(packets)") }
        if total.blockCalls != packets * op.hops { problems.append("blockCalls \(total.blockCalls) != \(packets * op.hops)") }
        if total.delivered != packets || total.totalDrops != 0 {
            problems.append("delivered \(total.delivered), drops \(total.drops)")
        }
        if let flip = registry.block(named: "f") as? FLIPBlock {
            let counted = flip.totals.first { $0.name == op.flipCounter }?.value ?? 0
            if counted != packets { problems.append("flip counted \(op.flipCounter)=\(counted)") }
        }
        for e in group.engines where e.pool.available != e.pool.capacity {
            problems.append("pool \(e.pool.available)/\(e.pool.capacity) after the run")
        }
        if !problems.isEmpty { throw BenchFailure("flip op=\(op.rawValue): " + problems.joined(separator: "; ")) }
        return Run(packets: packets, nanoseconds: window.nanoseconds, bursts: total.bursts, mallocs: window.allocations.mallocs,
                   frees: window.allocations.frees, cpuNanoseconds: window.cpuNanoseconds)
    }

    private func formatRate(_ x: Double) -> String {
        if !Allocations.isActive { return "nan" }
        return x == 0 ? "0" : fixed(x, 6)
    }
}

func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func runFLIPBenchmark(_ args: ArraySlice<String>) throws {
    let usage = """
        usage: lana-bench flip [--ops deliver,forward,send] [--reps 5] [--packets N | --seconds 2.5]
                               [--cpu 1] [--report median|best] [--no-malloc-check] [--lana-only]
        """
    var o = FLIPBenchmark.Options()
    var it = BenchArguments(args)
    while let a = it.next() {
        switch a {
        case "--ops":
            let v = try it.value(a)
            let names = v.split(separator: ",").map(String.init)
            let ops = names.compactMap(FLIPBenchmark.Operation.init(rawValue:))
            guard !ops.isEmpty, ops.count == names.count else {
                throw UsageError("--ops: a list of \(FLIPBenchmark.Operation.allCases.map(\.rawValue).joined(separator: ", ")), not '\(v)'")
            }
            o.operations = ops
        case "--reps": o.repetitions = try it.int(a, min: 1)
        case "--packets": o.packets = UInt64(try it.int(a, min: 1))
        case "--seconds": o.seconds = try it.positive(a)
        case "--cpu": o.cpu = try it.int(a, min: 0)
        case "--report": o.report = try it.choice(a, ["median", "best"])
        case "--no-malloc-check": o.requireMallocCounting = false
        case "--lana-only": o.lanaOnly = true
        case "-h", "--help":
            print(usage)
            return
        default: throw UsageError("unknown argument '\(a)'\n\(usage)")
        }
    }
    guard o.cpu < onlineCPUs() else { throw UsageError("--cpu \(o.cpu): only \(onlineCPUs()) online CPUs") }
    try FLIPBenchmark(options: o).run()
}
