import Glibc
import LANABPF
import LANABlocks
import LANAControl
import LANAPosix
import LANACore
import Logging
import SystemPackage

/// The running daemon: wires registry, engines, control server, state files
/// and signal handling together.
final class Daemon {
    struct StartFailure: Error, CustomStringConvertible {
        let description: String
    }

    let log: Logger
    let options: LANADaemon

    init(options: LANADaemon, log: Logger) {
        self.options = options
        self.log = log
    }

    func run() throws {
        // Signals are read from a signalfd by the control loop; block them
        // before any thread starts so every thread inherits the mask.
        do throws(Errno) { try SignalFD.blockInCurrentThread([SIGTERM, SIGINT, SIGHUP]) } catch {
            throw StartFailure(description: "cannot block SIGTERM, SIGINT and SIGHUP: \(error)")
        }
        signal(SIGPIPE, SIG_IGN)

        // Before anything is created: without these, lanad would run and
        // fail only at the first hook.
        if let missing = RequiredCapabilities.missingMessage() {
            throw StartFailure(description: missing)
        }

        let directory: RunDirectory
        do { directory = try RunDirectory(path: options.resolvedRunDir) } catch {
            throw StartFailure(description: "\(error)")
        }
        var cleaned = false
        defer { if !cleaned { directory.cleanUp() } }

        // Checked again: the affinity mask may have changed since the
        // arguments were validated.
        let placement: [Int?]
        do throws(EnginePlacement.Refusal) {
            let engines = try options.placement()
            placement = engines.cpus
            if let shared = engines.sharedCPUs {
                log.warning("\(engines.cpus.count) engines share \(shared.cpus.count) CPU(s) (\(shared)) as --force allows: engines on one CPU take turns, which adds latency")
            }
        } catch {
            throw StartFailure(description: error.description)
        }
        // Every thread started from here on inherits this mask; engines pin
        // themselves to their own CPU.
        if let rest = Daemon.housekeepingCPUs(engines: placement) {
            do {
                try CPUAffinity.restrictCurrentThread(to: rest)
                log.info("control and state threads on CPUs \(rest), off the engines' CPUs")
            } catch {
                log.warning("could not keep the control threads off the engines' CPUs: \(error)")
            }
        }
        // Read and compile the configuration before any thread starts: its
        // tcpdump expressions are compiled in a bounded child process
        // (fork), as fbctl does, never by lanad itself.
        let configuration = try options.config.map { config throws(StartFailure) in try Self.readConfiguration(config) }
        let registry = Registry(engineCount: placement.count)
        BuiltinBlocks.register(in: registry)
        let engines = EngineGroup(registry: registry, cpus: placement, measureStalls: options.measureStalls)
        let state: StateFiles
        do throws(Errno) {
            state = try StateFiles(directory: directory, registry: registry, engines: engines,
                                   writeStalls: options.measureStalls, log: log)
        } catch {
            throw StartFailure(description: "cannot set up the state files: \(error)")
        }
        let handler = RequestHandler(registry: registry, state: state)
        let hooks = Devices(registry: registry, log: log)
        handler.devices = hooks
        // The state files exist before the first client can connect, so a
        // client never reads a predecessor's or a missing file.
        state.refresh()

        engines.start()
        handler.refreshState()
        if let config = options.config, let configuration {
            let reply = handler.apply(configuration.commands)
            handler.refreshState()
            if let e = reply.error {
                hooks.unhookAll()
                engines.stop()
                let refusal = configuration.refusal(ofCommand: Int(reply.failedCommand ?? 0), .init(e, reply.message ?? ""))
                throw StartFailure(description: "configuration \(config) refused, nothing applied: \(e.strerror) (\(e.symbolicName)): \(refusal)")
            }
            log.info("applied configuration \(config)")
        }

        // The control socket appears only now: a client that finds it, and
        // a script that reads the state files once it is there, sees the
        // configuration applied.
        let server: ControlServer
        do {
            server = try ControlServer(socketPath: directory.controlSocket)
        } catch {
            hooks.unhookAll()
            engines.stop()
            throw StartFailure(description: "cannot serve \(directory.controlSocket): \(error)")
        }
        registry.setEventSink { [server] event in server.broadcast(event: event.description) }

        // The state writer: files follow operations within 200 ms, the
        // engines' counters every 200 ms.
        state.start()

        log.info("lanad running: \(placement.count) engine(s) on CPUs \(placement.map { $0.map(String.init) ?? "-" }.joined(separator: ",")), run directory \(directory.path)")
        do {
            let loop = try EventLoop()
            try server.register(in: loop) { request, _ in handler.handle(request) }
            // SIGTERM and SIGINT stop the loop; SIGHUP is ignored. They are
            // blocked in every thread (above), so they wait on the signalfd.
            let signalFD = try SignalFD(signals: [SIGTERM, SIGINT, SIGHUP])
            try loop.register(signalFD.descriptor, events: .readable) { [log] _ in
                while let signal = try? signalFD.next() {
                    if signal == SIGHUP { continue }
                    log.info("signal \(signal): stopping")
                    loop.stop()
                }
            }
            // Interfaces that go away are noticed from the kernel's link
            // notifications, not by asking about each one at intervals: an
            // idle daemon's every wake-up costs tens of microseconds of CPU
            // on a VM.
            let linkEvents: LinkEvents?
            do throws(Errno) { linkEvents = try LinkEvents() } catch {
                log.warning("no link notifications (\(error)): checking interfaces every second instead")
                linkEvents = nil
            }
            if let linkEvents {
                try loop.register(linkEvents.descriptor, events: .readable) { _ in
                    // Also a link going up or down: the vlink file shows it.
                    linkEvents.drain()
                    hooks.poll(reason: "link notification")
                    handler.refreshState()
                }
            }
            // The fallback check, and the kernel's ring-drop counters
            // (32-bit, reset on read) collected long before they wrap.
            loop.every(linkEvents == nil ? .seconds(1) : .seconds(10)) {
                if hooks.poll(reason: "periodic check") { handler.refreshState() }
            }
            try loop.run()
        } catch {
            log.error("control loop failed: \(error)")
        }
        log.info("shutting down: draining engines")
        state.stop()
        hooks.unhookAll()
        engines.stop()
        let total = engines.stats.total()
        log.info("engines stopped: \(total.received) packets received, \(total.created) created, \(total.ended) ended, \(total.delivered) delivered, \(total.totalDrops) dropped")
        directory.cleanUp()
        cleaned = true
    }

    /// The CPUs this process may use that no engine is pinned to, or `nil`
    /// when there are none (every CPU runs an engine) or an engine is not
    /// pinned. The daemon's other threads (control, state files)
    /// go there, so that an engine has its core and its caches to itself,
    /// as DPDK keeps its main lcore and VPP its main thread apart.
    static func housekeepingCPUs(engines placement: [Int?]) -> CPUList? {
        guard !placement.isEmpty, !placement.contains(where: { $0 == nil }),
              let allowed = try? CPUAffinity.allowedCPUs()
        else { return nil }
        let engineCPUs = Set(placement.compactMap { $0 })
        let rest = allowed.cpus.filter { !engineCPUs.contains($0) }
        return rest.isEmpty ? nil : CPUList(rest)
    }
}
