import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// What a new user runs into: exit codes and the one error form, long
/// arguments in messages, help generated from lanad's types, output for
/// scripts, stale run directories, argument oddities.
final class ToolUsabilityTests: EndToEndTestCase {
    // MARK: exit codes (0 success, 1 refused, 2 usage, 3 lanad not reachable)

    func testNoReplyInTimeExitsThreeAndSaysTheOutcomeIsUnknown() throws {
        let lanad = try startLanad()
        // A stopped lanad accepts connections (the kernel does) but answers nothing.
        kill(lanad.pid, SIGSTOP)
        let result = lanad.fbctl("add", "a", "dummy")
        kill(lanad.pid, SIGCONT)
        XCTAssertEqual(result.status, 3, "\(result)")
        XCTAssertEqual(result.stderr, "fbctl: add a dummy: Connection timed out (ETIMEDOUT): no reply from lanad within 5.0 seconds; whether the request was applied is unknown ('fbctl list' shows the graph)\n")
        XCTAssertEqual(result.stdout, "")
    }

    func testWatchExitsThreeWhenLanadStops() throws {
        let lanad = try startLanad()
        let runDirectory = lanad.runDirectory
        let watch = Locked<ToolResult?>(nil)
        DispatchQueue.global().async {
            let r = runProgram(Binaries.fbctl, ["--run-dir", runDirectory, "watch"], timeout: 30)
            watch.withLock { $0 = r }
        }
        // Subscribed once a probe change shows up in... the event stream is
        // only visible to the watcher, so wait for lanad to count it instead.
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { Self.watcherCount(lanad) == 1 }, "watcher never connected")
        lanad.stopAndCheckClean()
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { watch.current != nil })
        let result = try XCTUnwrap(watch.current)
        XCTAssertEqual(result.status, 3, "\(result)")
        XCTAssertEqual(result.stderr, "fbctl: watch: Connection reset by peer (ECONNRESET): lanad closed the connection (it stopped, or dropped a client that fell behind)\n")
    }

    /// Connections to lanad's control socket other than the listener, seen
    /// from /proc/net/unix (a connected watcher shows as one).
    static func watcherCount(_ lanad: LanadProcess) -> Int {
        let table = readTextFile("/proc/net/unix") ?? ""
        // The listener is the one line with the path and state 01 (listening);
        // accepted connections carry no path. Count lanad's sockets instead.
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(lanad.pid)/fd")) ?? []
        let inodes = Set(fds.compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(lanad.pid)/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst(8).dropLast())
        })
        // Type 0005 is SOCK_SEQPACKET; state 03 is connected.
        return table.split(separator: "\n").filter { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            return f.count >= 7 && f[4] == "0005" && f[5] == "03" && inodes.contains(String(f[6]))
        }.count
    }

    // MARK: stale run directory

    func testAKilledLanadIsNamedAndItsFilesCalledStale() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "dummy"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\n", "the files caught up before the kill")
        let path = lanad.runDirectory
        let pid = lanad.pid
        kill(pid, SIGKILL)
        _ = lanad.stop()
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\n", "the old graph stays behind")
        let stale = "lanad (pid \(pid) in \(path)/lanad.lock) is not running and did not clean up: the state files in \(path) are stale"
        let list = runProgram(Binaries.fbctl, ["--run-dir", path, "list"])
        XCTAssertEqual(list.status, 3, "\(list)")
        XCTAssertEqual(list.stderr, "fbctl: is lanad running? socket \(path)/control: Connection refused (ECONNREFUSED): \(stale)\n")
        let vlink = runProgram(Binaries.vlink, ["--run-dir", path, "ethernet", "hook", "lo"])
        XCTAssertEqual(vlink.status, 3, "\(vlink)")
        XCTAssertEqual(vlink.stderr, "vlink: is lanad running? socket \(path)/control: Connection refused (ECONNREFUSED): \(stale)\n")
        // A directory without a lanad at all is just not running.
        let dir = freshRunDirectory()
        XCTAssertEqual(runProgram(Binaries.fbctl, ["--run-dir", dir, "list"]).stderr,
                       "fbctl: is lanad running? socket \(dir)/control: No such file or directory (ENOENT)\n")
    }

    // MARK: long arguments

    func testLongValuesAreAbbreviatedAndTheRealErrorComesFirst() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "big", "bpf"))
        let junk = String(repeating: "x", count: 100_000)
        assertRefused(lanad.fbctl("set", "big", "bpf=" + junk),
                      "fbctl: set big bpf=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (100004 bytes): Invalid argument (EINVAL): program refused, the loaded one stays: line 1: unknown mnemonic 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (100000 bytes)' (a label is followed by ':')")
        assertRefused(lanad.fbctl("set", "big", "other=" + junk),
                      "fbctl: set big other=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (100006 bytes): Message too long (EMSGSIZE): the option is 100006 bytes long; lanad accepts at most 61440")
        // A valid program made long by comments is assembled here and sent.
        let padded = (0..<2000).map { _ in "; " + String(repeating: "c", count: 40) }.joined(separator: "\n")
            + "\nldh [12]\njeq #0x806, L1, L2\nL1: ret #65535\nL2: ret #0\n"
        assertOK(lanad.fbctl("set", "big", "bpf=" + padded))
        XCTAssertEqual(lanad.file("fblock/big")?.split(separator: "\n").count, 4)
    }

    // MARK: types from lanad

    func testHelpAddListsTheTypesLanadRegistered() throws {
        let lanad = try startLanad()
        let help = lanad.fbctl("help", "add")
        assertOK(help)
        // Help text is wrapped to the terminal's width.
        let words = { (text: String) in text.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        XCTAssertTrue(words(help.stdout).contains("Types lanad registered: arp, bpf, counter, dummy, echo, flip, tee. 'fbctl types' describes them and their options."),
                      "eth blocks are made by vlink, not listed: \(help.stdout)")
        XCTAssertEqual(lanad.fbctl("add", "--help").stdout, help.stdout)

        let types = lanad.fbctl("types", "counter")
        assertOK(types)
        XCTAssertEqual(types.stdout, "counter: forwards packets and counts packets and bytes per engine and direction\n  reset=1 sets the counters to zero\n")
        let json = lanad.fbctl("--json", "types")
        assertOK(json)
        let objects = try json.stdoutLines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(objects.compactMap { $0["type"] as? String }.sorted(), ["arp", "bpf", "counter", "dummy", "echo", "flip", "tee"])
        assertRefused(lanad.fbctl("types", "nosuch"),
                      "fbctl: types nosuch: No such file or directory (ENOENT): unknown block type nosuch (known types: arp, bpf, counter, dummy, echo, flip, tee)")

        // Without a lanad the help says where the list comes from.
        let offline = runProgram(Binaries.fbctl, ["--run-dir", freshRunDirectory(), "add", "--help"])
        XCTAssertEqual(offline.status, 0)
        XCTAssertTrue(words(offline.stdout).contains("Types: those lanad registered; 'fbctl types' lists them, with their options, while lanad runs. (lanad is not reachable at"), offline.stdout)
    }

    // MARK: output

    func testShowPrintsValuesAndJSONUsesOneFormForNeighbours() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "f", "bpf"))
        assertOK(lanad.fbctl("add", "c", "counter"))
        assertOK(lanad.fbctl("subscribe", "f", "c"))
        assertOK(lanad.fbctl("set", "f", "filter=arp"))
        let show = lanad.fbctl("show", "f")
        assertOK(show)
        #if arch(x86_64)
        let machine = "jit"
        #else
        let machine = "interpreter"
        #endif
        XCTAssertTrue(show.stdout.hasPrefix("""
            f (bpf), IDP 1
              ports:
                up: -
                up.nomatch: -
                down: -
                down.nomatch: -
              subscribers: c (2)
              options: direction=both program=filter instructions=4 jit=on machine=\(machine)
              status: { 0x28, 0, 0, 0x0000000c },

            """), show.stdout)
        XCTAssertFalse(show.stdout.contains("tcpdump filter expression"), "no help text in show: \(show.stdout)")
        XCTAssertFalse(show.stdout.contains("settings:"), show.stdout)
        XCTAssertTrue(lanad.fbctl("show", "c").stdout.contains("\n  options: none\n"))

        let list = lanad.fbctl("--json", "list")
        assertOK(list)
        let first = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.stdoutLines[0].utf8)) as? [String: Any])
        let subscribers = try XCTUnwrap(first["subscribers"] as? [[String: Any]], "\(first)")
        XCTAssertEqual(subscribers.count, 1)
        XCTAssertEqual(subscribers.first?["name"] as? String, "c")
        XCTAssertEqual(subscribers.first?["idp"] as? Int, 2)
    }

    func testWatchLinesCarryATimeAndJSONFields() throws {
        let lanad = try startLanad()
        let runDirectory = lanad.runDirectory
        let text = Locked<ToolResult?>(nil), json = Locked<ToolResult?>(nil)
        DispatchQueue.global().async {
            let r = runProgram(Binaries.fbctl, ["--run-dir", runDirectory, "watch", "--count", "1"], timeout: 30)
            text.withLock { $0 = r }
        }
        DispatchQueue.global().async {
            let r = runProgram(Binaries.fbctl, ["--run-dir", runDirectory, "--json", "watch", "--count", "1"], timeout: 30)
            json.withLock { $0 = r }
        }
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { Self.watcherCount(lanad) == 2 }, "watchers never connected")
        assertOK(lanad.fbctl("add", "c2", "counter"))
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { text.current != nil && json.current != nil })
        let plain = try XCTUnwrap(text.current), object = try XCTUnwrap(json.current)
        assertOK(plain)
        assertOK(object)
        let time = #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z"#
        XCTAssertNotNil(plain.stdout.range(of: "^\(time) added c2 1 counter\n$", options: .regularExpression), plain.stdout)
        XCTAssertNotNil(object.stdout.range(of: #"^\{"time":"\#(time)","event":"added","block":"c2","idp":1,"detail":"counter"\}\n$"#,
                                            options: .regularExpression), object.stdout)
    }

    // MARK: arguments

    func testArgumentOdditiesAreUsageErrors() throws {
        let lanad = try startLanad()
        for count in ["0", "-1"] {
            let result = lanad.fbctl(["watch", "--count", count], timeout: 10)
            XCTAssertFalse(result.signaled, "watch --count \(count) waited: \(result)")
            assertUsageError(result, mentioning: "--count takes a number of events of at least 1, not '\(count)'")
        }
        let subcommands = "(subcommands: add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe, list, show, types, watch, apply, bpf; see 'fbctl --help')"
        let unknown = lanad.fbctl("frobnicate")
        XCTAssertEqual(unknown.status, 2)
        XCTAssertEqual(unknown.stderr, "fbctl: unknown subcommand 'frobnicate' \(subcommands)\n")
        let typo = lanad.fbctl("ad", "x", "counter")
        XCTAssertEqual(typo.status, 2)
        XCTAssertEqual(typo.stderr, "fbctl: unknown subcommand 'ad': did you mean 'add'? \(subcommands)\n")
        let vlink = lanad.vlink(["eth", "hook", "lo"])
        XCTAssertEqual(vlink.status, 2)
        XCTAssertTrue(vlink.stderr.hasPrefix("vlink: unknown subcommand 'eth': did you mean 'ethernet'?"), "\(vlink)")
        XCTAssertEqual(lanad.fblocks, "", "nothing was done")
    }
}
