import Foundation
import Glibc
import LANATestSupport
import Synchronization

/// Watches lanad's engine threads from outside through
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on a CPU, nanoseconds
/// waiting on a run queue), sampled about every millisecond on a thread of
/// its own.
///
/// lanad exports no per-burst timestamps, so this is how the test bounds an
/// engine stall: the longest stretch in which an engine thread got no CPU
/// time at all. An engine at line rate runs a burst whenever it is on a
/// CPU, so a stall in bursts longer than that stretch (plus ~1 ms of
/// sampling) cannot have happened. The stretch also covers time the thread
/// was runnable but not scheduled (2 cores shared with the generator and
/// lanad's other threads) and short idle sleeps in `poll` when its ring was
/// empty; the run-queue wait tells those apart.
final class EngineThreadSampler: @unchecked Sendable {
    struct Engine: CustomStringConvertible {
        let tid: Int32
        let cpu: String
        var maxGapSeconds = 0.0
        var runSeconds = 0.0
        var runQueueWaitSeconds = 0.0
        var description: String {
            "tid \(tid) (CPU \(cpu)): longest time without CPU \(String(format: "%.1f", maxGapSeconds * 1000)) ms, "
                + "on CPU \(String(format: "%.2f", runSeconds)) s, waiting on run queue \(String(format: "%.2f", runQueueWaitSeconds)) s"
        }
    }

    private let pid: Int32
    private let stopFlag = Atomic<Bool>(false)
    private let lock = NSLock()
    private var engines: [Engine] = []
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    private(set) var samples = 0

    /// Finds the engine threads: those pinned to a single CPU (engines pin
    /// themselves; lanad's control and stats threads are not pinned).
    init(pid: Int32) {
        self.pid = pid
        let taskDir = "/proc/\(pid)/task"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: taskDir)) ?? [] {
            guard let tid = Int32(name), let status = readTextFile("\(taskDir)/\(name)/status") else { continue }
            for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
                let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
                if !list.contains("-") && !list.contains(",") { engines.append(Engine(tid: tid, cpu: list)) }
            }
        }
        engines.sort { $0.cpu < $1.cpu }
    }

    var engineCount: Int { engines.count }

    func start() {
        let t = Thread { [self] in run() }
        thread = t
        t.start()
    }

    /// Stops sampling and returns the per-engine results.
    func stop() -> [Engine] {
        stopFlag.store(true, ordering: .releasing)
        if thread != nil { finished.wait() }
        lock.lock()
        defer { lock.unlock() }
        return engines
    }

    private func schedstat(_ tid: Int32) -> (run: UInt64, wait: UInt64)? {
        let fd = open("/proc/\(pid)/task/\(tid)/schedstat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let f = String(decoding: buffer[0..<n], as: UTF8.self).split(separator: " ")
        guard f.count >= 2, let run = UInt64(f[0]), let wait = UInt64(f[1]) else { return nil }
        return (run, wait)
    }

    private func run() {
        var first: [(run: UInt64, wait: UInt64)?] = engines.map { schedstat($0.tid) }
        var lastRun = first.map { $0?.run ?? 0 }
        var lastAdvance = [ContinuousClock.Instant](repeating: .now, count: engines.count)
        var latest = first
        while !stopFlag.load(ordering: .acquiring) {
            usleep(1000)
            let now = ContinuousClock.now
            var gaps = [Double](repeating: 0, count: engines.count)
            for i in engines.indices {
                guard let s = schedstat(engines[i].tid) else { continue }
                latest[i] = s
                if s.run != lastRun[i] {
                    gaps[i] = seconds(since: lastAdvance[i])
                    lastRun[i] = s.run
                    lastAdvance[i] = now
                }
            }
            lock.lock()
            samples += 1
            for i in engines.indices { engines[i].maxGapSeconds = Swift.max(engines[i].maxGapSeconds, gaps[i]) }
            lock.unlock()
        }
        // A gap still open at the end counts too.
        lock.lock()
        for i in engines.indices {
            engines[i].maxGapSeconds = Swift.max(engines[i].maxGapSeconds, seconds(since: lastAdvance[i]))
            if let a = first[i], let b = latest[i] {
                engines[i].runSeconds = Double(b.run &- a.run) / 1e9
                engines[i].runQueueWaitSeconds = Double(b.wait &- a.wait) / 1e9
            }
        }
        lock.unlock()
        first = []
        finished.signal()
    }
}
