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

enum Shell {
    /// Runs a command to completion (bounded by `timeout`) and returns its
    /// status and output.
    static func run(_ arguments: [String], timeout: Double = 20, logDirectory: String = NSTemporaryDirectory()) throws -> CommandResult {
        let path = arguments[0].hasPrefix("/") ? arguments[0] : try which(arguments[0])
        let result = try ChildProcess.run([path] + arguments.dropFirst(), timeout: timeout, logDirectory: logDirectory)
        guard !result.timedOut else {
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) did not finish within \(timeout) s")
        }
        return CommandResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
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
