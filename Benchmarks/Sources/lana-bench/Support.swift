import CBenchSupport

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
