import ArgumentParser
import Glibc
import LANABlocks
import LANAControl
import LANACore
import Logging
import SystemPackage

/// `lanad`: owns the registry and the engines, serves the control socket,
/// keeps the state files, and shuts down cleanly on SIGTERM/SIGINT.
@main
struct LANADaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanad",
        abstract: "Run the LANA packet processing engines and their control channel.",
        discussion: """
            lanad runs in the foreground and logs to standard error. It creates its run \
            directory (default /run/lana, or $LANA_RUN_DIR) with the control socket \
            'control' and the state files fblocks, ppe, drops, vlink and fblock/<name>, \
            and removes them on a clean exit. One lanad may own a run directory at a time.

            Drive it with fbctl and vlink. SIGTERM or SIGINT stops it: engines drain \
            their backlogs, interfaces are unhooked, the files are removed.

            Exit status: 0 after a clean shutdown, 1 if it could not start (run directory \
            locked, socket error, configuration refused), 64 on a usage error.
            """
    )

    @Option(name: .long, help: ArgumentHelp("State directory.", valueName: "dir"))
    var runDir: String?

    @Option(name: .long, help: ArgumentHelp("Number of engines (default: one per online CPU).", valueName: "n"))
    var engines: Int?

    @Option(name: .long, help: ArgumentHelp("CPUs to run engines on, one engine each, e.g. 0,2-3.", valueName: "list"))
    var cpus: String?

    @Option(name: .long, help: ArgumentHelp("Apply this file of fbctl/vlink lines at start-up (all or nothing).", valueName: "file"))
    var config: String?

    @Flag(name: .long, help: "Time every burst and write the longest burst and gap per engine to <run-dir>/stalls.")
    var measureStalls = false

    @Option(name: .long, help: ArgumentHelp("Log level: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        if let engines, !(1...1024).contains(engines) {
            throw ValidationError("--engines must be between 1 and 1024, not \(engines)")
        }
        if engines != nil && cpus != nil {
            throw ValidationError("--engines and --cpus exclude each other: --cpus gives one engine per listed CPU")
        }
        if let cpus { _ = try Self.parseCPUs(cpus) }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    static func parseCPUs(_ text: String) throws -> [Int] {
        var cpus: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let lo = Int(bounds[0]), let hi = Int(bounds.last!), lo >= 0, lo <= hi, hi < 4096 else {
                throw ValidationError("--cpus '\(text)': expected a list like 0,2-3 of CPU numbers")
            }
            cpus.append(contentsOf: lo...hi)
        }
        return cpus
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let log = Logger(label: "lanad")
        do {
            try Daemon(options: self, log: log).run()
        } catch let failure as Daemon.StartFailure {
            log.critical("\(failure.description)")
            throw ExitCode(1)
        }
    }

    var resolvedRunDir: String {
        if let runDir { return runDir }
        if let env = getenv("LANA_RUN_DIR"), env.pointee != 0 { return String(cString: env) }
        return "/run/lana"
    }
}
