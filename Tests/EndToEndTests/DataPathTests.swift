import Foundation
import Glibc
import LANATestSupport
import XCTest

/// Real packets: lanad in a private network namespace hooks its loopback
/// interface (`vlink ethernet hook lo`), a counter sits on top, and UDP
/// datagrams to a closed port make exactly two frames each on lo (the
/// datagram and the ICMP port unreachable). No other traffic exists there.
final class DataPathTests: EndToEndTestCase {
    private let unshare = "/usr/bin/unshare", nsenter = "/usr/bin/nsenter", bash = "/bin/bash", ip = "/usr/sbin/ip"

    private func startInPrivateNetworkNamespace() throws -> LanadProcess {
        guard getuid() == 0 else { throw UnmetRequirement("needs root for a network namespace") }
        for tool in [unshare, nsenter, bash, ip] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw UnmetRequirement("needs \(tool)")
        }
        let probe = runProgram(unshare, ["-n", "true"])
        guard probe.status == 0 else { throw UnmetRequirement("cannot create a network namespace here: \(probe.stderr)") }
        return try startLanad(engines: 2, wrapper: [unshare, "-n", "/bin/sh", "-c", "\(ip) link set lo up && exec \"$0\" \"$@\""])
    }

    /// Sends `count` one-byte UDP datagrams to 127.0.0.1:9 inside lanad's
    /// network namespace, each from a new socket (so flows spread over engines).
    private func sendUDP(_ lanad: LanadProcess, count: Int) {
        let result = runProgram(nsenter, ["--net=/proc/\(lanad.pid)/ns/net", bash, "-c",
                                          "for i in $(seq 1 \(count)); do printf x > /dev/udp/127.0.0.1/9; done"])
        XCTAssertEqual(result.status, 0, "\(result)")
    }

    private func counter(_ lanad: LanadProcess, _ name: String) -> (packets: Int, bytes: Int)? {
        guard let text = lanad.file("fblock/" + name), text.hasSuffix("\n") else { return nil }
        let fields = text.dropLast().split(separator: " ")
        guard fields.count == 2, let p = Int(fields[0]), let b = Int(fields[1]) else { return nil }
        return (p, b)
    }

    /// Waits until the counter reaches `packets`, then lets it settle (the
    /// stats thread writes every 200 ms) and returns what it shows.
    private func settledCounter(_ lanad: LanadProcess, _ name: String, atLeast packets: Int) -> (packets: Int, bytes: Int)? {
        _ = waitUntil(within: 10, interval: 0.01) { (self.counter(lanad, name)?.packets ?? 0) >= packets }
        usleep(600_000)
        return counter(lanad, name)
    }

    func testLoopbackFramesAreCountedOnceAndCountersFollowReplace() throws {
        let lanad = try startInPrivateNetworkNamespace()
        assertOK(lanad.vlink(["ethernet", "hook", "lo"]))
        XCTAssertEqual(lanad.fblocks, "lo eth 1 1 []\n")
        XCTAssertEqual(lanad.file("vlink"), "lo ethernet 1 up\n")
        assertRefused(lanad.vlink(["ethernet", "hook", "lo"]),
                      "vlink: ethernet hook lo: File exists (EEXIST): lo is already hooked")
        assertOK(lanad.fbctl("add", "c", "counter"))
        assertOK(lanad.fbctl("bind", "c", "lo"))
        XCTAssertEqual(lanad.fblocks, "lo eth 1 2 [2]\nc counter 2 2 [1]\n")
        XCTAssertEqual(lanad.file("fblock/c"), "0 0\n")

        // 20 datagrams: 20 UDP frames of 43 bytes and 20 ICMP frames of 71.
        sendUDP(lanad, count: 20)
        let first = try XCTUnwrap(settledCounter(lanad, "c", atLeast: 40))
        XCTAssertEqual(first.packets, 40, "each frame on lo must enter the graph once (the host's own transmissions are not received)")
        XCTAssertEqual(first.bytes, 20 * 43 + 20 * 71)
        let ppe = try XCTUnwrap(lanad.file("ppe"))
        let engines = ppe.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "\t") }
        let received = engines.map { Int($0[1]) ?? -1 }.reduce(0, +)
        XCTAssertEqual(received, first.packets, "ppe counts what the counter saw: \(ppe)")
        let ended = engines.map { Int($0[7]) ?? -1 }.reduce(0, +)
        XCTAssertEqual(ended, first.packets, "nothing is bound on top of the counter: every frame ends there: \(ppe)")
        XCTAssertEqual(engines.map { Int($0[5]) ?? -1 }.reduce(0, +), 0, "a working graph shows no drops: \(ppe)")
        XCTAssertTrue(lanad.file("drops")?.contains("unbound-port 0\n") == true, lanad.file("drops") ?? "-")
        XCTAssertFalse(lanad.file("drops")?.contains("ended") == true, "ended is not a drop: \(lanad.file("drops") ?? "-")")

        // Same-type replace: counts continue under the old name.
        assertOK(lanad.fbctl("add", "c2", "counter"))
        XCTAssertEqual(lanad.file("fblock/c2"), "0 0\n")
        assertOK(lanad.fbctl("replace", "c", "c2"))
        XCTAssertNil(lanad.file("fblock/c2"), "the replacement's old status file disappears")
        XCTAssertEqual(counter(lanad, "c")?.packets, first.packets, "state moved with replace")
        XCTAssertEqual(lanad.fblocks, "lo eth 1 2 [2]\nc counter 2 2 [1]\n")
        sendUDP(lanad, count: 20)
        let second = try XCTUnwrap(settledCounter(lanad, "c", atLeast: 2 * first.packets))
        XCTAssertEqual(second.packets, 2 * first.packets, "counting continues from the old value")
        XCTAssertEqual(second.bytes, 2 * first.bytes)

        // replace-drop: the new counter starts from zero.
        assertOK(lanad.fbctl("add", "c3", "counter"))
        assertOK(lanad.fbctl("replace-drop", "c", "c3"))
        XCTAssertNil(lanad.file("fblock/c3"))
        XCTAssertTrue(waitUntil(within: 2, interval: 0.002) { lanad.file("fblock/c") == "0 0\n" }, lanad.file("fblock/c") ?? "-")
        sendUDP(lanad, count: 20)
        let third = try XCTUnwrap(settledCounter(lanad, "c", atLeast: first.packets))
        XCTAssertEqual(third.packets, first.packets)
        // set reset=1 zeroes it.
        assertOK(lanad.fbctl("set", "c", "reset=1"))
        XCTAssertTrue(waitUntil(within: 2, interval: 0.002) { lanad.file("fblock/c") == "0 0\n" }, lanad.file("fblock/c") ?? "-")

        // Interface blocks are managed by vlink only.
        let busy = lanad.vlink(["ethernet", "unhook", "lo"])
        XCTAssertEqual(busy.status, 1, "\(busy)")
        XCTAssertTrue(busy.stderr.hasPrefix("vlink: ethernet unhook lo: Device or resource busy (EBUSY): "), "\(busy)")
        assertRefused(lanad.fbctl("rm", "lo"),
                      "fbctl: rm lo: Invalid argument (EINVAL): lo stands for a device: remove it with 'vlink ethernet unhook lo'")
        assertOK(lanad.fbctl("add", "d", "dummy"))
        assertRefused(lanad.fbctl("replace", "lo", "d"),
                      "fbctl: replace lo d: Invalid argument (EINVAL): lo stands for a device: device blocks cannot be replaced")
        assertRefused(lanad.fbctl("replace-drop", "lo", "d"),
                      "fbctl: replace-drop lo d: Invalid argument (EINVAL): lo stands for a device: device blocks cannot be replaced")
        // Nor can one take another block's place (checked before "is bound").
        assertRefused(lanad.fbctl("replace", "c", "lo"),
                      "fbctl: replace c lo: Invalid argument (EINVAL): lo stands for a device: device blocks cannot be replaced")
        assertRefused(lanad.fbctl("replace_drop", "d", "lo"),
                      "fbctl: replace-drop d lo: Invalid argument (EINVAL): lo stands for a device: device blocks cannot be replaced")
        XCTAssertEqual(lanad.fblocks, "lo eth 1 2 [2]\nc counter 2 2 [1]\nd dummy 5 1 []\n")
        XCTAssertEqual(lanad.file("vlink"), "lo ethernet 1 up\n", "refused replaces leave the hook alone")

        assertOK(lanad.fbctl("unbind", "c", "lo"))
        assertOK(lanad.vlink(["ethernet", "unhook", "lo"]))
        XCTAssertEqual(lanad.fblocks, "c counter 2 1 []\nd dummy 5 1 []\n")
        XCTAssertEqual(lanad.file("vlink"), "")
        lanad.stopAndCheckClean()
    }

    /// A state file that cannot be replaced keeps its previous version, the
    /// failure is logged once (not at every refresh), and once the cause
    /// is gone the file catches up and the recovery is logged too. The
    /// cause here: the name where the writer prepares each next version
    /// (`.writing`) is taken by a directory.
    func testAStateFileThatCannotBeReplacedIsLoggedAndCatchesUp() throws {
        let lanad = try startInPrivateNetworkNamespace()
        assertOK(lanad.vlink(["ethernet", "hook", "lo"]))
        assertOK(lanad.fbctl("add", "c", "counter"))
        assertOK(lanad.fbctl("bind", "c", "lo"))
        XCTAssertEqual(lanad.file("fblock/c"), "0 0\n")

        let blocker = lanad.runDirectory + "/.writing"
        try FileManager.default.createDirectory(atPath: blocker, withIntermediateDirectories: false)
        sendUDP(lanad, count: 10)
        let warning = "cannot write state file \(lanad.runDirectory)/fblock/c"
        XCTAssertTrue(waitUntil(within: 5, interval: 0.002) { lanad.log.contains(warning) }, lanad.log)
        usleep(600_000)  // three more refreshes that fail
        XCTAssertEqual(readTextFile(lanad.runDirectory + "/fblock/c"), "0 0\n", "the previous version stays")
        XCTAssertEqual(lanad.log.components(separatedBy: warning).count - 1, 1, "logged once: \(lanad.log)")

        try FileManager.default.removeItem(atPath: blocker)
        XCTAssertTrue(waitUntil(within: 5, interval: 0.002) { lanad.file("fblock/c") != "0 0\n" }, lanad.file("fblock/c") ?? "-")
        XCTAssertGreaterThanOrEqual(counter(lanad, "c")?.packets ?? 0, 20, "10 datagrams: UDP and ICMP frames")
        XCTAssertTrue(lanad.log.contains("state file \(lanad.runDirectory)/fblock/c is written again"), lanad.log)
    }
}
