import ArgumentParser
import Glibc
import LANABlocks
import LANAControl
import LANACore
import LANAPosix
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

            Without --engines or --cpus, lanad runs one engine on each CPU it may use (its \
            CPU affinity mask, which taskset or a container can narrow). A CPU of --cpus that \
            is not online or not in that mask is a usage error, and so is an --engines larger \
            than the number of those CPUs unless --force is given.

            Exit status: 0 after a clean shutdown, 1 if it could not start (run directory \
            locked, socket error, configuration refused, CAP_NET_RAW missing), 64 on a usage \
            error.
            """
    )

    @Option(name: .long, help: ArgumentHelp("State directory.", valueName: "dir"))
    var runDir: String?

    @Option(name: .long, help: ArgumentHelp(
        "Number of engines, on the CPUs lanad may use in turn (default: one per CPU lanad may use).", valueName: "n"))
    var engines: Int?

    @Option(name: .long, help: ArgumentHelp(
        "CPUs to run engines on, one engine each, e.g. 0,2-3; each must be online and in lanad's CPU affinity mask.",
        valueName: "list"))
    var cpus: String?

    @Flag(name: .long, help: "Let --engines exceed the CPUs lanad may use: engines then share CPUs (refused without it).")
    var force = false

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
        do { _ = try placement() } catch { throw ValidationError(error.description) }
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// The engines' CPUs for these options on this machine, now.
    func placement() throws(EnginePlacement.Refusal) -> EnginePlacement {
        let allowed = (try? CPUAffinity.allowedCPUs()) ?? CPUAffinity.onlineCPUs()
        return try EnginePlacement(engines: engines, cpus: cpus, force: force, online: CPUAffinity.onlineCPUs(), allowed: allowed)
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

    var resolvedRunDir: String { RunDirectoryPath.resolve(runDir) }
}
