import CBenchSupport
import LANACore

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds.
@inline(__always)
func nowNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// CPU time (user + system) of the whole process in nanoseconds.
func processCPUNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Pins the calling thread to `cpu` (the control thread stays off the
/// engine's CPU). Returns whether it worked.
@discardableResult
func pinCurrentThread(to cpu: Int) -> Bool {
    bench_pin_current_thread(Int32(cpu)) == 0
}

func onlineCPUs() -> Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

/// `x` with exactly `decimals` digits after the point (no Foundation).
func fixed(_ x: Double, _ decimals: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let negative = x < 0
    let scaled = (abs(x) * scale).rounded()
    guard scaled < 9.0e18 else { return String(x) }
    let n = UInt64(scaled)
    let s = UInt64(scale)
    var text = String(n / s)
    if decimals > 0 {
        var frac = String(n % s)
        while frac.count < decimals { frac = "0" + frac }
        text += "." + frac
    }
    return negative && n != 0 ? "-" + text : text
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Writes a line to standard error (progress and per-repetition detail;
/// standard output carries only the result lines).
func note(_ text: String) {
    var line = text
    line += "\n"
    line.withUTF8 { b in
        var at = 0
        while at < b.count {
            let n = write(2, b.baseAddress! + at, b.count - at)
            if n <= 0 { break }
            at += n
        }
    }
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One measured window of an engine group: starts it with the allocation
/// counter on, waits until every slot has accounted for `packets` (all
/// received, each delivered or dropped) or `timeout` passes, and stops it.
struct MeasuredWindow {
    let nanoseconds: UInt64
    let cpuNanoseconds: UInt64
    let allocations: (mallocs: Int, frees: Int)

    /// Throws `onTimeout()` when the packets are not all accounted for in time.
    static func run(_ group: EngineGroup, slots: [EngineStatsSlot], packets: UInt64,
                    timeout: UInt64 = 120_000_000_000, onTimeout: () -> any Error) throws -> MeasuredWindow {
        let c0 = processCPUNanoseconds()
        Allocations.start()
        let t0 = nowNanoseconds()
        group.start()
        var t1 = t0
        while true {
            usleep(500)
            var done = true
            for s in slots where !accountedFor(s, packets) { done = false; break }
            t1 = nowNanoseconds()
            if done { break }
            if t1 &- t0 > timeout {
                _ = Allocations.stop()
                group.stop()
                throw onTimeout()
            }
        }
        let allocations = Allocations.stop()
        let c1 = processCPUNanoseconds()
        group.stop()
        return MeasuredWindow(nanoseconds: t1 &- t0, cpuNanoseconds: c1 &- c0,
                              allocations: (allocations.mallocs, allocations.frees))
    }

    /// received == packets and received == drops + delivered, from relaxed
    /// loads that allocate nothing.
    static func accountedFor(_ s: EngineStatsSlot, _ packets: UInt64) -> Bool {
        let received = s.load(.received)
        if received != packets { return false }
        var gone = s.load(.delivered)
        for r in DropReason.allCases { gone &+= s.drops(r) }
        return gone == received
    }
}

/// Command-line words of one benchmark, read flag by flag.
struct BenchArguments {
    private var words: IndexingIterator<ArraySlice<String>>

    init(_ args: ArraySlice<String>) { words = args.makeIterator() }

    mutating func next() -> String? { words.next() }

    /// The value after `flag`.
    mutating func value(_ flag: String) throws -> String {
        guard let v = words.next() else { throw UsageError("\(flag) needs a value") }
        return v
    }

    /// An integer value after `flag`, at least `min`.
    mutating func int(_ flag: String, min: Int = 1) throws -> Int {
        let v = try value(flag)
        guard let x = Int(v), x >= min else { throw UsageError("\(flag): expected an integer ≥ \(min), not '\(v)'") }
        return x
    }

    /// A positive number after `flag`.
    mutating func positive(_ flag: String) throws -> Double {
        let v = try value(flag)
        guard let x = Double(v), x > 0 else { throw UsageError("\(flag): expected a positive number, not '\(v)'") }
        return x
    }

    /// The value after `flag`, one of `choices`.
    mutating func choice(_ flag: String, _ choices: [String]) throws -> String {
        let v = try value(flag)
        guard choices.contains(v) else { throw UsageError("\(flag): \(choices.joined(separator: " or ")), not '\(v)'") }
        return v
    }
}
