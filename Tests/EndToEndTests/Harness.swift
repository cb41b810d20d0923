import Foundation
import Glibc
import LANATestSupport
import XCTest

// The end-to-end harness: a real `lanad` in a private run directory, driven
// by the real `fbctl` and `vlink` binaries from the same build directory as
// this test bundle. Every wait is on a condition with a deadline.

/// The binaries under test (``BuildProducts``).
enum Binaries {
    static var directory: String { BuildProducts.directory }

    static var lanad: String { directory + "/lanad" }
    static var fbctl: String { directory + "/fbctl" }
    static var vlink: String { directory + "/vlink" }

    /// Fails the test (rather than crashing) when the tools were not built.
    static func require(file: StaticString = #filePath, line: UInt = #line) throws {
        for path in [lanad, fbctl, vlink] where !FileManager.default.isExecutableFile(atPath: path) {
            XCTFail("\(path) is missing: build with `swift build --build-tests` first", file: file, line: line)
            throw UnmetRequirement("tools not built")
        }
    }
}

/// Result of running a tool to completion.
struct ToolResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Set when the process was killed by a signal (or by our deadline).
    var signaled: Bool = false

    var description: String {
        "status \(status)\(signaled ? " (signaled)" : "")\nstdout: \(stdout.debugDescription)\nstderr: \(stderr.debugDescription)"
    }

    var stdoutLines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty() }
    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty() }
}

extension Array where Element == String {
    func dropLastIfEmpty() -> [String] {
        if last == "" { return Array(dropLast()) }
        return self
    }
}

/// Runs a program to completion (bounded by `timeout`), capturing stdout and
/// stderr through files so that large outputs cannot block it. The tools
/// do not inherit `LANA_RUN_DIR` unless `environment` says so.
func runProgram(_ path: String, _ arguments: [String], stdin: String? = nil,
                environment: [String: String]? = nil, timeout: TimeInterval = 20) -> ToolResult {
    var env = environment ?? ProcessInfo.processInfo.environment
    if environment == nil { env["LANA_RUN_DIR"] = nil }
    let result: ProgramResult
    do {
        result = try ChildProcess.run([path] + arguments, stdin: stdin, environment: env, timeout: timeout)
    } catch {
        return ToolResult(status: -1, stdout: "", stderr: "harness: cannot run \(path): \(error)")
    }
    return ToolResult(status: result.status, stdout: result.stdout,
                      stderr: result.stderr + (result.timedOut ? "\nharness: killed after \(timeout) s" : ""),
                      signaled: result.signaled)
}

/// A fresh, not yet existing run directory path under /tmp.
func freshRunDirectory() -> String {
    "/tmp/lanae2e-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
}

func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

/// Permission bits and file type of `path` (lstat).
func fileMode(_ path: String) -> (type: mode_t, permissions: mode_t)? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return (st.st_mode & S_IFMT, st.st_mode & 0o7777)
}

/// `VmRSS` of a process in kB.
func residentKilobytes(of pid: pid_t) -> Int? {
    guard let status = readTextFile("/proc/\(pid)/status") else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" })[1])
    }
    return nil
}

/// A running `lanad` with its own run directory.
final class LanadProcess {
    let runDirectory: String
    let process: Process
    let logPath: String
    private(set) var stopped = false
    private(set) var exitStatus: Int32?

    var pid: pid_t { process.processIdentifier }
    var controlPath: String { runDirectory + "/control" }

    /// Starts `lanad --run-dir <fresh> --engines N [extra…]` and waits until
    /// it serves its control socket. Pass `wrapper` to start it through
    /// another program (e.g. `unshare -n`), which must exec lanad.
    init(engines: Int? = 2, extraArguments: [String] = [], runDirectory: String? = nil,
         wrapper: [String] = [], waitForReady: Bool = true,
         file: StaticString = #filePath, line: UInt = #line) throws {
        try Binaries.require(file: file, line: line)
        self.runDirectory = runDirectory ?? freshRunDirectory()
        logPath = "/tmp/lanae2e-log-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process = Process()
        var arguments = ["--run-dir", self.runDirectory] + (engines.map { ["--engines", String($0)] } ?? []) + extraArguments
        // The tests' two engines on a one-CPU machine share it.
        if let engines, engines > allowedCPUCount(), !extraArguments.contains("--force") { arguments.append("--force") }
        if let program = wrapper.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = Array(wrapper.dropFirst()) + [Binaries.lanad] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: Binaries.lanad)
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["LANA_RUN_DIR"] = nil
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        if waitForReady {
            let ready = waitUntil(within: 20, interval: 0.002) { [self] in
                !process.isRunning || (fileExists(self.controlPath) && self.stateFilesExist && canConnect())
            }
            guard ready, process.isRunning else {
                let log = self.log
                if process.isRunning { kill(pid, SIGKILL) }
                process.waitUntilExit()
                stopped = true
                XCTFail("lanad did not become ready (exit \(process.isRunning ? -1 : process.terminationStatus)); log:\n\(log)",
                        file: file, line: line)
                throw UnmetRequirement("lanad not ready")
            }
        }
    }

    deinit {
        if !stopped && process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        unlink(logPath)
    }

    var log: String { readTextFile(logPath) ?? "" }

    /// All state files of docs/design.md §2 are there (they are written one by one).
    var stateFilesExist: Bool {
        ["fblocks", "ppe", "drops", "vlink", "fblock"].allSatisfy { fileExists(runDirectory + "/" + $0) }
    }

    /// Whether a client can connect to the control socket right now.
    func canConnect() -> Bool {
        guard let socket = try? RawSocket(path: controlPath) else { return false }
        _ = socket
        return true
    }

    /// A state file, once the files have caught up with every operation
    /// made so far (they follow the registry within 200 ms).
    func file(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        if let lag = waitForStateFiles(runDirectory: runDirectory) { XCTFail(lag, file: file, line: line) }
        return readTextFile(runDirectory + "/" + name)
    }

    var fblocks: String? { file("fblocks") }

    /// The entries of a directory of state files (`fblock`), once the files
    /// have caught up.
    func entries(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        if let lag = waitForStateFiles(runDirectory: runDirectory) { XCTFail(lag, file: file, line: line) }
        return try FileManager.default.contentsOfDirectory(atPath: runDirectory + "/" + name)
    }

    /// `fbctl --run-dir <dir> args…`.
    @discardableResult
    func fbctl(_ arguments: [String], stdin: String? = nil, timeout: TimeInterval = 20) -> ToolResult {
        runProgram(Binaries.fbctl, ["--run-dir", runDirectory] + arguments, stdin: stdin, timeout: timeout)
    }

    @discardableResult
    func fbctl(_ words: String...) -> ToolResult { fbctl(words) }

    @discardableResult
    func vlink(_ arguments: [String]) -> ToolResult {
        runProgram(Binaries.vlink, ["--run-dir", runDirectory] + arguments)
    }

    /// Sends `signal` and waits (bounded) for lanad to exit; returns its
    /// exit status, or nil if it did not exit (it is then killed).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 15) -> Int32? {
        if stopped { return exitStatus }
        stopped = true
        if process.isRunning { kill(pid, signal) }
        if !waitUntil(within: timeout, interval: 0.002, { !process.isRunning }) {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        exitStatus = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return exitStatus
    }

    /// Stops lanad and checks the clean-shutdown contract: exit 0 and the
    /// run directory (which it created) gone.
    func stopAndCheckClean(signal: Int32 = SIGTERM, file: StaticString = #filePath, line: UInt = #line) {
        let status = stop(signal: signal)
        XCTAssertEqual(status, 0, "lanad exit status after signal \(signal); log:\n\(log)", file: file, line: line)
        XCTAssertFalse(fileExists(runDirectory),
                       "run directory \(runDirectory) left behind: \((try? FileManager.default.contentsOfDirectory(atPath: runDirectory)) ?? [])",
                       file: file, line: line)
        // Do not litter /tmp when the check failed.
        try? FileManager.default.removeItem(atPath: runDirectory)
    }
}

/// Base class: tracks daemons and stops them in tearDown with checks.
class EndToEndTestCase: XCTestCase {
    private var daemons: [LanadProcess] = []

    func startLanad(engines: Int? = 2, extraArguments: [String] = [], wrapper: [String] = [],
                    file: StaticString = #filePath, line: UInt = #line) throws -> LanadProcess {
        let daemon = try LanadProcess(engines: engines, extraArguments: extraArguments, wrapper: wrapper,
                                      file: file, line: line)
        daemons.append(daemon)
        return daemon
    }

    override func tearDown() {
        for daemon in daemons where !daemon.stopped {
            daemon.stopAndCheckClean()
        }
        daemons.removeAll()
        super.tearDown()
    }
}

/// Asserts a tool run succeeded (exit 0, nothing on stderr).
func assertOK(_ result: ToolResult, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 0, "\(what): \(result)", file: file, line: line)
    XCTAssertEqual(result.stderr, "", "\(what): \(result)", file: file, line: line)
    XCTAssertFalse(result.signaled, "\(what): \(result)", file: file, line: line)
}

/// Asserts a tool run was refused (exit 1) with exactly `stderrLine`.
func assertRefused(_ result: ToolResult, _ stderrLine: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 1, "\(result)", file: file, line: line)
    XCTAssertEqual(result.stderr, stderrLine + "\n", file: file, line: line)
    XCTAssertEqual(result.stdout, "", "\(result)", file: file, line: line)
}

/// Asserts a usage error: exit 2, something on stderr, nothing done.
func assertUsageError(_ result: ToolResult, mentioning: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(result.status, 2, "\(result)", file: file, line: line)
    XCTAssertFalse(result.stderr.isEmpty, "usage error without a message: \(result)", file: file, line: line)
    if let mentioning {
        XCTAssertTrue(result.stderr.contains(mentioning), "stderr should mention \(mentioning.debugDescription): \(result)",
                      file: file, line: line)
    }
}
