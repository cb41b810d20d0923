import CPcap
import Glibc

/// Compiles a `tcpdump` expression in a child process bounded in time and
/// memory, so that no expression can stall the caller.
///
/// libpcap's optimizer is superlinear: 600 `port N or …` terms take about a
/// minute, 3,000 take gigabytes of memory, and `pcap_compile` cannot be
/// interrupted. The child sets `RLIMIT_AS` (its address space at the fork
/// plus ``Limits/megabytes``) and `RLIMIT_CPU` on itself, compiles and
/// writes the instructions to a pipe; the parent waits at most
/// ``Limits/seconds`` of wall-clock time and kills it after that.
///
/// Forking is meant for a single-threaded caller (`fbctl`) or one that
/// has not started its threads yet (`lanad` reading `--config`). The child
/// calls only libpcap and raw system calls, and the wall-clock bound holds
/// whatever happens in it.
public enum BoundedFilterCompiler {
    /// Bounds of one compile.
    public struct Limits: Sendable, Equatable {
        /// Wall-clock (and CPU) seconds.
        public var seconds: Int
        /// Memory the compile may allocate, in MiB.
        public var megabytes: Int

        public init(seconds: Int, megabytes: Int) {
            self.seconds = seconds
            self.megabytes = megabytes
        }

        /// Ample for every expression a person writes (they compile in
        /// milliseconds and a few MiB).
        public static let standard = Limits(seconds: 3, megabytes: 512)
    }

    /// The instructions for `expression`, libpcap's error, or the bound it
    /// exceeded (`filter expression too complex: compile exceeded 3 s`).
    public static func compile(_ expression: String, limits: Limits = .standard) throws(BPFSourceError) -> [BPFInstruction] {
        var fds: [Int32] = [-1, -1]
        // Close-on-exec, so that a process the caller starts later does not
        // hold the pipe open (fbctl and lanad have no other threads yet).
        guard pipe(&fds) == 0, fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0, fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0 else {
            throw BPFSourceError("cannot compile the expression: pipe: \(String(cString: strerror(errno)))")
        }
        let addressSpace = currentAddressSpace()
        let pid = fork()
        if pid == 0 {
            close(fds[0])
            runChild(expression, limits: limits, addressSpace: addressSpace, output: fds[1])
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard pid > 0 else {
            throw BPFSourceError("cannot compile the expression: fork: \(String(cString: strerror(errno)))")
        }
        let tooComplex = "filter expression too complex"
        var output: [UInt8] = []
        guard readAll(fds[0], into: &output, seconds: limits.seconds) else {
            kill(pid, SIGKILL)
            _ = waitChild(pid)
            throw BPFSourceError("\(tooComplex): compile exceeded \(limits.seconds) s")
        }
        let status = waitChild(pid)
        let signaled = status & 0x7F
        if signaled == SIGXCPU || signaled == SIGKILL {
            throw BPFSourceError("\(tooComplex): compile exceeded \(limits.seconds) s")
        }
        guard signaled == 0, let kind = output.first else {
            // An allocation that failed outside libpcap's own checks.
            throw BPFSourceError("\(tooComplex): compile exceeded \(limits.megabytes) MiB (compiler ended by signal \(signaled))")
        }
        let body = output.dropFirst()
        if kind != 0 {
            let message = String(decoding: body, as: UTF8.self)
            // libpcap reports a failed allocation as "malloc", "calloc: …",
            // "out of memory" depending on where it happened.
            if message.contains("alloc") || message.contains("out of memory") {
                throw BPFSourceError("\(tooComplex): compile exceeded \(limits.megabytes) MiB")
            }
            throw BPFSourceError("tcpdump expression: \(message)")
        }
        var instructions: [BPFInstruction] = []
        instructions.reserveCapacity(body.count / 8)
        var at = body.startIndex
        while at + 8 <= body.endIndex {
            func u32(_ i: Int) -> UInt32 {
                UInt32(body[i]) | UInt32(body[i + 1]) << 8 | UInt32(body[i + 2]) << 16 | UInt32(body[i + 3]) << 24
            }
            instructions.append(BPFInstruction(code: UInt16(body[at]) | UInt16(body[at + 1]) << 8,
                                               jt: body[at + 2], jf: body[at + 3], k: u32(at + 4)))
            at += 8
        }
        return instructions
    }

    /// The child: limits itself, compiles, writes `0` and the instructions
    /// (little-endian `code jt jf k`) or `1` and libpcap's message.
    private static func runChild(_ expression: String, limits: Limits, addressSpace: Int, output: Int32) -> Never {
        var memory = rlimit(rlim_cur: rlim_t(addressSpace + limits.megabytes << 20), rlim_max: rlim_t(addressSpace + limits.megabytes << 20))
        setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &memory)
        var cpu = rlimit(rlim_cur: rlim_t(limits.seconds), rlim_max: rlim_t(limits.seconds + 1))
        setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &cpu)
        guard let pcap = pcap_open_dead(DLT_EN10MB, PcapFilterCompiler.snapshotLength) else {
            writeAll(output, [1] + Array("pcap_open_dead failed".utf8))
            _exit(0)
        }
        var program = bpf_program()
        if pcap_compile(pcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0 {
            let message = pcap_geterr(pcap).map { String(cString: $0) } ?? "unknown error"
            writeAll(output, [1] + Array(message.utf8))
            _exit(0)
        }
        var bytes: [UInt8] = [0]
        bytes.reserveCapacity(1 + Int(program.bf_len) * 8)
        if let insns = program.bf_insns {
            for i in 0..<Int(program.bf_len) {
                let n = insns[i]
                bytes += [UInt8(n.code & 0xFF), UInt8(n.code >> 8), n.jt, n.jf,
                          UInt8(n.k & 0xFF), UInt8(n.k >> 8 & 0xFF), UInt8(n.k >> 16 & 0xFF), UInt8(n.k >> 24)]
            }
        }
        writeAll(output, bytes)
        _exit(0)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }

    /// Reads `fd` to its end; `false` when `seconds` passed first.
    private static func readAll(_ fd: Int32, into output: inout [UInt8], seconds: Int) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let deadline = Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000 + Int64(seconds) * 1_000
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = deadline - (Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000)
            if left <= 0 { return false }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(left))
            if ready < 0 { if errno == EINTR { continue }; return false }
            if ready == 0 { return false }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return true }
            if n == 0 { return true }
            output += buffer[0..<n]
        }
    }

    private static func waitChild(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// This process's virtual size in bytes (`/proc/self/statm`), which
    /// the child starts with.
    private static func currentAddressSpace() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        let pages = buffer[0..<n].prefix { $0 != UInt8(ascii: " ") }.reduce(0) { $0 * 10 + Int($1 - 48) }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

extension BPFProgram {
    /// Compiles a `tcpdump` expression with ``BoundedFilterCompiler`` and
    /// verifies the result.
    public init(boundedFilter expression: String, limits: BoundedFilterCompiler.Limits = .standard) throws(BPFSourceError) {
        let instructions = try BoundedFilterCompiler.compile(expression, limits: limits)
        do {
            try self.init(instructions)
        } catch {
            throw BPFSourceError(error)
        }
    }
}

/// `filter64=<base64 program> <expression>`: a tcpdump expression compiled
/// by the client, as the bpf block takes it. The daemon only verifies the
/// program (linear in its length) and keeps the expression for display.
public enum CompiledFilterOption {
    public static let key = "filter64"

    /// The option for `expression`, compiled within `limits`.
    public static func make(_ expression: String, limits: BoundedFilterCompiler.Limits = .standard) throws(BPFSourceError) -> String {
        let program = try BPFProgram(boundedFilter: expression, limits: limits)
        return "\(key)=" + BPFProgram.base64Encoded(program.instructions) + " " + expression
    }

    /// The program and expression of a `filter64=` value.
    public static func parse(_ value: String) throws(BPFSourceError) -> (program: BPFProgram, expression: String) {
        // The expression may be empty (libpcap's match-everything).
        guard let space = value.firstIndex(of: " ") else {
            throw BPFSourceError("expected filter64=<base64 instructions> <expression>")
        }
        let program = try BPFProgram(base64: String(value[..<space]))
        return (program, String(value[value.index(after: space)...]))
    }
}
