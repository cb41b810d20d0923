// lana-bench: engine benchmarks for LANA.
//
//   lana-bench engine [--blocks 1,5,10] [--dual-blocks 1] [--reps 5]
//                     [--dual-reps 3] [--packets N | --seconds 2.5]
//                     [--terminal sink|drop] [--cpu 1] [--report median|best]
//                     [--no-malloc-check]
//
//   lana-bench flip   (see FLIPBench.swift)
//   lana-bench bpf    (see BPFBench.swift)
//   lana-bench control (see ControlBench.swift)
//
// `engine` prints one line per configuration on standard output:
//   engine blocks=<k> engines=<n> mpps=<x> ns_per_packet=<y> mallocs_per_burst=<z>
// and the per-repetition detail on standard error. Run it through
// Scripts/bench-engine.sh, which builds in release and preloads the malloc
// interposer.

#if canImport(Glibc)
import Glibc
#endif

let usage = """
    usage: lana-bench engine [--blocks 1,5,10] [--dual-blocks 1] [--reps 5] [--dual-reps 3]
                             [--packets N | --seconds 2.5] [--terminal sink|drop] [--bpf FILTER]
                             [--cpu 1] [--report median|best] [--no-malloc-check]
    """

func parseEngineOptions(_ args: ArraySlice<String>) throws -> EngineBenchmark.Options {
    var o = EngineBenchmark.Options()
    var it = BenchArguments(args)
    func list(_ flag: String) throws -> [Int] {
        let v = try it.value(flag)
        if v.isEmpty || v == "none" { return [] }
        let xs = v.split(separator: ",").compactMap { Int($0) }
        guard xs.count == v.split(separator: ",").count, xs.allSatisfy({ $0 >= 1 }) else {
            throw UsageError("\(flag): expected a list of positive integers, not '\(v)'")
        }
        return xs
    }
    while let a = it.next() {
        switch a {
        case "--blocks": o.blocks = try list(a)
        case "--dual-blocks": o.dualBlocks = try list(a)
        case "--reps": o.repetitions = try it.int(a)
        case "--dual-reps": o.dualRepetitions = try it.int(a)
        case "--packets": o.packets = UInt64(try it.int(a))
        case "--seconds": o.seconds = try it.positive(a)
        case "--terminal":
            let v = try it.value(a)
            guard let t = EngineBenchmark.Terminal(rawValue: v) else { throw UsageError("--terminal: sink or drop") }
            o.terminal = t
        case "--cpu": o.cpu = try it.int(a, min: 0)
        case "--report": o.report = try it.choice(a, ["median", "best"])
        case "--no-malloc-check": o.requireMallocCounting = false
        case "--bpf":
            let v = try it.value(a)
            guard BPFBenchmark.filters.contains(where: { $0.name == v }) else {
                throw UsageError("--bpf: one of \(BPFBenchmark.filters.map(\.name).joined(separator: ", "))")
            }
            o.bpfFilter = v
        case "-h", "--help":
            print(usage)
            exit(0)
        default: throw UsageError("unknown argument '\(a)'\n\(usage)")
        }
    }
    return o
}

let arguments = CommandLine.arguments.dropFirst()
do {
    switch arguments.first {
    case "engine":
        try EngineBenchmark(options: parseEngineOptions(arguments.dropFirst())).runSuite()
    case "control":
        try runControlBenchmark(arguments.dropFirst())
    case "bpf":
        try runBPFBenchmark(arguments.dropFirst())
    case "flip":
        try runFLIPBenchmark(arguments.dropFirst())
    case "-h", "--help":
        print(usage)
    default:
        throw UsageError(usage)
    }
} catch {
    note("lana-bench: \(error)")
    exit(1)
}
