import Foundation
import Glibc
import LANATestSupport
import XCTest

/// `vlink ethernet hook/unhook` and interfaces that disappear.
final class HookTests: InterfaceTestCase, @unchecked Sendable {
    /// hook → unhook → hook again works (new IDP, traffic flows); a second
    /// hook is EEXIST, a missing interface ENODEV, unhook while bound
    /// EBUSY (and changes nothing), unhook of something not hooked ENOENT.
    func testHookUnhookRefusals() throws {
        let link = try net.addLink()
        let d = try startDaemon()
        let ifname = link.inside
        try d.hook(ifname)
        XCTAssertEqual(d.vlinks()[ifname]?.first, "ethernet")
        let firstIDP = d.fblocks()[ifname]?.dropFirst().first
        XCTAssertEqual(d.fblocks()[ifname]?.first, "eth")

        let twice = try d.vlink("ethernet", "hook", ifname)
        XCTAssertEqual(twice.status, 1, "\(twice)")
        XCTAssertTrue(twice.stderr.contains("EEXIST"), twice.stderr)

        let missing = try d.vlink("ethernet", "hook", "nosuch\(net.tag)")
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("ENODEV"), missing.stderr)
        XCTAssertNil(d.fblocks()["nosuch\(net.tag)"])

        // The peer's end exists, but not in lanad's namespace.
        let elsewhere = try d.vlink("ethernet", "hook", link.peer)
        XCTAssertEqual(elsewhere.status, 1, "\(elsewhere)")
        XCTAssertTrue(elsewhere.stderr.contains("ENODEV"), elsewhere.stderr)

        try d.fb("add", "c", "counter")
        try d.fb("bind", "c", ifname)
        let busy = try d.vlink("ethernet", "unhook", ifname)
        XCTAssertEqual(busy.status, 1, "\(busy)")
        XCTAssertTrue(busy.stderr.contains("EBUSY"), busy.stderr)
        XCTAssertNotNil(d.vlinks()[ifname], "refused unhook changed nothing")
        let list = try d.fbctl("list")
        XCTAssertTrue(list.stdout.contains("c counter"), list.stdout)
        XCTAssertTrue(list.stdout.contains("down=\(ifname)"), "c still bound: \(list.stdout)")

        // eth blocks are made and removed by vlink only.
        let rm = try d.fbctl("rm", ifname)
        XCTAssertEqual(rm.status, 1, "\(rm)")
        let add = try d.fbctl("add", "x\(net.tag)", "eth")
        XCTAssertEqual(add.status, 1, "\(add)")
        XCTAssertTrue(add.stderr.contains("EINVAL"), add.stderr)

        try d.fb("unbind", "c", ifname)
        let unhook = try d.vlink("ethernet", "unhook", ifname)
        XCTAssertEqual(unhook.status, 0, "\(unhook)")
        XCTAssertNil(d.vlinks()[ifname])
        XCTAssertNil(d.fblocks()[ifname])
        let again = try d.vlink("ethernet", "unhook", ifname)
        XCTAssertEqual(again.status, 1, "\(again)")
        XCTAssertTrue(again.stderr.contains("ENOENT"), again.stderr)

        // Hook again: a new block with a new IDP, and frames flow.
        try d.hook(ifname)
        let secondIDP = d.fblocks()[ifname]?.dropFirst().first
        XCTAssertNotNil(secondIDP)
        XCTAssertNotEqual(firstIDP, secondIDP, "IDPs are never reused")
        try d.fb("bind", "c", ifname)
        XCTAssertEqual(try sendFromPeer(link.peer, count: 500, sizes: [60, 1514]), 500)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == 500 }, "\(String(describing: d.counter("c")))")
        XCTAssertEqual(d.counter("c")?.bytes, 250 * 60 + 250 * 1514)
    }

    /// Deleting a hooked (and bound) veth: lanad logs it, unbinds the
    /// blocks bound to it, removes the eth block from `fblocks` and
    /// `vlink`, keeps answering, and hooks another interface.
    func testDeletedInterfaceIsUnhookedAndDaemonCarriesOn() throws {
        let link = try net.addLink()
        let d = try startDaemon()
        try d.hook(link.inside)
        try d.fb("add", "c", "counter")
        try d.fb("add", "top", "dummy")
        try d.fb("bind", "c", link.inside)
        try d.fb("bind", "top", "c")
        XCTAssertEqual(try sendFromPeer(link.peer, count: 100, sizes: [60]), 100)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == 100 })

        // The kernel's link notifications keep the vlink file current (the
        // fallback check, every 10 s, rewrites it only when it unhooks).
        _ = try Shell.must("ip", "-n", net.daemonNamespace, "link", "set", link.inside, "down")
        XCTAssertTrue(waitUntil(within: 5) { d.vlinks()[link.inside]?.last == "down" }, d.stateFile("vlink") ?? "-")
        _ = try Shell.must("ip", "-n", net.daemonNamespace, "link", "set", link.inside, "up")
        XCTAssertTrue(waitUntil(within: 5) { d.vlinks()[link.inside]?.last == "up" }, d.stateFile("vlink") ?? "-")
        XCTAssertTrue(waitUntil(within: 10) {
            _ = try? self.sendFromPeer(link.peer, count: 10, sizes: [60])
            return (d.counter("c")?.packets ?? 0) >= 110
        }, "frames flow again after the link came back up: \(String(describing: d.counter("c")))")

        // Delete it while frames are arriving.
        let sender = try spawnInPeer("send", [try Shell.which("python3"), work + "/send.py", link.peer, "200000", "60", "custom"])
        XCTAssertTrue(waitUntil(within: 10) { (d.counter("c")?.packets ?? 0) > 1000 }, "traffic flows before the deletion")
        try net.deleteLink(link.inside)
        sender.wait(seconds: 5)

        let gone = waitUntil(within: 10) { d.vlinks()[link.inside] == nil && d.fblocks()[link.inside] == nil }
        XCTAssertTrue(gone, "vlink: \(d.stateFile("vlink") ?? "-") fblocks: \(d.stateFile("fblocks") ?? "-")")
        XCTAssertTrue(d.child.isRunning, "lanad survived")
        XCTAssertTrue(waitUntil(within: 5) { d.log.contains("disappeared") }, "lanad logs the loss: \(d.log)")
        XCTAssertTrue(d.log.contains("disappeared (link notification)"), "noticed from the kernel's notification: \(d.log)")
        XCTAssertTrue(d.log.contains(link.inside))

        let list = try d.fbctl("list")
        XCTAssertEqual(list.status, 0, "\(list)")
        XCTAssertFalse(list.stdout.contains(link.inside), list.stdout)
        XCTAssertTrue(list.stdout.contains("c counter"), list.stdout)
        let show = try d.fbctl("show", "c")
        XCTAssertTrue(show.stdout.contains("    down: -\n"), "c was unbound from the vanished interface: \(show.stdout)")
        XCTAssertTrue(show.stdout.contains("    up: top"), "c's other binding stays: \(show.stdout)")
        let unhook = try d.vlink("ethernet", "unhook", link.inside)
        XCTAssertEqual(unhook.status, 1, "already unhooked: \(unhook)")
        let rehook = try d.vlink("ethernet", "hook", link.inside)
        XCTAssertEqual(rehook.status, 1, "\(rehook)")
        XCTAssertTrue(rehook.stderr.contains("ENODEV"), rehook.stderr)

        // A new interface is hooked and used by the same blocks.
        let before = d.counter("c")?.packets ?? 0
        let other = try net.addLink()
        try d.hook(other.inside)
        try d.fb("bind", "c", other.inside)
        XCTAssertEqual(try sendFromPeer(other.peer, count: 1000, sizes: [128]), 1000)
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == before + 1000 },
                      "\(String(describing: d.counter("c"))) want \(before + 1000)")
        XCTAssertEqual(d.vlinks()[other.inside]?.last, "up")
        XCTAssertEqual(d.drops().filter { $0.value != 0 }, [:], "drops: \(d.stateFile("drops") ?? "-")")
    }

    /// A refused `apply` changes nothing, IDPs included: its hook lines are
    /// part of the all-or-nothing batch rather than done ahead and undone,
    /// so the next block gets the IDP it would have got without it. An
    /// accepted file runs in line order.
    func testRefusedApplyWithAHookConsumesNoIDP() throws {
        let link = try net.addLink()
        let d = try startDaemon()
        try d.fb("add", "a", "dummy")
        // A watcher, known to be subscribed once it shows a probe event.
        let watcher = try ChildProcess(name: "watch", arguments: [BuildProducts.path("fbctl"), "--run-dir", d.runDirectory, "watch"],
                                       logDirectory: work)
        defer { watcher.stop() }
        try d.fb("add", "probe", "counter")
        XCTAssertTrue(waitUntil(within: 10, interval: 0.05) {
            _ = try? d.fbctl("set", "probe", "reset=1")
            return watcher.stdout.contains("option probe 2 reset=1\n")
        }, "watcher: \(watcher.stdout) \(watcher.stderr)")
        try d.fb("rm", "probe")
        let file = work + "/hook.conf"
        try "fbctl add b dummy\nvlink ethernet hook \(link.inside)\nfbctl bind b nosuch\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let refused = try d.fbctl("apply", file)
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertEqual(refused.stderr,
                       "fbctl: apply \(file): No such file or directory (ENOENT): line 3: fbctl bind b nosuch: no block named nosuch\n")
        XCTAssertEqual(d.stateFile("vlink"), "")
        try d.fb("add", "next", "dummy")
        XCTAssertEqual(d.stateFile("fblocks"), "a dummy 1 1 []\nnext dummy 3 1 []\n")
        // The refused file sent no events: the watcher's next one is that add.
        XCTAssertTrue(waitUntil(within: 10) { watcher.stdout.contains("added next 3 dummy\n") }, watcher.stdout)
        // Lines are `<time> <event>`: compare the events.
        let afterProbe = watcher.stdout.components(separatedBy: "removed probe 2 counter\n").last ?? ""
        // Each line starts with the time fbctl received the event.
        XCTAssertEqual(afterProbe.split(separator: "\n").map { $0.split(separator: " ", maxSplits: 1).last ?? "" },
                       ["added next 3 dummy"], watcher.stdout)

        try "fbctl add b dummy\nvlink ethernet hook \(link.inside)\nfbctl bind b \(link.inside)\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        try d.fb("apply", file)
        XCTAssertEqual(d.stateFile("fblocks"),
                       "a dummy 1 1 []\nnext dummy 3 1 []\nb dummy 4 2 [5]\n\(link.inside) eth 5 2 [4]\n")
        XCTAssertEqual(d.stateFile("vlink"), "\(link.inside) ethernet \(try net.ifindex(link.inside)) up\n")
        // The hook works: frames reach b's side of the graph.
        try d.fb("add", "c", "counter")
        try d.fb("unbind", "b", link.inside)
        try d.fb("bind", "c", link.inside)
        let sent = try sendFromPeer(link.peer, count: 20, sizes: [60])
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == UInt64(sent) }, "\(String(describing: d.counter("c")))")
    }
}
