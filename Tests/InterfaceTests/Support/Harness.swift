import Foundation
import Glibc
import LANATestSupport
import XCTest

/// Where the binaries under test live: beside the test bundle
/// (`swift build --build-tests` builds `lanad`, `fbctl` and `vlink` there).
enum BuildProducts {
    static let directory: String = {
        // On Linux the test bundle is itself the executable XCTest runs.
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // `…/debug/lanaPackageTests.xctest` (a file on Linux; a directory
        // with the binary inside elsewhere): walk up to the directory that
        // holds `lanad`.
        while !dir.isEmpty && dir != "/" && !FileManager.default.isExecutableFile(atPath: dir + "/lanad") {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    static func path(_ tool: String) -> String { directory + "/" + tool }

    static var available: Bool {
        ["lanad", "fbctl", "vlink"].allSatisfy { FileManager.default.isExecutableFile(atPath: path($0)) }
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// What a finished command printed.
struct CommandResult: CustomStringConvertible {
    let status: Int32
    let stdout: String
    let stderr: String
    var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
}

/// A child process whose output goes to files (no pipes to drain), killed
/// by its owner when the test ends.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(name: String, arguments: [String], logDirectory: String) throws {
        self.name = name
        let tag = "\(name)-\(UInt32.random(in: 0...UInt32.max))"
        stdoutPath = logDirectory + "/" + tag + ".out"
        stderrPath = logDirectory + "/" + tag + ".err"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit; `nil` if it is still running at the
    /// deadline.
    @discardableResult
    func wait(seconds: Double) -> Int32? {
        waitUntil(within: seconds, interval: 0.002) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    func signal(_ sig: Int32) {
        if process.isRunning { kill(pid, sig) }
    }

    /// The process leads its own process group (it runs under
    /// `timeout`, which makes itself a group leader): signals go to the
    /// whole group, so forked workers (trafgen's) stop too.
    var signalsGroup = false

    /// SIGTERM (or `first`), then SIGKILL if it has not gone within `grace`.
    func stop(first: Int32 = SIGTERM, grace: Double = 5) {
        guard process.isRunning else { return }
        kill(signalsGroup ? -pid : pid, first)
        if wait(seconds: grace) == nil {
            kill(signalsGroup ? -pid : pid, SIGKILL)
            wait(seconds: 5)
        }
    }
}

enum Shell {
    /// Runs a command to completion (bounded by `timeout`) and returns its
    /// status and output.
    static func run(_ arguments: [String], timeout: Double = 20, logDirectory: String = NSTemporaryDirectory()) throws -> CommandResult {
        let path = arguments[0].hasPrefix("/") ? arguments[0] : try which(arguments[0])
        let child = try ChildProcess(name: (path as NSString).lastPathComponent, arguments: [path] + arguments.dropFirst(),
                                     logDirectory: logDirectory)
        defer {
            try? FileManager.default.removeItem(atPath: child.stdoutPath)
            try? FileManager.default.removeItem(atPath: child.stderrPath)
        }
        guard let status = child.wait(seconds: timeout) else {
            child.stop(first: SIGKILL)
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        return CommandResult(status: status, stdout: child.stdout, stderr: child.stderr)
    }

    /// Runs a command that must succeed.
    @discardableResult
    static func must(_ arguments: String..., timeout: Double = 20) throws -> String {
        let r = try run(arguments, timeout: timeout)
        guard r.status == 0 else {
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) failed: \(r)")
        }
        return r.stdout
    }

    static func which(_ tool: String) throws -> String {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/bin", "/usr/local/sbin"] {
            if FileManager.default.isExecutableFile(atPath: dir + "/" + tool) { return dir + "/" + tool }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") { return "\(dir)/\(tool)" }
        }
        throw CommandFailure(description: "\(tool) not found")
    }
}

func readFile(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
}
