// lana-bench bpf: LANA's classic BPF machine against libpcap's interpreter
// (`bpf_filter`), on the same programs and the same packets, in one run.
//
//   lana-bench bpf [--reps 11] [--evaluations 400000] [--cpu N]
//                  [--filter NAME[,NAME…]] [--only lana|libpcap]
//
// Prints, for every filter, one line per implementation on standard output:
//   bpf impl=lana filter=<name> ns_per_packet=<x>
//   bpf impl=libpcap filter=<name> ns_per_packet=<y>
// (medians over the repetitions) and the per-repetition figures, program
// lengths and ratios on standard error. Repetitions interleave the two
// implementations (A B, then B A) so that drifts of a shared machine hit
// both alike. Before timing, both must return the same value for every
// packet, or the benchmark fails.
//
// LANA runs the way the bpf block runs it: the compiled program's view, the
// engine's scratch memory, one `BPFEnvironment` per burst.

import CBPFBench
import LANABPF

#if canImport(Glibc)
import Glibc
#endif

struct BPFBenchmark {
    struct Options {
        var repetitions = 11
        var evaluations = 400_000
        var cpu: Int?
        /// Only these filters (by name); all when empty.
        var filters: [String] = []
        /// Only this implementation (for instruction counts under callgrind).
        var only: String?
    }

    /// The filters measured, from the shortest program to a long one.
    static let filters: [(name: String, source: Source)] = [
        ("ret0", .assembly("ret #0")),
        ("arp", .tcpdump("arp")),
        ("ip-udp", .tcpdump("ip and udp")),
        ("host", .tcpdump("host 10.1.2.3")),
        ("tcp-port-80", .tcpdump("tcp port 80")),
        ("tcp-80-payload", .tcpdump("tcp port 80 and (ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0")),
        ("udp-ports-net", .tcpdump("(tcp or udp) and (port 53 or portrange 8000-8080) and not net 192.168.0.0/16")),
    ]

    enum Source {
        case assembly(String)
        case tcpdump(String)

        func program() throws -> BPFProgram {
            switch self {
            case .assembly(let text): return try BPFProgram(source: text)
            case .tcpdump(let expression): return try BPFProgram(filter: expression)
            }
        }
    }

    let options: Options
    let packets: BenchPackets

    init(options: Options) {
        self.options = options
        packets = BenchPackets()
    }

    func run() throws {
        if let cpu = options.cpu, !pinCurrentThread(to: cpu) {
            throw UsageError("cannot pin to CPU \(cpu)")
        }
        let rounds = max(1, options.evaluations / packets.count)
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: 16)
        scratch.initialize(repeating: 0, count: 16)
        defer { scratch.deallocate() }

        var cases: [(name: String, compiled: BPFCompiledProgram, pcap: UnsafeMutablePointer<bench_bpf_insn>)] = []
        defer { for c in cases { c.pcap.deallocate() } }
        for f in Self.filters where options.filters.isEmpty || options.filters.contains(f.name) {
            let program = try f.source.program()
            let compiled = BPFCompiledProgram(program)
            let pcap = UnsafeMutablePointer<bench_bpf_insn>.allocate(capacity: program.count)
            for (i, insn) in program.instructions.enumerated() {
                pcap[i] = bench_bpf_insn(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k)
            }
            cases.append((f.name, compiled, pcap))
            // Same answer for every packet, or the comparison means nothing.
            var env = BPFEnvironment()
            var matches = 0
            for i in 0..<packets.count {
                let ours = compiled.unownedView.run(packets.frames[i], length: packets.lengths[i], &env, scratch: scratch)
                let theirs = bench_pcap_bpf_filter(pcap, packets.frames[i].assumingMemoryBound(to: UInt8.self), UInt32(packets.lengths[i]))
                guard ours == theirs else {
                    throw BenchFailure("filter \(f.name): packet \(i): lana returned \(ours), libpcap \(theirs)")
                }
                if ours != 0 { matches += 1 }
            }
            note("filter \(f.name): \(program.count) instructions, matches \(matches) of \(packets.count) packets")
        }

        var lana = Array(repeating: [Double](), count: cases.count)
        var pcap = Array(repeating: [Double](), count: cases.count)
        let total = Double(rounds * packets.count)
        for rep in 0..<options.repetitions {
            for (i, c) in cases.enumerated() {
                var order = rep.isMultiple(of: 2) ? [true, false] : [false, true]
                if let only = options.only { order = [only == "lana"] }
                for isLana in order {
                    let ns: UInt64
                    if isLana {
                        ns = timeLana(c.compiled.unownedView, rounds: rounds, scratch: scratch)
                        lana[i].append(Double(ns) / total)
                    } else {
                        ns = timePcap(c.pcap, rounds: rounds)
                        pcap[i].append(Double(ns) / total)
                    }
                }
            }
            note("rep \(rep + 1)/\(options.repetitions): " + cases.indices.map {
                "\(cases[$0].name) lana=\(fixed(lana[$0].last ?? .nan, 2)) libpcap=\(fixed(pcap[$0].last ?? .nan, 2))"
            }.joined(separator: " "))
        }
        for (i, c) in cases.enumerated() {
            let l = median(lana[i]), p = median(pcap[i])
            if options.only != "libpcap" { print("bpf impl=lana filter=\(c.name) ns_per_packet=\(fixed(l, 2))") }
            if options.only != "lana" { print("bpf impl=libpcap filter=\(c.name) ns_per_packet=\(fixed(p, 2))") }
            if options.only == nil {
                note("filter \(c.name): libpcap/lana = \(fixed(p / l, 2)) (best of \(options.repetitions): lana \(fixed(lana[i].min()!, 2)), libpcap \(fixed(pcap[i].min()!, 2)))")
            }
        }
    }

    @inline(never)
    func timeLana(_ view: BPFCompiledProgramView, rounds: Int, scratch: UnsafeMutablePointer<UInt32>) -> UInt64 {
        var env = BPFEnvironment()
        var sum: UInt32 = 0
        let frames = packets.frames, lengths = packets.lengths, n = packets.count
        let start = nowNanoseconds()
        for _ in 0..<rounds {
            var i = 0
            while i < n {
                sum &+= view.run(frames[i], length: lengths[i], &env, scratch: scratch)
                i &+= 1
            }
        }
        let elapsed = nowNanoseconds() &- start
        blackHole(sum)
        return elapsed
    }

    @inline(never)
    func timePcap(_ program: UnsafeMutablePointer<bench_bpf_insn>, rounds: Int) -> UInt64 {
        var sum: UInt32 = 0
        let frames = packets.frames, lengths = packets.lengths, n = packets.count
        let start = nowNanoseconds()
        for _ in 0..<rounds {
            var i = 0
            while i < n {
                sum &+= bench_pcap_bpf_filter(program, frames[i].assumingMemoryBound(to: UInt8.self), UInt32(truncatingIfNeeded: lengths[i]))
                i &+= 1
            }
        }
        let elapsed = nowNanoseconds() &- start
        blackHole(sum)
        return elapsed
    }
}

@inline(never)
func blackHole(_ x: UInt32) {
    if x == 0x5EED_5EED { note("") }
}

struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func runBPFBenchmark(_ args: ArraySlice<String>) throws {
    let usage = """
        usage: lana-bench bpf [--reps 11] [--evaluations 400000] [--cpu N]
                              [--filter NAME[,NAME…]] [--only lana|libpcap]
          filters: \(BPFBenchmark.filters.map(\.name).joined(separator: ", "))
        """
    var o = BPFBenchmark.Options()
    var it = args.makeIterator()
    func int(_ flag: String, min: Int) throws -> Int {
        guard let v = it.next(), let x = Int(v), x >= min else { throw UsageError("\(flag): expected an integer ≥ \(min)") }
        return x
    }
    while let a = it.next() {
        switch a {
        case "--reps": o.repetitions = try int(a, min: 1)
        case "--evaluations": o.evaluations = try int(a, min: 1)
        case "--cpu": o.cpu = try int(a, min: 0)
        case "--filter":
            guard let v = it.next() else { throw UsageError("--filter needs a list of filter names") }
            o.filters = v.split(separator: ",").map(String.init)
            let known = BPFBenchmark.filters.map(\.name)
            if let bad = o.filters.first(where: { !known.contains($0) }) {
                throw UsageError("--filter: unknown filter '\(bad)' (known: \(known.joined(separator: ", ")))")
            }
        case "--only":
            guard let v = it.next(), v == "lana" || v == "libpcap" else { throw UsageError("--only: lana or libpcap") }
            o.only = v
        case "-h", "--help":
            print(usage)
            return
        default: throw UsageError("unknown argument '\(a)'\n\(usage)")
        }
    }
    try BPFBenchmark(options: o).run()
}
