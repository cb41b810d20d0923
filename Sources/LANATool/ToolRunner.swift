import ArgumentParser
import Glibc
import LANAControl
import LANAPosix
import SystemPackage

/// Sends requests for a tool and turns replies into output and exit codes
/// (docs/design.md §3): 0 success, 1 refused (reason on stderr), 2 usage error,
/// 3 daemon not reachable.
public struct ToolRunner {
    public let tool: String
    public let options: ClientOptions

    public init(tool: String, options: ClientOptions) {
        self.tool = tool
        self.options = options
    }

    /// Sends `request`; prints the reply's data; on refusal prints
    /// `<tool>: <words>: <strerror> (<ERRNO>): <message>` and exits 1.
    public func run(_ words: String, _ request: Command) throws {
        let client = try connect(words)
        let reply: ControlReply
        do { reply = try client.send(request) } catch {
            throw fail(words, error)
        }
        try finish(words, reply)
    }

    /// Connects to lanad; `words` (the command) go into the message when
    /// that fails.
    public func connect(_ words: String? = nil) throws -> ControlClient {
        do {
            return try ControlClient(socketPath: options.socketPath)
        } catch {
            throw fail(words, error)
        }
    }

    /// Reports `error` in the tools' one form, `<tool>: <words>: <strerror>
    /// (<ERRNO>): <reason>`, and returns the exit status of the scheme: 3
    /// when lanad cannot be reached or does not answer (no socket, nothing
    /// listening, no reply in time, connection closed), 1 when something
    /// refused the request (lanad, or the socket's permissions).
    public func fail(_ words: String?, _ error: ControlClientError) -> ExitCode {
        let what = words ?? ""
        switch error {
        case .daemonNotReachable(let path, let errno):
            var line = "\(tool): is lanad running? socket \(path): \(errno.strerror) (\(errno.symbolicName))"
            if let stale = StaleRunDirectory(runDirectory: options.resolvedRunDir) { line += ": \(stale)" }
            printError(line)
            return ExitCode(3)
        case .timedOut(let timeout):
            report(what, Errno(rawValue: ETIMEDOUT),
                   "no reply from lanad within \(timeout); whether the request was applied is unknown ('\(tool == "vlink" ? "fbctl" : tool) list' shows the graph)")
            return ExitCode(3)
        case .disconnected:
            report(what, Errno(rawValue: ECONNRESET), "lanad closed the connection (it stopped, or dropped a client that fell behind)")
            return ExitCode(3)
        case .refused(let errno, let message):
            // A refused WATCH reads like every other refusal (docs/design.md §3).
            return refusal(what, errno, message ?? "")
        case .system(let errno, let operation) where errno.rawValue == EACCES || errno.rawValue == EPERM:
            return refusal(what, errno, "\(operation): lanad serves only root, its own user and members of group lana")
        case .system(let errno, let operation):
            return refusal(what, errno, operation)
        case .invalidRequest(let error):
            return refusal(what, Errno(rawValue: EINVAL), "the request cannot be sent: \(error.message)")
        case .invalidReply(let error):
            return refusal(what, Errno(rawValue: EPROTO), "invalid reply from lanad: \(error.message)")
        }
    }

    /// `<tool>: <words>: <strerror> (<ERRNO>): <message>` on standard error
    /// (and with `--json` an object on standard output).
    func report(_ words: String, _ error: Errno, _ message: String) {
        let message = abbreviatingQuotes(message)
        if options.json {
            printOut("{\"ok\":false,\"errno\":\"\(error.symbolicName)\",\"code\":\(error.rawValue),\"message\":\(JSONText.string(message))}")
        }
        let prefix = words.isEmpty ? "\(tool): " : "\(tool): \(words): "
        printError(prefix + "\(error.strerror) (\(error.symbolicName))\(message.isEmpty ? "" : ": " + message)")
    }

    public func finish(_ words: String, _ reply: ControlReply) throws {
        if let error = reply.error {
            throw refusal(words, error, reply.message ?? "")
        }
        if options.json {
            if reply.items.isEmpty { printOut("{\"ok\":true}") }
            for item in reply.items { printOut(item.json ?? "{\"text\":\(JSONText.string(item.text ?? ""))}") }
        } else {
            for item in reply.items { if let t = item.text { writeOut(t) } }
        }
    }
}

extension ToolRunner {
    /// Prints a refusal, `<tool>: <words>: <strerror> (<ERRNO>): <message>`
    /// (and with `--json` an object on standard output); exit status 1.
    public func refusal(_ words: String, _ error: Errno, _ message: String) -> ExitCode {
        report(words, error, message)
        return ExitCode(1)
    }
}

public func printError(_ s: String) {
    writeAll(2, s + "\n")
}

public func printOut(_ s: String) {
    writeOut(s + "\n")
}

public func writeOut(_ s: String) {
    writeAll(1, s)
}

/// Writes all of `s` to `fd` (unbuffered, so output and errors interleave
/// in order and nothing is lost at exit).
func writeAll(_ fd: Int32, _ s: String) {
    var bytes = Array(s.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
        if n < 0 { if errno == EINTR { continue }; return }
        off += n
    }
}

/// Runs a command tree the way LANA's tools do: usage errors exit with 2
/// (not ArgumentParser's 64), everything else as the command decided. An
/// unknown subcommand is named as such, with the closest one.
public func runTool<Command: ParsableCommand>(_ type: Command.Type) -> Never {
    if let message = SubcommandCheck.unknownSubcommand(type, Array(CommandLine.arguments.dropFirst())) {
        printError(message)
        exit(2)
    }
    do {
        var command = try type.parseAsRoot()
        try command.run()
        exit(0)
    } catch {
        let code = type.exitCode(for: error)
        if code == .validationFailure {
            printError(type.fullMessage(for: error))
            exit(2)
        }
        type.exit(withError: error)
    }
}

/// The check behind `fbctl frobnicate` → `unknown subcommand`.
enum SubcommandCheck {
    /// The message for an unknown first word of `arguments`, or `nil`.
    static func unknownSubcommand<Command: ParsableCommand>(_ type: Command.Type, _ arguments: [String]) -> String? {
        let subcommands = type.configuration.subcommands
        guard !subcommands.isEmpty else { return nil }
        var i = 0
        var word: String?
        while i < arguments.count {
            let a = arguments[i]
            if a == "--run-dir" { i += 2; continue }
            if a.hasPrefix("-") {
                // Options of the root (--json, --run-dir=…); anything else is
                // for the parser to judge.
                if a == "--json" || a.hasPrefix("--run-dir=") { i += 1; continue }
                return nil
            }
            word = a
            break
        }
        guard let word else { return nil }
        var names: [String] = []
        var known: Swift.Set<String> = ["help"]
        for sub in subcommands {
            let name = sub.configuration.commandName ?? sub._commandName
            names.append(name)
            known.insert(name)
            for alias in sub.configuration.aliases { known.insert(alias) }
        }
        guard !known.contains(word) else { return nil }
        let tool = type.configuration.commandName ?? type._commandName
        let closest = names.map { (name: $0, distance: editDistance(word, $0)) }.min { $0.distance < $1.distance }
        var message = "\(tool): unknown subcommand '\(word)'"
        if let closest, closest.distance <= 2 || closest.name.hasPrefix(word) {
            message += ": did you mean '\(closest.name)'?"
        }
        return message + " (subcommands: \(names.joined(separator: ", ")); see '\(tool) --help')"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
