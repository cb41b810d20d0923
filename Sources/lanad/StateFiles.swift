import Glibc
import LANACore
import LANAPosix
import Logging
import Synchronization

/// Writes the plain-text state files under the run directory (docs/design.md §2),
/// each replaced atomically (write to a temporary file, then rename).
/// `fblocks` is a ``PreparedStateFile``; the files the stats thread
/// rewrites five times a second while traffic flows are
/// ``ReplaceableFile``s, which reuse a replaced version once no one has it
/// open.
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
        /// The other top-level files, by name.
        var others: [String: ReplaceableFile] = [:]
        /// `fblock/<name>`, by block name.
        var statuses: [String: ReplaceableFile] = [:]
        /// Paths whose last replace failed (logged once until it works).
        var failing: Set<String> = []
    }

    private let writeStalls: Bool
    /// Frees replaced versions of `fblocks` off the control thread.
    private let closer = DescriptorCloser()

    private let log: Logger?

    init(directory: RunDirectory, registry: Registry, engines: EngineGroup, writeStalls: Bool = false,
         log: Logger? = nil) {
        self.log = log
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
            for (name, content) in files {
                if w.others[name] == nil { w.others[name] = directory.stateFile(name) }
                if let file = w.others[name] { replace(file, with: content, failing: &w.failing) }
            }
            for (name, text) in graph.statuses {
                if w.statuses[name] == nil { w.statuses[name] = directory.blockStateFile(name) }
                if let file = w.statuses[name] { replace(file, with: Array(text.utf8), failing: &w.failing) }
            }
            // A status file goes when its block left or lost its status.
            if w.statuses.count > graph.statuses.count {
                let live = Set(graph.statuses.map(\.name))
                for (name, file) in w.statuses where !live.contains(name) {
                    file.remove()
                    w.statuses[name] = nil
                }
            }
        }
    }

    /// A failed replace leaves the file's previous version and is retried
    /// at the next refresh; it is logged once, and so is the recovery.
    private func replace(_ file: ReplaceableFile, with content: [UInt8], failing: inout Set<String>) {
        do {
            try file.replace(with: content)
            if failing.remove(file.path) != nil { log?.notice("state file \(file.path) is written again") }
        } catch {
            if failing.insert(file.path).inserted {
                log?.warning("cannot replace state file \(file.path): \(error); it keeps its previous version, retrying at every refresh")
            }
        }
    }

    /// A header line naming the columns, then per engine
    /// `CPU<n>:\t<pkts>\t<bytes>\t<fblock calls>\t<backlog enq>\t<drops>\t<backlog len>\t<ended>`
    /// (`ended`: packets that reached the top of the graph, not drops).
    ///
    /// Rendered as bytes, not interpolated: the stats thread renders it
    /// five times a second while traffic flows.
    func ppe() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 * (engines.engines.count + 1))
        out.append(contentsOf: Self.ppeHeader)
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
            out.appendField(c.ended)
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

    static let ppeHeader = Array("#cpu\tpackets\tbytes\tcalls\tenqueued\tdrops\tbacklog\tended\n".utf8)

    /// `<reason> <count>` for every reason of loss, summed over engines.
    func drops() -> [UInt8] {
        let t = engines.stats.total()
        var out: [UInt8] = []
        out.reserveCapacity(24 * DropReason.count)
        for reason in DropReason.losses {
            out.append(contentsOf: reason.description.utf8)
            out.append(UInt8(ascii: " "))
            out.appendDecimal(t.drops(reason))
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }
}

private extension [UInt8] {
    /// A tab, then `value` in decimal (one column of `ppe`).
    mutating func appendField(_ value: UInt64) {
        append(UInt8(ascii: "\t"))
        appendDecimal(value)
    }
}
