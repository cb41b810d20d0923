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
    /// What was written; guarded so both threads can refresh.
    private let written: Mutex<Written>

    private struct Written: ~Copyable {
        var fblocks: PreparedStateFile
        /// The registry version `fblocks` shows, once written.
        var fblocksVersion: UInt64?
        /// Last content of the other top-level files.
        var others: [String: [UInt8]] = [:]
        /// Last content of `fblock/<name>`, by block name.
        var statuses: [String: [UInt8]] = [:]
    }

    private let writeStalls: Bool
    /// Frees replaced versions of `fblocks` off the control thread.
    private let closer = DescriptorCloser()

    init(directory: RunDirectory, registry: Registry, engines: EngineGroup, writeStalls: Bool = false) {
        self.writeStalls = writeStalls
        self.directory = directory
        self.registry = registry
        self.engines = engines
        written = Mutex(Written(fblocks: PreparedStateFile(
            path: directory.path + "/fblocks", temporaryPath: directory.path + "/" + RunDirectory.preparedFblocks)))
    }

    func setInterfaceLines(_ lines: [String]) {
        interfaceLines.withLock { $0 = lines }
    }

    /// Rewrites every file whose content changed (the stats thread).
    func refresh() {
        refresh(engineCounters: true)
        prepareNext()
    }

    /// Rewrites what a control operation can change: `fblocks`, `vlink`
    /// and `fblock/*` (the control thread, before it replies). The engine
    /// counters in `ppe` and `drops` are the stats thread's business; a
    /// control operation does not change them, and leaving them out keeps
    /// the reply prompt.
    func refreshGraph() { refresh(engineCounters: false) }

    /// The part of replacing `fblocks` that can wait until the reply is
    /// out (see ``PreparedStateFile``).
    func prepareNext() {
        closer.close(written.withLock { $0.fblocks.prepare() })
    }

    private func refresh(engineCounters: Bool) {
        var files: [(String, [UInt8])] = []
        if engineCounters {
            files.append(("ppe", ppe()))
            files.append(("drops", drops()))
            if writeStalls { files.append(("stalls", Array(stalls().utf8))) }
        }
        var vlink: [UInt8] = []
        for line in interfaceLines.withLock({ $0 }) {
            vlink.append(contentsOf: line.utf8)
            vlink.append(UInt8(ascii: "\n"))
        }
        files.append(("vlink", vlink))
        written.withLock { w in
            // Rendered under this lock: a refresh that rendered an older
            // version can never overwrite a newer one.
            let graph = registry.stateText(knownVersion: w.fblocksVersion)
            if let fblocks = graph.fblocks, w.fblocks.replace(with: fblocks) { w.fblocksVersion = graph.version }
            for (name, content) in files where w.others[name] != content {
                if write(content, to: directory.path + "/" + name) { w.others[name] = content }
            }
            for (name, text) in graph.statuses {
                let content = Array(text.utf8)
                if w.statuses[name] != content, write(content, to: directory.blockDirectory + "/" + name) {
                    w.statuses[name] = content
                }
            }
            // A status file goes when its block left or lost its status.
            if !w.statuses.isEmpty {
                let live = Set(graph.statuses.map(\.name))
                for name in w.statuses.keys where !live.contains(name) {
                    unlink(directory.blockDirectory + "/" + name)
                    w.statuses[name] = nil
                }
            }
        }
    }

    /// `CPU<n>:\t<pkts>\t<bytes>\t<fblock calls>\t<backlog enq>\t<drops>\t<backlog len>`
    ///
    /// Rendered as bytes, not interpolated: the stats thread renders it
    /// five times a second while traffic flows.
    func ppe() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 * engines.engines.count)
        for e in engines.engines {
            let c = engines.stats.counters(e.index)
            out.append(contentsOf: "CPU".utf8)
            out.appendDecimal(UInt64(e.cpu ?? e.index))
            out.append(UInt8(ascii: ":"))
            out.appendField(c.received)
            out.appendField(c.receivedBytes)
            out.appendField(c.blockCalls)
            out.appendField(c.backlogEnqueued)
            out.appendField(c.totalDrops)
            out.appendField(c.backlogLength)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    /// `CPU<n>: max_burst_ns=<x> max_gap_ns=<y>` (with --measure-stalls).
    func stalls() -> String {
        engines.engines.map { e in
            let c = engines.stats.counters(e.index)
            return "CPU\(e.cpu ?? e.index): max_burst_ns=\(c.maxBurstNanos) max_gap_ns=\(c.maxGapNanos)\n"
        }.joined()
    }

    /// `<reason> <count>` for every reason, summed over engines.
    func drops() -> [UInt8] {
        let t = engines.stats.total()
        var out: [UInt8] = []
        out.reserveCapacity(24 * DropReason.count)
        for reason in DropReason.allCases {
            out.append(contentsOf: reason.description.utf8)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(t.drops(reason))
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    private func write(_ content: [UInt8], to path: String) -> Bool {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        let ok = writeAll(fd, content)
        close(fd)
        if ok && rename(tmp, path) == 0 { return true }
        unlink(tmp)
        return false
    }
}

private extension [UInt8] {
    /// A tab, then `value` in decimal (one column of `ppe`).
    mutating func appendField(_ value: UInt64) {
        append(UInt8(ascii: "\t"))
        appendDecimal(value)
    }
}
