import Foundation
import Glibc
import XCTest

/// A `lanad` started in a network namespace with its own run directory,
/// `<workDirectory>/run`, driven by the real `fbctl` and `vlink`.
public final class Lanad: @unchecked Sendable {
    public let runDirectory: String
    public let child: ChildProcess
    public let logDirectory: String

    public init(namespace: String, workDirectory: String, engines: Int = 2, options: [String] = []) throws {
        runDirectory = workDirectory + "/run"
        logDirectory = workDirectory
        child = try ChildProcess(
            name: "lanad",
            arguments: [try Shell.which("ip"), "netns", "exec", namespace,
                        BuildProducts.path("lanad"), "--run-dir", runDirectory, "--engines", String(engines)] + options
                + (engines > allowedCPUCount() && !options.contains("--force") ? ["--force"] : []),
            logDirectory: workDirectory)
        let ready = waitUntil(within: 15, interval: 0.01) {
            guard child.isRunning else { return true }
            return (try? fbctl("list"))?.status == 0
        }
        guard ready, child.isRunning else {
            child.stop()
            throw CommandFailure(description: "lanad did not start: \(child.stderr)")
        }
    }

    public var log: String { child.stderr }
    public var controlSocket: String { runDirectory + "/control" }

    public func stop() { child.stop(first: SIGTERM, grace: 5) }

    // MARK: Tools

    public func fbctl(_ arguments: String...) throws -> CommandResult {
        try Shell.run([BuildProducts.path("fbctl"), "--run-dir", runDirectory] + arguments, logDirectory: logDirectory)
    }

    public func vlink(_ arguments: String...) throws -> CommandResult {
        try Shell.run([BuildProducts.path("vlink"), "--run-dir", runDirectory] + arguments, logDirectory: logDirectory)
    }

    /// Runs an fbctl command that must succeed.
    public func fb(_ arguments: String..., file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Shell.run([BuildProducts.path("fbctl"), "--run-dir", runDirectory] + arguments, logDirectory: logDirectory)
        XCTAssertEqual(r.status, 0, "fbctl \(arguments.joined(separator: " ")): \(r)", file: file, line: line)
        if r.status != 0 { throw CommandFailure(description: "fbctl \(arguments.joined(separator: " ")): \(r)") }
    }

    public func hook(_ ifname: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try vlink("ethernet", "hook", ifname)
        XCTAssertEqual(r.status, 0, "vlink ethernet hook \(ifname): \(r)", file: file, line: line)
        if r.status != 0 { throw CommandFailure(description: "hook \(ifname): \(r)") }
    }

    // MARK: State files

    /// A state file, once the files have caught up with every operation
    /// made so far (they follow the registry within 200 ms).
    public func stateFile(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        if let lag = waitForStateFiles(runDirectory: runDirectory) { XCTFail(lag, file: file, line: line) }
        return readTextFile(runDirectory + "/" + name)
    }

    /// The entries of a directory of state files (`fblock`), once the files
    /// have caught up.
    public func entries(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> [String] {
        if let lag = waitForStateFiles(runDirectory: runDirectory) { XCTFail(lag, file: file, line: line) }
        return try FileManager.default.contentsOfDirectory(atPath: runDirectory + "/" + name)
    }

    /// `fblock/<name>` of a counter: packets and bytes.
    public func counter(_ name: String) -> (packets: UInt64, bytes: UInt64)? {
        guard let text = stateFile("fblock/" + name) else { return nil }
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count == 2, let p = UInt64(f[0]), let b = UInt64(f[1]) else { return nil }
        return (p, b)
    }

    /// `ppe`: one entry per engine. Read as it is: its counters follow the
    /// traffic, not the registry, so waiting for the files to show the
    /// latest operation would only slow down a test that samples it
    /// between operations.
    public func engines() -> [EngineLine] {
        guard let text = readTextFile(runDirectory + "/ppe") else { return [] }
        return text.split(separator: "\n").compactMap(EngineLine.init)
    }

    /// `stalls` (lanad --measure-stalls): per engine, the longest burst and
    /// the longest time between two bursts, in nanoseconds.
    public func stalls() -> [(cpu: String, maxBurstNanos: UInt64, maxGapNanos: UInt64)] {
        (stateFile("stalls") ?? "").split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 3, f[0].hasSuffix(":"),
                  let burst = f[1].split(separator: "=").last.flatMap({ UInt64($0) }),
                  let gap = f[2].split(separator: "=").last.flatMap({ UInt64($0) })
            else { return nil }
            return (String(f[0].dropLast()), burst, gap)
        }
    }

    /// `drops`: reason → count.
    public func drops() -> [String: UInt64] {
        var d: [String: UInt64] = [:]
        for line in (stateFile("drops") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2, let n = UInt64(f[1]) { d[String(f[0])] = n }
        }
        return d
    }

    /// `fblocks`: name → fields after the name (`type idp refs subs…`).
    public func fblocks() -> [String: [String]] {
        var d: [String: [String]] = [:]
        for line in (stateFile("fblocks") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            if let name = f.first { d[name] = Array(f.dropFirst()) }
        }
        return d
    }

    /// `vlink`: name → fields after the name (`kind ifindex state`).
    public func vlinks() -> [String: [String]] {
        var d: [String: [String]] = [:]
        for line in (stateFile("vlink") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            if let name = f.first { d[name] = Array(f.dropFirst()) }
        }
        return d
    }
}

/// `CPU<n>:\t<pkts>\t<bytes>\t<fblock calls>\t<backlog enq>\t<drops>\t<backlog len>`
public struct EngineLine: Equatable, Sendable {
    public let cpu: String
    public let packets: UInt64
    public let bytes: UInt64
    public let blockCalls: UInt64
    public let backlogEnqueued: UInt64
    public let drops: UInt64
    public let backlogLength: UInt64
    /// Packets that reached the top of the graph (not drops).
    public let ended: UInt64

    /// One engine's line; `nil` for the header line (`#cpu …`).
    public init?(_ line: Substring) {
        let f = line.split(separator: "\t")
        guard f.count == 8, f[0].hasPrefix("CPU"), f[0].hasSuffix(":") else { return nil }
        let n = f.dropFirst().compactMap { UInt64($0) }
        guard n.count == 7 else { return nil }
        cpu = String(f[0].dropLast())
        packets = n[0]; bytes = n[1]; blockCalls = n[2]; backlogEnqueued = n[3]; drops = n[4]; backlogLength = n[5]
        ended = n[6]
    }
}

/// Values of `key=value` words in `fbctl show` output, e.g. `received packets=10 bytes=600`.
public func showValue(_ text: String, line prefix: String, key: String) -> UInt64? {
    for line in text.split(separator: "\n") {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix(prefix) else { continue }
        for word in trimmed.split(separator: " ") where word.hasPrefix(key + "=") {
            return UInt64(word.dropFirst(key.count + 1))
        }
    }
    return nil
}
