// lana-bench bpf: LANA's classic BPF machine against libpcap's interpreter
// (`bpf_filter`), on the same programs and the same packets, in one run.
//
//   lana-bench bpf [--reps 11] [--evaluations 400000] [--cpu N]
//                  [--filter NAME[,NAME…]] [--only lana-jit|lana|libpcap]
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

    /// The implementations compared, in the order they are printed.
    static let implementations = ["lana-jit", "lana", "libpcap"]

    func run() throws {
        if let cpu = options.cpu, !pinCurrentThread(to: cpu) {
            throw UsageError("cannot pin to CPU \(cpu)")
        }
        let rounds = max(1, options.evaluations / packets.count)
        let scratch = UnsafeMutablePointer<UInt32>.allocate(capacity: 16)
        scratch.initialize(repeating: 0, count: 16)
        defer { scratch.deallocate() }
        guard BPFMachine.nativeAvailable || options.only == "lana" || options.only == "libpcap" else {
            throw BenchFailure("no native code emitter for this processor: use --only lana or --only libpcap")
        }

        var cases: [(name: String, jit: BPFCompiledProgram, compiled: BPFCompiledProgram, pcap: UnsafeMutablePointer<bench_bpf_insn>)] = []
        defer { for c in cases { c.pcap.deallocate() } }
        for f in Self.filters where options.filters.isEmpty || options.filters.contains(f.name) {
            let program = try f.source.program()
            let compiled = BPFCompiledProgram(program)
            let jit = BPFCompiledProgram(program, native: true)
            let pcap = UnsafeMutablePointer<bench_bpf_insn>.allocate(capacity: program.count)
            for (i, insn) in program.instructions.enumerated() {
                pcap[i] = bench_bpf_insn(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k)
            }
            cases.append((f.name, jit, compiled, pcap))
            // Same answer for every packet, or the comparison means nothing.
            var env = BPFEnvironment()
            var matches = 0
            for i in 0..<packets.count {
                let ours = compiled.unownedView.run(packets.frames[i], length: packets.lengths[i], &env, scratch: scratch)
                let native = jit.unownedView.run(packets.frames[i], length: packets.lengths[i], &env, scratch: scratch)
                let theirs = bench_pcap_bpf_filter(pcap, packets.frames[i].assumingMemoryBound(to: UInt8.self), UInt32(packets.lengths[i]))
                guard ours == theirs, native == theirs else {
                    throw BenchFailure("filter \(f.name): packet \(i): lana returned \(ours), lana-jit \(native), libpcap \(theirs)")
                }
                if ours != 0 { matches += 1 }
            }
            note("filter \(f.name): \(program.count) instructions, \(jit.native?.size ?? 0) bytes of machine code, "
                 + "matches \(matches) of \(packets.count) packets")
        }

        let impls = options.only.map { [$0] } ?? Self.implementations
        var ns = Array(repeating: Array(repeating: [Double](), count: cases.count), count: impls.count)
        let total = Double(rounds * packets.count)
        for rep in 0..<options.repetitions {
            for (i, c) in cases.enumerated() {
                // Rotate the order so that drifts of a shared machine hit all alike.
                for step in impls.indices {
                    let which = (step + rep) % impls.count
                    let elapsed: UInt64
                    switch impls[which] {
                    case "lana-jit": elapsed = timeLana(c.jit.unownedView, rounds: rounds, scratch: scratch)
                    case "lana": elapsed = timeLana(c.compiled.unownedView, rounds: rounds, scratch: scratch)
                    default: elapsed = timePcap(c.pcap, rounds: rounds)
                    }
                    ns[which][i].append(Double(elapsed) / total)
                }
            }
            note("rep \(rep + 1)/\(options.repetitions): " + cases.indices.map { i in
                "\(cases[i].name) " + impls.indices.map { "\(impls[$0])=\(fixed(ns[$0][i].last ?? .nan, 2))" }.joined(separator: " ")
            }.joined(separator: " "))
        }
        for (i, c) in cases.enumerated() {
            for (j, impl) in impls.enumerated() {
                print("bpf impl=\(impl) filter=\(c.name) ns_per_packet=\(fixed(median(ns[j][i]), 2))")
            }
            if options.only == nil {
                let jit = median(ns[0][i]), lana = median(ns[1][i]), pcap = median(ns[2][i])
                note("filter \(c.name): lana-jit/libpcap = \(fixed(jit / pcap, 2)), lana/libpcap = \(fixed(lana / pcap, 2)) "
                     + "(best of \(options.repetitions): lana-jit \(fixed(ns[0][i].min()!, 2)), lana \(fixed(ns[1][i].min()!, 2)), "
                     + "libpcap \(fixed(ns[2][i].min()!, 2)))")
            }
        }
        if options.only == nil || options.only == "lana-jit" { try measureCompilation() }
    }

    /// Time to compile the longest program (4,096 instructions, loads,
    /// jumps, arithmetic and extensions): for the interpreter and to
    /// machine code (which includes the interpreter's form, mapping and
    /// protecting the code, and unmapping it).
    func measureCompilation() throws {
        let program = try BPFProgram(Self.longestProgram())
        var interpreter: [Double] = [], native: [Double] = []
        for _ in 0..<max(5, options.repetitions) {
            for jit in [true, false] {
                let start = nowNanoseconds()
                for _ in 0..<20 { blackHole(UInt32(truncatingIfNeeded: BPFCompiledProgram(program, native: jit).native?.size ?? 0)) }
                let each = Double(nowNanoseconds() &- start) / 20
                if jit { native.append(each) } else { interpreter.append(each) }
            }
        }
        print("bpf compile impl=lana-jit instructions=\(program.count) us_per_program=\(fixed(median(native) / 1000, 1))")
        print("bpf compile impl=lana instructions=\(program.count) us_per_program=\(fixed(median(interpreter) / 1000, 1))")
    }

    /// 4,096 instructions: a header walk repeated, with indirect loads,
    /// arithmetic, scratch memory, an extension and long forward jumps.
    static func longestProgram() -> [BPFInstruction] {
        var source = "ldx #0\nst M[0]\n"
        var count = 2
        var block = 0
        while count + 11 <= 4094 {
            source += """
                ldh [12]
                jeq #0x800, v\(block), x\(block)
                v\(block): ldxb 4*([14]&0xf)
                ldh [x + 16]
                add #\(block)
                st M[\(block % 16)]
                ld #proto
                jset #\(block + 1), x\(block), n\(block)
                n\(block): mul #3
                ja c\(block)
                x\(block): ja out
                c\(block):

                """
            count += 11
            block += 1
        }
        while count < 4094 { source += "tax\n"; count += 1 }
        source += "ret a\nout: ret #0\n"
        return (try? BPFAssembler.assemble(source)) ?? []
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
                              [--filter NAME[,NAME…]] [--only lana-jit|lana|libpcap]
          filters: \(BPFBenchmark.filters.map(\.name).joined(separator: ", "))
        """
    var o = BPFBenchmark.Options()
    var it = BenchArguments(args)
    while let a = it.next() {
        switch a {
        case "--reps": o.repetitions = try it.int(a, min: 1)
        case "--evaluations": o.evaluations = try it.int(a, min: 1)
        case "--cpu": o.cpu = try it.int(a, min: 0)
        case "--filter":
            guard let v = it.next() else { throw UsageError("--filter needs a list of filter names") }
            o.filters = v.split(separator: ",").map(String.init)
            let known = BPFBenchmark.filters.map(\.name)
            if let bad = o.filters.first(where: { !known.contains($0) }) {
                throw UsageError("--filter: unknown filter '\(bad)' (known: \(known.joined(separator: ", ")))")
            }
        case "--only":
            guard let v = it.next(), BPFBenchmark.implementations.contains(v) else {
                throw UsageError("--only: one of \(BPFBenchmark.implementations.joined(separator: ", "))")
            }
            o.only = v
        case "-h", "--help":
            print(usage)
            return
        default: throw UsageError("unknown argument '\(a)'\n\(usage)")
        }
    }
    try BPFBenchmark(options: o).run()
}
