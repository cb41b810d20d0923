import ArgumentParser
import Glibc
import LANAControl
import LANACore
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
    public func run(_ words: String, _ request: ControlRequest) throws {
        let client = try connect()
        let reply: ControlReply
        do { reply = try client.send(request) } catch {
            throw fail(words, error)
        }
        try finish(words, reply)
    }

    public func connect() throws -> ControlClient {
        do {
            return try ControlClient(socketPath: options.socketPath)
        } catch {
            throw fail(nil, error)
        }
    }

    public func fail(_ words: String?, _ error: ControlClientError) -> ExitCode {
        let prefix = words.map { "\(tool): \($0): " } ?? "\(tool): "
        switch error {
        case .daemonNotReachable(let path, let errno):
            printError("\(tool): is lanad running? socket \(path): \(errno)")
            return ExitCode(3)
        case .refused(let errno, let message):
            // A refused WATCH reads like every other refusal (docs/design.md §3).
            return refusal(words ?? "", errno, message ?? "")
        default:
            printError(prefix + "\(error)")
            return ExitCode(1)
        }
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
    func refusal(_ words: String, _ error: Errno, _ message: String) -> ExitCode {
        if options.json {
            printOut("{\"ok\":false,\"errno\":\"\(error.symbolicName)\",\"code\":\(error.rawValue),\"message\":\(JSONText.string(message))}")
        }
        printError("\(tool): \(words): \(error.strerror) (\(error.symbolicName))\(message.isEmpty ? "" : ": " + message)")
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
/// (not ArgumentParser's 64), everything else as the command decided.
public func runTool<Command: ParsableCommand>(_ type: Command.Type) -> Never {
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
