import Foundation
import LANABPF
import LANATestSupport

/// Runs the Debian tools the oracle tests compare against (`bpfc` from
/// netsniff-ng, `tcpdump`) and `ip` for namespaces.
enum BPFTools {
    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    struct Failure: Error, CustomStringConvertible {
        let command: [String]
        let output: Output
        var description: String {
            "\(command.joined(separator: " ")) exited \(output.status): \(output.stderr)\(output.stdout)"
        }
    }

    static let searchPath = "/usr/sbin:/usr/bin:/sbin:/bin"

    /// Runs `arguments` (looked up in ``searchPath``) and returns its output
    /// whatever the exit status.
    static func run(_ arguments: [String]) throws -> Output {
        let result = try ChildProcess.run(["/usr/bin/env"] + arguments, environment: ["PATH": searchPath, "LC_ALL": "C"])
        guard !result.timedOut else {
            throw Failure(command: arguments, output: Output(status: result.status, stdout: result.stdout,
                                                             stderr: result.stderr + "\n(killed after 20 s)"))
        }
        return Output(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// Runs `arguments` and throws unless it exits 0.
    @discardableResult
    static func check(_ arguments: String...) throws -> String {
        let output = try run(arguments)
        guard output.status == 0 else { throw Failure(command: arguments, output: output) }
        return output.stdout
    }

    /// Fails the test (never skips it) when `tool` is not installed.
    static func require(tool: String, package: String) throws {
        let found = searchPath.split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)")
        }
        try LANATestSupport.require(found, "\(tool) is not installed (apt-get install \(package))")
    }

    static func requireRoot() throws {
        try LANATestSupport.require(geteuid() == 0, "this test needs root (network namespaces, AF_PACKET)")
    }

    /// `bpfc -b -i file` on `source`: the tuple lines it prints (validation
    /// bypassed, so programs the kernel would refuse still assemble).
    static func bpfc(_ source: String) throws -> Output {
        let path = NSTemporaryDirectory() + "lana-bpfc-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).bpf"
        try source.write(toFile: path, atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try run(["bpfc", "-b", "-i", path])
    }

    /// `tcpdump -dd` for Ethernet with LANA's snapshot length.
    static func tcpdump(_ expression: String) throws -> Output {
        try run(["tcpdump", "-dd", "-y", "EN10MB", "-s", String(PcapFilterCompiler.snapshotLength), expression])
    }

    /// The `{ 0x.., .., .., 0x........ },` lines of a tool's output.
    static func tupleLines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("{") }
    }
}
