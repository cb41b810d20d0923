import Foundation
import Glibc
import LANATestSupport
import XCTest

/// Base class: a fresh ``BridgedLAN`` per test, a work directory, and every
/// `lanad` and helper process the test started, all torn down in
/// `tearDown` whether the test passed or not (a failed test prints each
/// daemon's log first).
class FLIPInteropTestCase: XCTestCase, @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static var sender: String { repository + "/Scripts/lana-send.py" }

    var lan: BridgedLAN!
    var work: String!
    private var daemons: [(host: String, lanad: Lanad)] = []
    private var children: [ChildProcess] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        try requireNamespaceHost()
        for tool in ["ip", "bridge", "tcpdump", "arping", "python3"] {
            do { _ = try Shell.which(tool) } catch { throw UnmetRequirement("\(tool) is not installed (Scripts/setup.sh installs it)") }
        }
        work = NSTemporaryDirectory() + "lana-flip-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for c in children.reversed() { c.stop(first: SIGINT, grace: 2) }
        children = []
        let failed = (testRun?.totalFailureCount ?? 0) > 0
        for (host, lanad) in daemons {
            lanad.stop()
            if failed { print("lanad log (\(host)):\n\(lanad.log)") }
        }
        daemons = []
        lan?.destroy()
        lan = nil
        if let work { try? FileManager.default.removeItem(atPath: work) }
        try super.tearDownWithError()
    }

    /// The segment of this test: one namespace per `(name, mac)`.
    func makeLAN(_ hosts: [(name: String, mac: String)]) throws -> BridgedLAN {
        let l = try BridgedLAN(hosts: hosts)
        lan = l
        return l
    }

    // MARK: lanad

    /// Starts `lanad` in `host`'s namespace and builds the contract's
    /// graph: `eth` (the hooked `lan0`) ← `arp` ← `flip` ← counter `up`,
    /// and, with `echo`, an echo block on flip's `up.type.0x88b5`.
    func startNode(on host: BridgedLAN.Host, addresses: String, forward: Bool = false,
                   ipv4Encoding: String? = nil, echo: Bool = false) throws -> Lanad {
        let directory = work + "/" + host.name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lanad = try Lanad(namespace: host.namespace, workDirectory: directory)
        daemons.append((host.name, lanad))
        try lanad.hook(host.interface)
        try lanad.fb("add", "a", "arp")
        if let ipv4Encoding { try lanad.fb("set", "a", "ipv4-encoding=" + ipv4Encoding) }
        try lanad.fb("add", "f", "flip")
        try lanad.fb("set", "f", "address=" + addresses)
        if forward { try lanad.fb("set", "f", "forward=on") }
        try lanad.fb("bind", "f", "a")
        try lanad.fb("bind", "a", host.interface)
        try lanad.fb("add", "up", "counter")
        try lanad.fb("bind", "up", "f")
        if echo {
            try lanad.fb("add", "e", "echo")
            try lanad.fb("bind", "e", "f", "up.type.0x88b5")
        }
        return lanad
    }

    // MARK: Processes in the namespaces

    /// Runs a command in `host`'s namespace to completion.
    func run(in host: BridgedLAN.Host, _ arguments: [String], timeout: Double = 15) throws -> CommandResult {
        try Shell.run(["ip", "netns", "exec", host.namespace, try Shell.which(arguments[0])] + arguments.dropFirst(),
                      timeout: timeout, logDirectory: work)
    }

    /// Sends `count` FLIP frames from `host` with `Scripts/lana-send.py` and
    /// returns them as sent (the script prints them first with the same
    /// arguments), for the test to compare with what arrives.
    @discardableResult
    func sendFLIP(from host: BridgedLAN.Host, to mac: String, count: Int, destination: String, source: String?,
                  type: UInt16 = 0x88B5, ttl: Int?, first: Int) throws -> [[UInt8]] {
        var arguments = ["python3", Self.sender, host.interface, String(count), "--kind", "flip", "--to", mac,
                         "--from", host.mac, "--dst", destination, "--type", "0x" + String(type, radix: 16),
                         "--first", String(first)]
        if let source { arguments += ["--src", source] }
        if let ttl { arguments += ["--ttl", String(ttl)] }
        let printed = try run(in: host, arguments + ["--print"])
        guard printed.status == 0 else { throw CommandFailure(description: "lana-send.py --print: \(printed)") }
        let sent = try run(in: host, arguments)
        guard sent.status == 0 else { throw CommandFailure(description: "lana-send.py: \(sent)") }
        return printed.stdout.split(separator: "\n").map { hexBytes(String($0)) }
    }

    /// Starts `tcpdump -w file` on `host`'s link with `filter` and waits
    /// until it listens; stopped in tearDown, or by ``stopCapture(_:)``.
    func startCapture(on host: BridgedLAN.Host, filter: String, file: String) throws -> ChildProcess {
        let tcpdump = try ChildProcess(name: "tcpdump", arguments: [
            try Shell.which("ip"), "netns", "exec", host.namespace, try Shell.which("tcpdump"),
            "-i", host.interface, "-n", "-U", "-s", "0", "-w", file, filter,
        ], logDirectory: work)
        children.append(tcpdump)
        let listening = waitUntil(within: 10) { tcpdump.stderr.contains("listening on") || !tcpdump.isRunning }
        guard listening, tcpdump.isRunning else {
            throw CommandFailure(description: "tcpdump on \(host.name) did not start: \(tcpdump.stderr)")
        }
        return tcpdump
    }

    /// Stops a capture (SIGINT: tcpdump writes what it has and exits).
    func stopCapture(_ tcpdump: ChildProcess) {
        tcpdump.stop(first: SIGINT, grace: 5)
    }

    /// The frames a capture holds so far (a record still being written is
    /// left out).
    func frames(in file: String) -> [[UInt8]] {
        ((try? Pcap.read(file))?.records ?? []).map(\.bytes)
    }
}

// MARK: What lanad shows

/// One line of an `arp` block's status file: `<address> <mac>
/// <learned|static|incomplete> <packets queued>`.
struct ArpEntry: Equatable, CustomStringConvertible {
    var address: [UInt8]
    var mac: String
    var state: String
    var queued: Int

    init(_ address: String, _ mac: String, _ state: String = "learned", queued: Int = 0) {
        self.address = FLIPAddress.parse(address)!
        self.mac = mac
        self.state = state
        self.queued = queued
    }

    /// `nil` for a line not of the documented form.
    init?(line: Substring) {
        let f = line.split(separator: " ")
        guard f.count == 4, let address = FLIPAddress.parse(f[0]), let queued = Int(f[3]) else { return nil }
        self.address = address
        mac = f[1].lowercased()
        state = String(f[2])
        self.queued = queued
    }

    var description: String { "\(FLIPAddress.format(address)) \(mac) \(state) \(queued)" }
}

extension Lanad {
    /// The `arp` block's table, sorted by address; lines not of the
    /// documented form come back as `unparsed`.
    func arpTable(_ block: String = "a") -> (entries: [ArpEntry], unparsed: [String], text: String) {
        let text = readTextFile(runDirectory + "/fblock/" + block) ?? ""
        var entries: [ArpEntry] = []
        var unparsed: [String] = []
        for line in text.split(separator: "\n") where !line.isEmpty {
            if let e = ArpEntry(line: line) { entries.append(e) } else { unparsed.append(String(line)) }
        }
        entries.sort { $0.address.lexicographicallyPrecedes($1.address) }
        return (entries, unparsed, text)
    }

    /// Waits (bounded) until the arp table holds exactly `expected` (in any
    /// order), then asserts it, naming what it read.
    func assertArpTable(_ expected: [ArpEntry], block: String = "a", within seconds: Double = 5,
                        file: StaticString = #filePath, line: UInt = #line) {
        let sorted = expected.sorted { $0.address.lexicographicallyPrecedes($1.address) }
        waitUntil(within: seconds, interval: 0.02) { arpTable(block).entries == sorted && arpTable(block).unparsed.isEmpty }
        let table = arpTable(block)
        XCTAssertEqual(table.entries, sorted, "fblock/\(block) reads:\n\(table.text)", file: file, line: line)
        XCTAssertEqual(table.unparsed, [], "fblock/\(block) has lines not of the form <address> <mac> <state> <queued>",
                       file: file, line: line)
    }

    /// `fbctl show <block>`, which must succeed.
    func show(_ block: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        guard let r = try? fbctl("show", block) else {
            XCTFail("fbctl show \(block) could not run", file: file, line: line)
            return ""
        }
        XCTAssertEqual(r.status, 0, "fbctl show \(block): \(r)", file: file, line: line)
        return r.stdout
    }

    /// The sum over engines of `key=<n>` in `fbctl show <block>`'s `engine
    /// <i> …` lines, or `nil` if no such line names the key.
    func engineTotal(_ block: String, _ key: String) -> UInt64? {
        engineTotal(inShow: (try? fbctl("show", block))?.stdout ?? "", key)
    }

    func engineTotal(inShow text: String, _ key: String) -> UInt64? {
        var total: UInt64?
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.first == "engine" else { continue }
            for word in words where word.hasPrefix(key + "=") {
                if let n = UInt64(word.dropFirst(key.count + 1)) { total = (total ?? 0) + n }
            }
        }
        return total
    }

    /// Packets a counter block counted going up, from `fbctl show` (the
    /// synchronous truth; its status file follows within 200 ms).
    func counted(_ block: String) -> UInt64? {
        showValue((try? fbctl("show", block))?.stdout ?? "", line: "ingress", key: "packets")
    }

    /// The reasons of the `drops` file with a count above zero.
    func nonzeroDrops() -> [String: UInt64] {
        drops().filter { $0.value > 0 }
    }
}
