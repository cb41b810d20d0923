import Foundation
import Glibc

/// What a program run to completion left behind.
public struct ProgramResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// The run outlived its timeout and was killed.
    public var timedOut: Bool
    /// Killed by a signal (by the timeout or otherwise).
    public var signaled: Bool
}

/// A child process whose output goes to files, not pipes, so that a large
/// output can never block it; killed by its owner when the test ends.
public final class ChildProcess: @unchecked Sendable {
    public let name: String
    public let process = Process()
    public let stdoutPath: String
    public let stderrPath: String

    /// The process leads its own process group (it runs under
    /// `timeout`, which makes itself a group leader): signals go to the
    /// whole group, so forked workers (trafgen's) stop too.
    public var signalsGroup = false

    /// Starts `arguments[0]` (a path) with the rest as its arguments. With
    /// `stdin`, the child reads that text and then end of file; otherwise
    /// `/dev/null`. Without `environment`, it inherits this process's.
    public init(name: String, arguments: [String], logDirectory: String = NSTemporaryDirectory(),
                stdin: String? = nil, environment: [String: String]? = nil) throws {
        self.name = name
        let tag = "\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        stdoutPath = (logDirectory as NSString).appendingPathComponent(tag + ".out")
        stderrPath = (logDirectory as NSString).appendingPathComponent(tag + ".err")
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        guard let out = FileHandle(forWritingAtPath: stdoutPath), let err = FileHandle(forWritingAtPath: stderrPath) else {
            throw ChildProcessError(description: "cannot create the capture files \(stdoutPath) and \(stderrPath)")
        }
        defer {
            try? out.close()
            try? err.close()
        }
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit; `nil` if it is still running at the
    /// deadline.
    @discardableResult
    public func wait(seconds: Double, interval: Double = 0.002) -> Int32? {
        waitUntil(within: seconds, interval: interval) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    public func signal(_ sig: Int32) {
        if process.isRunning { kill(pid, sig) }
    }

    /// SIGTERM (or `first`), then SIGKILL if it has not gone within `grace`.
    public func stop(first: Int32 = SIGTERM, grace: Double = 5) {
        guard process.isRunning else { return }
        kill(signalsGroup ? -pid : pid, first)
        if wait(seconds: grace) == nil {
            kill(signalsGroup ? -pid : pid, SIGKILL)
            wait(seconds: 5)
        }
    }

    /// Removes the capture files.
    public func removeOutputFiles() {
        unlink(stdoutPath)
        unlink(stderrPath)
    }

    /// Runs `arguments` to completion, killed with SIGKILL if it outlives
    /// `timeout` seconds, and returns its status and output. Throws only
    /// when the program cannot be started.
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String]? = nil,
                           timeout: Double = 20, logDirectory: String = NSTemporaryDirectory()) throws -> ProgramResult {
        let child = try ChildProcess(name: (arguments[0] as NSString).lastPathComponent, arguments: arguments,
                                     logDirectory: logDirectory, stdin: stdin, environment: environment)
        defer { child.removeOutputFiles() }
        var timedOut = false
        if child.wait(seconds: timeout, interval: 0.001) == nil {
            kill(child.pid, SIGKILL)
            timedOut = true
        }
        child.process.waitUntilExit()
        return ProgramResult(status: child.process.terminationStatus, stdout: child.stdout, stderr: child.stderr,
                             timedOut: timedOut,
                             signaled: timedOut || child.process.terminationReason == .uncaughtSignal)
    }
}

/// A child process that could not be set up.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
}
