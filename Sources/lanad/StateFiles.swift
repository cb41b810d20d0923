import Glibc
import LANACore
import LANAPosix
import Logging
import Synchronization
import SystemPackage

/// Keeps the plain-text state files under the run directory
/// (docs/design.md §2) on a thread of its own, `lana-state`.
///
/// The refresh rule: the control reply is the synchronous truth, and a
/// file shows an operation within 200 ms. The control thread never writes
/// a file: after an operation it publishes what only it knows (the `vlink`
/// lines) and wakes this thread (``changed(interfaceLines:)``); operations
/// in a burst coalesce into one refresh. Besides, the thread refreshes
/// every 200 ms for the engines' counters. A file is written (a temporary
/// file renamed over it, ``AtomicFile``) only when its content changed, and
/// `fblocks` is rendered only when the registry's version did. `version`,
/// written last, names the registry version the other files show.
final class StateFiles: @unchecked Sendable {
    static let interval = Duration.milliseconds(200)
    /// The least time between two refreshes that wake-ups asked for: a
    /// client adding blocks in a loop gets a refresh every 50 ms, not one
    /// per operation, and an operation is still shown within 200 ms.
    static let minimumSpacing = Duration.milliseconds(50)

    private let directory: RunDirectory
    private let registry: Registry
    private let engines: EngineGroup
    private let writeStalls: Bool
    private let log: Logger?

    /// What the control thread publishes: the `vlink` lines and the
    /// registry version they go with.
    private let published = Mutex<(lines: [String], version: UInt64)>(([], 0))
    private let wake: EventFD
    private let stopping = Atomic<Bool>(false)
    private var thread: pthread_t?

    // The rest belongs to the writing thread (and to the first refresh,
    // before that thread starts).
    /// Content last written, by path.
    private var written: [String: [UInt8]] = [:]
    /// The registry version `fblocks` shows.
    private var fblocksVersion: UInt64?
    /// Names of the blocks that have a status file.
    private var statusNames: Set<String> = []
    /// Paths whose last write failed (logged once until it works).
    private var failing: Set<String> = []

    init(directory: RunDirectory, registry: Registry, engines: EngineGroup, writeStalls: Bool = false,
         log: Logger? = nil) throws(Errno) {
        self.directory = directory
        self.registry = registry
        self.engines = engines
        self.writeStalls = writeStalls
        self.log = log
        wake = try EventFD()
    }

    /// After an operation (the control thread): publishes the `vlink` lines
    /// and wakes the writer. Writes nothing.
    func changed(interfaceLines: [String]) {
        let version = registry.version
        published.withLock { $0 = (interfaceLines, version) }
        try? wake.signal()
    }

    /// Starts the writing thread.
    func start() {
        thread = spawn(named: "lana-state") { [self] in run() }
    }

    /// Stops the writing thread (after its current refresh).
    func stop() {
        stopping.store(true, ordering: .releasing)
        try? wake.signal()
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func run() {
        let epoll: Epoll
        do throws(Errno) {
            epoll = try Epoll(capacity: 1)
            try epoll.add(wake.descriptor, events: .readable, data: 0)
        } catch {
            log?.error("state files: cannot wait for changes (\(error)); they are refreshed every 200 ms only")
            while !stopping.load(ordering: .acquiring) {
                refresh()
                usleep(200_000)
            }
            return
        }
        let clock = ContinuousClock()
        var last = clock.now
        while !stopping.load(ordering: .acquiring) {
            _ = try? epoll.wait(timeout: Self.interval)
            if stopping.load(ordering: .acquiring) { break }
            if (try? wake.drain()) ?? 0 > 0 {
                let early = clock.now.duration(to: last + Self.minimumSpacing)
                if early > .zero { usleep(UInt32(early.components.attoseconds / 1_000_000_000_000)) }
            }
            last = clock.now
            refresh()
        }
    }

    /// Writes every file whose content changed.
    func refresh() {
        // The lines first: the version they go with is at most the
        // snapshot's, so `version` never claims more than the files show.
        let (lines, linesVersion) = published.withLock { $0 }
        let snapshot = registry.snapshot()
        let blocks = snapshot.blocks
        var statuses: Set<String> = []
        for b in blocks {
            guard let status = b.status else { continue }
            statuses.insert(b.name)
            write(directory.blockDirectory + "/" + b.name, Array(status.utf8))
        }
        // A status file goes when its block left or lost its status.
        for name in statusNames.subtracting(statuses) {
            let path = directory.blockDirectory + "/" + name
            AtomicFile.remove(path)
            written[path] = nil
        }
        statusNames = statuses
        if fblocksVersion != snapshot.version {
            write(directory.path + "/fblocks", StateText.fblocks(blocks))
            fblocksVersion = snapshot.version
        }
        write(directory.path + "/vlink", StateText.lines(lines))
        write(directory.path + "/ppe", StateText.ppe(engines))
        write(directory.path + "/drops", StateText.drops(engines))
        if writeStalls { write(directory.path + "/stalls", StateText.stalls(engines)) }
        var version: [UInt8] = []
        version.appendDecimal(min(linesVersion, snapshot.version))
        version.append(UInt8(ascii: "\n"))
        write(directory.path + "/version", version)
    }

    /// A failed write leaves the file's previous version and is retried at
    /// the next refresh; it is logged once, and so is the recovery.
    private func write(_ path: String, _ content: [UInt8]) {
        guard written[path] != content else { return }
        do throws(Errno) {
            try AtomicFile.replace(path, with: content, temporary: directory.temporaryFile)
            written[path] = content
            if failing.remove(path) != nil { log?.notice("state file \(path) is written again") }
        } catch {
            if failing.insert(path).inserted {
                log?.warning("cannot write state file \(path): \(error); it keeps its previous version, retrying at every refresh")
            }
        }
    }
}
