// lana-bench control: control-operation latency (docs/design.md §9).
//
//   lana-bench control [--lanad PATH] [--run-dir DIR] [--iterations 20000]
//                      [--warmup 2000] [--rounds 5] [--engines 1]
//                      [--graph 0] [--addrm-iterations 2000]
//
// Starts a real lanad (release build) on a private run directory, adds two
// `dummy` blocks and times `bind a b` + `unbind a b` round trips through
// LANAControl's ControlClient, the library fbctl uses (no process start-up
// is measured). Prints on standard output:
//
//   control op=bind p50_us=<x> p99_us=<y>
//   control op=echo p50_us=<x> p99_us=<y>
//   control op=addrm graph=<n> p50_us=<x> p99_us=<y>
//
// The third line times `add` + `rm` of a block in a graph that already
// holds `--graph` other blocks (added in batches with `apply` before
// anything is measured): a control operation must not cost more in a large
// graph (docs/design.md §2, refresh rule). The second line is the reference, measured in the same invocation and
// interleaved with the first: the same two request/reply exchanges per
// iteration, with datagrams of the same sizes, between two threads of this
// process over a SOCK_SEQPACKET socket pair, the client polling for each
// reply as ControlClient does (for ControlClient.defaultSpin, then it
// sleeps). It is the floor the kernel's IPC and the server's wake-ups set;
// the difference is lanad's own work (decoding, the registry change,
// publishing the dispatch table; the state files are written by another
// thread, docs/design.md §2). p90, p99.9, max and lanad's CPU time per
// round trip (all its threads, from /proc/<pid>/task/*/schedstat) go to
// standard error.
//
// The run directory defaults to /dev/shm, a tmpfs like /run, where lanad's
// default run directory lives on a usual system: its state writer renames
// files there while the benchmark runs.

import LANAControl

#if canImport(Glibc)
import Glibc
#endif

struct ControlBenchmark {
    struct Options {
        var lanad: String = ControlBenchmark.defaultLanad
        /// On tmpfs, like lanad's default /run/lana on a usual system.
        var runDirectory: String =
            (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/lana-bench-control-\(getpid())"
        var iterations = 20_000
        var warmUp = 2_000
        var rounds = 5
        var engines = 1
        /// Blocks added before measuring.
        var graph = 0
        var addRemoveIterations = 2_000
    }

    /// `../.build/release/lanad` relative to the Benchmarks package, found
    /// from this file's path (like `mainPackage` in Package.swift).
    static var defaultLanad: String {
        let benchmarks = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        return "/" + benchmarks + "/../.build/release/lanad"
    }

    static let usage = """
        usage: lana-bench control [--lanad PATH] [--run-dir DIR] [--iterations 20000]
                                  [--warmup 2000] [--rounds 5] [--engines 1]
                                  [--graph 0] [--addrm-iterations 2000]
        """

    static func parse(_ args: ArraySlice<String>) throws -> Options {
        var o = Options()
        if let env = getenv("LANA_BENCH_LANAD"), env.pointee != 0 { o.lanad = String(cString: env) }
        var it = BenchArguments(args)
        while let a = it.next() {
            switch a {
            case "--lanad": o.lanad = try it.value(a)
            case "--run-dir": o.runDirectory = try it.value(a)
            case "--iterations": o.iterations = try it.int(a, min: 100)
            case "--warmup": o.warmUp = try it.int(a, min: 0)
            case "--rounds": o.rounds = try it.int(a, min: 1)
            case "--engines": o.engines = try it.int(a, min: 1)
            case "--graph": o.graph = try it.int(a, min: 0)
            case "--addrm-iterations": o.addRemoveIterations = try it.int(a, min: 10)
            case "-h", "--help":
                print(usage)
                exit(0)
            default: throw UsageError("unknown argument '\(a)'\n\(usage)")
            }
        }
        return o
    }

    let options: Options

    func run() throws {
        guard access(options.lanad, X_OK) == 0 else {
            throw UsageError("""
                lanad not found at \(options.lanad): build it with \
                `swift build -c release --product lanad` or pass --lanad PATH
                """)
        }
        let daemon = try LanadChild(path: options.lanad, runDirectory: options.runDirectory, engines: options.engines)
        defer { daemon.stop() }
        let client = try daemon.connect()
        try fillGraph(client)
        try expectSuccess(client, .add(name: "bench-a", type: "dummy"))
        try expectSuccess(client, .add(name: "bench-b", type: "dummy"))

        let echo = try EchoPair(
            request: try Command.bind("bench-a", onTopOf: "bench-b").encode(sequence: 1),
            reply: [UInt8](repeating: 0, count: 36))
        defer { echo.close() }

        // Warm-up: page in both paths, grow lanad's buffers and the files.
        for _ in 0..<options.warmUp {
            _ = try bindUnbind(client)
            _ = echo.roundTrips()
        }
        var bind: [UInt64] = []
        var reference: [UInt64] = []
        bind.reserveCapacity(options.iterations)
        reference.reserveCapacity(options.iterations)
        // Interleaved, so that a noisy neighbour hits both alike.
        let perRound = (options.iterations + options.rounds - 1) / options.rounds
        var lanadCPU: UInt64 = 0
        for round in 0..<options.rounds {
            let n = min(perRound, options.iterations - round * perRound)
            let cpuBefore = daemon.cpuNanoseconds()
            for _ in 0..<n { bind.append(try bindUnbind(client)) }
            lanadCPU &+= daemon.cpuNanoseconds() &- cpuBefore
            for _ in 0..<n { reference.append(echo.roundTrips()) }
        }
        try expectSuccess(client, .remove(name: "bench-a"))
        try expectSuccess(client, .remove(name: "bench-b"))

        var addRemove: [UInt64] = []
        addRemove.reserveCapacity(options.addRemoveIterations)
        for _ in 0..<min(options.warmUp, options.addRemoveIterations) { _ = try addRemoveBlock(client) }
        for _ in 0..<options.addRemoveIterations { addRemove.append(try addRemoveBlock(client)) }

        report("bind", bind)
        report("echo", reference)
        report("addrm", addRemove, label: "graph=\(options.graph) ")
        // CPU time is what noise on a shared machine inflates least.
        note("control op=bind lanad_cpu_us_per_round_trip=\(fixed(Double(lanadCPU) / Double(bind.count) / 1000, 1)) "
            + "(all lanad threads, run directory on \(filesystemType(of: options.runDirectory)))")
    }

    /// Adds `--graph` dummy blocks, a batch of `apply` lines at a time.
    private func fillGraph(_ client: ControlClient) throws {
        var added = 0
        while added < options.graph {
            let batch = min(500, options.graph - added)
            try expectSuccess(client, .apply((added..<added + batch).map { .graph(.add(name: "bench-g\($0)", type: "dummy")) }))
            added += batch
        }
    }

    /// One add + rm of a block, in nanoseconds.
    private func addRemoveBlock(_ client: ControlClient) throws -> UInt64 {
        let start = nowNanoseconds()
        let added = try client.send(.graph(.add(name: "bench-x", type: "dummy")))
        let removed = try client.send(.graph(.remove(name: "bench-x")))
        let elapsed = nowNanoseconds() &- start
        if let error = added.error ?? removed.error {
            throw UsageError("lanad refused add/rm: \(error): \(added.message ?? removed.message ?? "")")
        }
        return elapsed
    }

    /// One bind + unbind, in nanoseconds.
    private func bindUnbind(_ client: ControlClient) throws -> UInt64 {
        let start = nowNanoseconds()
        let bound = try client.send(.bind("bench-a", onTopOf: "bench-b"))
        let unbound = try client.send(.unbind("bench-a", from: "bench-b"))
        let elapsed = nowNanoseconds() &- start
        if let error = bound.error ?? unbound.error {
            throw UsageError("lanad refused bind/unbind: \(error): \(bound.message ?? unbound.message ?? "")")
        }
        return elapsed
    }

    private func expectSuccess(_ client: ControlClient, _ request: Command) throws {
        let reply = try client.send(request)
        if let error = reply.error {
            throw UsageError("lanad refused \(request): \(error): \(reply.message ?? "")")
        }
    }

    private func report(_ op: String, _ samples: [UInt64], label: String = "") {
        let sorted = samples.sorted()
        func percentile(_ p: Double) -> Double {
            let index = min(sorted.count - 1, Int((p * Double(sorted.count)).rounded(.up)) - 1)
            return Double(sorted[max(0, index)]) / 1000
        }
        print("control op=\(op) \(label)p50_us=\(fixed(percentile(0.50), 1)) p99_us=\(fixed(percentile(0.99), 1))")
        note("control op=\(op) n=\(sorted.count) p90_us=\(fixed(percentile(0.90), 1)) "
            + "p99.9_us=\(fixed(percentile(0.999), 1)) max_us=\(fixed(Double(sorted.last ?? 0) / 1000, 1))")
    }
}

func runControlBenchmark(_ args: ArraySlice<String>) throws {
    try ControlBenchmark(options: ControlBenchmark.parse(args)).run()
}

/// A lanad started for the benchmark, stopped with SIGTERM.
final class LanadChild {
    let pid: pid_t
    let runDirectory: String
    var socketPath: String { runDirectory + "/control" }

    init(path: String, runDirectory: String, engines: Int) throws {
        self.runDirectory = runDirectory
        let arguments = [path, "--run-dir", runDirectory, "--engines", String(engines), "--log-level", "warning"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, nil, nil, &argv, environ)
        guard rc == 0 else { throw UsageError("cannot start \(path): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Waits (bounded) until lanad answers on its socket.
    func connect() throws -> ControlClient {
        let deadline = nowNanoseconds() + 20_000_000_000
        while true {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw UsageError("lanad exited during start-up (wait status \(status)); see its messages above")
            }
            if let client = try? ControlClient(socketPath: socketPath, timeout: .seconds(5)),
                (try? client.send(.list))?.error == nil
            {
                return client
            }
            if nowNanoseconds() > deadline {
                throw UsageError("lanad did not serve \(socketPath) within 20 s")
            }
            usleep(10_000)
        }
    }

    /// CPU time of all of lanad's threads so far (`schedstat`, in ns).
    func cpuNanoseconds() -> UInt64 {
        var total: UInt64 = 0
        guard let dir = opendir("/proc/\(pid)/task") else { return 0 }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.first?.isNumber == true else { continue }
            let fd = open("/proc/\(pid)/task/\(name)/schedstat", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 128)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n > 0, let first = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: " ").first,
                let ns = UInt64(first)
            else { continue }
            total &+= ns
        }
        return total
    }

    func stop() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<1000 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }
}

/// The reference: a thread answering each datagram on a SOCK_SEQPACKET
/// socket pair with a reply of the size lanad sends.
final class EchoPair: @unchecked Sendable {
    private let client: Int32
    private let server: Int32
    private let request: [UInt8]
    private let reply: [UInt8]
    private var buffer = [UInt8](repeating: 0, count: 65_536)
    private var thread = pthread_t()

    init(request: [UInt8], reply: [UInt8]) throws {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw UsageError("socketpair: \(String(cString: strerror(errno)))")
        }
        client = fds[0]
        server = fds[1]
        self.request = request
        self.reply = reply
        let box = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let pair = Unmanaged<EchoPair>.fromOpaque(arg!).takeRetainedValue()
            pair.serve()
            return nil
        }, box)
        guard rc == 0 else { throw UsageError("pthread_create: \(rc)") }
    }

    private func serve() {
        var incoming = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = incoming.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            _ = reply.withUnsafeBytes { send(server, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }
    }

    private static let spinNanoseconds: UInt64 = {
        let c = ControlClient.defaultSpin.components
        return UInt64(c.seconds) * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
    }()

    /// Two request/reply exchanges (as bind + unbind), in nanoseconds.
    func roundTrips() -> UInt64 {
        let start = nowNanoseconds()
        for _ in 0..<2 {
            _ = request.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // Like ControlClient: poll for a while, then sleep.
            let until = nowNanoseconds() &+ EchoPair.spinNanoseconds
            var n = 0
            repeat {
                n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            } while n < 0 && nowNanoseconds() < until
            if n < 0 { _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) } }
        }
        return nowNanoseconds() &- start
    }

    func close() {
        shutdown(client, Int32(SHUT_RDWR))
        pthread_join(thread, nil)
        Glibc.close(client)
        Glibc.close(server)
    }
}

/// `tmpfs`, `ext4`, … for the report: renaming state files costs far more
/// on a journaling file system than on the tmpfs that /run normally is.
/// The type of the longest mount point in /proc/mounts that holds `path`.
func filesystemType(of path: String) -> String {
    guard let resolved = realpath(path, nil) else { return "?" }
    let full = String(cString: resolved)
    free(resolved)
    let fd = open("/proc/self/mounts", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "?" }
    defer { close(fd) }
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    var best = (length: -1, type: "?")
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard fields.count >= 3 else { continue }
        let mountPoint = String(fields[1])
        let holds = mountPoint == "/" || full == mountPoint || full.hasPrefix(mountPoint + "/")
        if holds && mountPoint.count >= best.length { best = (mountPoint.count, String(fields[2])) }
    }
    return best.type
}
