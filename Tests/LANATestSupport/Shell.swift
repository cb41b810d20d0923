import Foundation
import Glibc

/// Seconds from `start` to now.
public func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// What a finished command printed.
public struct CommandResult: CustomStringConvertible, Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

/// A command that failed or could not run, with what it printed.
public struct CommandFailure: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

public enum Shell {
    /// Runs a command to completion (bounded by `timeout`) and returns its
    /// status and output.
    public static func run(_ arguments: [String], timeout: Double = 20, logDirectory: String = NSTemporaryDirectory()) throws -> CommandResult {
        let path = arguments[0].hasPrefix("/") ? arguments[0] : try which(arguments[0])
        let result = try ChildProcess.run([path] + arguments.dropFirst(), timeout: timeout, logDirectory: logDirectory)
        guard !result.timedOut else {
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        return CommandResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs a command that must succeed.
    @discardableResult
    public static func must(_ arguments: String..., timeout: Double = 20) throws -> String {
        let r = try run(arguments, timeout: timeout)
        guard r.status == 0 else {
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) failed: \(r)")
        }
        return r.stdout
    }

    public static func which(_ tool: String) throws -> String {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"] {
            if FileManager.default.isExecutableFile(atPath: dir + "/" + tool) { return dir + "/" + tool }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") { return "\(dir)/\(tool)" }
        }
        throw CommandFailure(description: "\(tool) not found")
    }
}
