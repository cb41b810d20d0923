import Glibc
import LANACore
import Synchronization

/// Writes the plain-text state files under the run directory (spec §2),
/// each replaced atomically (write to a temporary file, then rename).
///
/// The control thread calls ``refresh()`` after every operation, before it
/// replies, so a client that reads a file after `fbctl` returns sees the
/// change. The stats thread calls it every 200 ms for the counters. A file
/// is rewritten only when its content changed.
final class StateFiles: @unchecked Sendable {
    private let directory: RunDirectory
    private let registry: Registry
    private let engines: EngineGroup
    /// Lines of the `vlink` file, set by the control thread.
    private let interfaceLines = Mutex<[String]>([])
    /// Last content written per path; guarded so both threads can refresh.
    private let written = Mutex<[String: String]>([:])

    private let writeStalls: Bool

    init(directory: RunDirectory, registry: Registry, engines: EngineGroup, writeStalls: Bool = false) {
        self.writeStalls = writeStalls
        self.directory = directory
        self.registry = registry
        self.engines = engines
    }

    func setInterfaceLines(_ lines: [String]) {
        interfaceLines.withLock { $0 = lines }
    }

    /// Rewrites every file whose content changed (the stats thread).
    func refresh() { refresh(engineCounters: true) }

    /// Rewrites what a control operation can change: `fblocks`, `vlink`
    /// and `fblock/*` (the control thread, before it replies). The engine
    /// counters in `ppe` and `drops` are the stats thread's business; a
    /// control operation does not change them, and leaving them out keeps
    /// the reply prompt.
    func refreshGraph() { refresh(engineCounters: false) }

    private func refresh(engineCounters: Bool) {
        let blocks = registry.list()
        var files: [String: String] = [:]
        files["fblocks"] = blocks.map { $0.fblocksLine + "\n" }.joined()
        if engineCounters {
            files["ppe"] = ppe()
            files["drops"] = drops()
            if writeStalls { files["stalls"] = stalls() }
        }
        files["vlink"] = interfaceLines.withLock { $0 }.map { $0 + "\n" }.joined()
        for b in blocks {
            if let status = b.status { files["fblock/" + b.name] = status }
        }
        written.withLock { last in
            for (name, content) in files where last[name] != content {
                if write(content, to: directory.path + "/" + name) { last[name] = content }
            }
            // Only status files go away (their block left or lost its
            // status); the top-level files always exist.
            for name in last.keys where files[name] == nil && name.hasPrefix("fblock/") {
                unlink(directory.path + "/" + name)
                last[name] = nil
            }
        }
    }

    /// `CPU<n>:\t<pkts>\t<bytes>\t<fblock calls>\t<backlog enq>\t<drops>\t<backlog len>`
    func ppe() -> String {
        engines.engines.map { e in
            let c = engines.stats.counters(e.index)
            return "CPU\(e.cpu ?? e.index):\t\(c.received)\t\(c.receivedBytes)\t\(c.blockCalls)\t\(c.backlogEnqueued)\t\(c.totalDrops)\t\(c.backlogLength)\n"
        }.joined()
    }

    /// `CPU<n>: max_burst_ns=<x> max_gap_ns=<y>` (with --measure-stalls).
    func stalls() -> String {
        engines.engines.map { e in
            let c = engines.stats.counters(e.index)
            return "CPU\(e.cpu ?? e.index): max_burst_ns=\(c.maxBurstNanos) max_gap_ns=\(c.maxGapNanos)\n"
        }.joined()
    }

    /// `<reason> <count>` for every reason, summed over engines.
    func drops() -> String {
        let t = engines.stats.total()
        return DropReason.allCases.map { "\($0) \(t.drops($0))\n" }.joined()
    }

    private func write(_ content: String, to path: String) -> Bool {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        var ok = true
        content.utf8CString.withUnsafeBufferPointer { buf in
            var off = 0
            let total = buf.count - 1
            while off < total {
                let n = Glibc.write(fd, buf.baseAddress! + off, total - off)
                if n < 0 { if errno == EINTR { continue }; ok = false; break }
                off += n
            }
        }
        close(fd)
        if ok && rename(tmp, path) == 0 { return true }
        unlink(tmp)
        return false
    }
}
