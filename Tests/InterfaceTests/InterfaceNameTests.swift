import Foundation
import Glibc
import LANATestSupport
import XCTest

/// An `eth` block is named after its interface, so its name follows the
/// kernel's rule for interface names (`dev_valid_name`), not the stricter
/// rule for other blocks: every interface the kernel lets exist can be
/// hooked, bound, shown, listed, watched and applied from a file.
final class InterfaceNameTests: InterfaceTestCase, @unchecked Sendable {
    /// `+` and `@`; and a leading `-`, `#`, both quotes and a non-ASCII
    /// letter, which the tools and the configuration parser must pass
    /// through intact.
    private let odd = "ux+odd@x"
    private let evil = "-x#'\u{E9}\""

    func testInterfacesWithOddNamesAreHookableEverywhere() throws {
        let oddLink = try net.addLink(inside: odd)
        let evilLink = try net.addLink(inside: evil)
        let d = try startDaemon()

        // A watcher, known to be subscribed once it shows a probe event.
        try d.fb("add", "probe", "counter")
        let watcher = try ChildProcess(name: "watch", arguments: [BuildProducts.path("fbctl"), "--run-dir", d.runDirectory, "watch"],
                                       logDirectory: work)
        defer { watcher.stop() }
        XCTAssertTrue(waitUntil(within: 10, interval: 0.05) {
            _ = try? d.fbctl("set", "probe", "reset=1")
            return watcher.stdout.contains("option probe 1 reset=1\n")
        }, "watcher: \(watcher.stdout) \(watcher.stderr)")
        try d.fb("add", "c", "counter")

        try d.hook(odd)
        let hookEvil = try d.vlink("ethernet", "hook", "--", evil)
        XCTAssertEqual(hookEvil.status, 0, "\(hookEvil)")
        XCTAssertEqual(hookEvil.stderr, "")
        let oddIndex = try net.ifindex(odd), evilIndex = try net.ifindex(evil)
        XCTAssertEqual(d.stateFile("vlink"), "\(evil) ethernet \(evilIndex) up\n\(odd) ethernet \(oddIndex) up\n")

        try d.fb("bind", "c", odd)
        try d.fb("add", "t", "dummy")
        try d.fb("bind", "t", "--", evil)
        XCTAssertEqual(d.stateFile("fblocks"), """
            probe counter 1 1 []
            c counter 2 2 [3]
            \(odd) eth 3 2 [2]
            \(evil) eth 4 2 [5]
            t dummy 5 2 [4]

            """)
        let show = try d.fbctl("show", odd)
        XCTAssertEqual(show.status, 0, "\(show)")
        XCTAssertTrue(show.stdout.hasPrefix("\(odd) (eth), IDP 3\n  ports:\n    up: c (2)\n"), show.stdout)
        XCTAssertTrue(show.stdout.contains("interface \(odd) ifindex \(oddIndex)"), show.stdout)
        let showEvil = try d.fbctl("show", "--", evil)
        XCTAssertTrue(showEvil.stdout.hasPrefix("\(evil) (eth), IDP 4\n  ports:\n    up: t (5)\n"), "\(showEvil)")
        let json = try d.fbctl("--json", "show", "--", evil)
        XCTAssertTrue(json.stdout.hasPrefix("{\"name\":\"-x#'\u{E9}\\\"\",\"type\":\"eth\",\"idp\":4,"), "\(json)")
        let list = try d.fbctl("list")
        XCTAssertTrue(list.stdout.contains("\(odd) eth 3 up=c down=-\n"), list.stdout)
        XCTAssertTrue(list.stdout.contains("t dummy 5 up=- down=\(evil)\n"), list.stdout)

        // Frames arrive through the hook.
        let sent = try sendFromPeer(oddLink.peer, count: 50, sizes: [60])
        XCTAssertTrue(waitUntil(within: 10) { d.counter("c")?.packets == UInt64(sent) }, "\(String(describing: d.counter("c")))")

        try d.fb("unbind", "c", odd)
        try d.fb("unbind", "t", "--", evil)
        XCTAssertEqual(try d.vlink("ethernet", "unhook", odd).status, 0)
        XCTAssertEqual(try d.vlink("ethernet", "unhook", "--", evil).status, 0)
        XCTAssertEqual(d.stateFile("vlink"), "")
        for line in ["hooked \(odd) 3", "hooked \(evil) 4", "bound c 2 down \(odd) 3", "bound \(evil) 4 up t 5",
                     "unbound \(odd) 3 up c 2", "unhooked \(evil) 4"] {
            XCTAssertTrue(waitUntil(within: 10) { watcher.stdout.contains(line + "\n") }, "watch shows \(line): \(watcher.stdout)")
        }

        // A configuration file, with the quoting a shell would need.
        let file = work + "/odd.conf"
        try """
            vlink ethernet hook ux+odd@x   # no quoting needed
            vlink ethernet hook "-x#'\u{E9}\\""
            fbctl bind c ux+odd@x
            fbctl bind t '-x#'"'"'\u{E9}"'
            """.write(toFile: file, atomically: true, encoding: .utf8)
        try d.fb("apply", file)
        XCTAssertEqual(d.stateFile("fblocks"), """
            probe counter 1 1 []
            c counter 2 2 [6]
            t dummy 5 2 [7]
            \(odd) eth 6 2 [2]
            \(evil) eth 7 2 [5]

            """)
        _ = evilLink

        // Other blocks keep the block-name rule.
        let add = try d.fbctl("add", "ux+odd@y", "dummy")
        XCTAssertEqual(add.status, 1, "\(add)")
        XCTAssertEqual(add.stderr, "fbctl: add ux+odd@y dummy: Invalid argument (EINVAL): invalid block name ux+odd@y: expected 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -\n")
    }

    /// The kernel is the oracle: every candidate name that `ip link add`
    /// creates can be hooked; every name it refuses is refused by `vlink`
    /// as an invalid interface name, not looked up.
    func testInterfaceNameRuleIsTheKernels() throws {
        let d = try startDaemon()
        let candidates = [
            "a", "...", ".hidden", "\u{E9}", "fifteen-bytes-x", "-lead", "c\u{7}x", "%x", "a=b,c",
            "x:1", "x/1", ".", "..", "a b", "t\tx", "v\u{B}x", "nb\u{A0}sp", "\u{E0}", "sixteen-bytes-xx",
        ]
        var accepted = 0, refused = 0
        for (i, name) in candidates.enumerated() {
            let created = try Shell.run(["ip", "-n", net.daemonNamespace, "link", "add", "name", name,
                                         "type", "veth", "peer", "name", "k\(net.tag)\(i)"])
            let hook = try d.vlink("ethernet", "hook", "--", name)
            if created.status == 0 {
                accepted += 1
                XCTAssertEqual(hook.status, 0, "the kernel took \(name.debugDescription), lanad must hook it: \(hook)")
                XCTAssertEqual(d.fblocks()[name]?.first, "eth", "\(name.debugDescription)")
                XCTAssertEqual(try d.vlink("ethernet", "unhook", "--", name).status, 0, name.debugDescription)
                try Shell.must("ip", "-n", net.daemonNamespace, "link", "del", "k\(net.tag)\(i)")
            } else {
                refused += 1
                XCTAssertEqual(hook.status, 1, "\(name.debugDescription): \(hook)")
                XCTAssertTrue(hook.stderr.contains("Invalid argument (EINVAL): invalid interface name "),
                              "\(name.debugDescription): \(hook)")
            }
        }
        XCTAssertEqual(accepted, 8, "the kernel's verdicts changed?")
        XCTAssertEqual(refused, 11)
        XCTAssertEqual(d.stateFile("fblocks"), "")
    }
}
