import Foundation
import Glibc
import LANATestSupport
import XCTest

/// docs/design.md §2: the control socket is 0660 and peers are checked with
/// SO_PEERCRED (uid 0 or group `lana`); others get EPERM and nothing changes.
final class SecurityTests: EndToEndTestCase {
    private let setpriv = "/usr/bin/setpriv"
    private let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]

    private func requireSetpriv() throws {
        guard getuid() == 0 else { throw UnmetRequirement("needs root to run a client as another user") }
        guard FileManager.default.isExecutableFile(atPath: setpriv) else { throw UnmetRequirement("needs \(setpriv)") }
        // The group `lana` would let members in; the test needs an outsider.
        if getgrnam("lana") != nil { throw UnmetRequirement("a group lana exists; uid 65534 is not in it, but skip to be safe") }
    }

    private func asNobody(_ lanad: LanadProcess, _ tool: String, _ arguments: [String]) -> ToolResult {
        runProgram(setpriv, nobody + [tool, "--run-dir", lanad.runDirectory] + arguments)
    }

    func testUnprivilegedClientCannotConnectToTheDefaultSocket() throws {
        try requireSetpriv()
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "keep", "dummy"))
        XCTAssertEqual(fileMode(lanad.controlPath)?.permissions, 0o660)
        let result = asNobody(lanad, Binaries.fbctl, ["add", "x", "dummy"])
        // Refused (exit 1) in the form of every refusal, naming the socket and
        // who may use it.
        assertRefused(result, "fbctl: add x dummy: Permission denied (EACCES): connecting to \(lanad.controlPath): lanad serves only root, its own user and members of group lana")
        let watch = asNobody(lanad, Binaries.fbctl, ["watch"])
        assertRefused(watch, "fbctl: watch: Permission denied (EACCES): connecting to \(lanad.controlPath): lanad serves only root, its own user and members of group lana")
        XCTAssertEqual(lanad.fblocks, "keep dummy 1 1 []\n")
    }

    func testDaemonRefusesUnprivilegedPeerWithEPERMEvenOnAWorldWritableSocket() throws {
        try requireSetpriv()
        let lanad = try startLanad()
        for (name, type) in [("a", "counter"), ("b", "dummy")] { assertOK(lanad.fbctl("add", name, type)) }
        assertOK(lanad.fbctl("bind", "a", "b"))
        let before = lanad.fblocks
        // Simulate a misconfigured mode: now anyone can connect, and only
        // the daemon's SO_PEERCRED check stands in the way.
        XCTAssertEqual(chmod(lanad.controlPath, 0o666), 0)

        let attempts: [[String]] = [
            ["add", "x", "dummy"], ["rm", "b"], ["set", "a", "reset=1"], ["bind", "x", "b"], ["unbind", "a", "b"],
            ["replace", "a", "b"], ["replace-drop", "a", "b"], ["subscribe", "a", "b"], ["unsubscribe", "a", "b"],
            ["list"], ["show", "a"],
        ]
        for arguments in attempts {
            let result = asNobody(lanad, Binaries.fbctl, arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result)")
            XCTAssertTrue(result.stderr.hasPrefix("fbctl: \(arguments.joined(separator: " ")): Operation not permitted (EPERM): "),
                          "\(arguments): \(result)")
            XCTAssertTrue(result.stderr.contains("65534"), "the reason names the uid: \(result)")
            XCTAssertEqual(result.stdout, "", "nothing is disclosed: \(result)")
        }
        let applied = runProgram(setpriv, nobody + [Binaries.fbctl, "--run-dir", lanad.runDirectory, "apply", "-"],
                                 stdin: "fbctl add y dummy\n")
        XCTAssertEqual(applied.status, 1, "\(applied)")
        XCTAssertTrue(applied.stderr.contains("(EPERM)"), "\(applied)")
        let hook = asNobody(lanad, Binaries.vlink, ["ethernet", "hook", "lo"])
        XCTAssertEqual(hook.status, 1, "\(hook)")
        XCTAssertTrue(hook.stderr.hasPrefix("vlink: ethernet hook lo: Operation not permitted (EPERM): "), "\(hook)")
        let watch = asNobody(lanad, Binaries.fbctl, ["watch", "--count", "1"])
        XCTAssertEqual(watch.status, 1, "\(watch)")
        XCTAssertTrue(watch.stderr.contains("Operation not permitted"), "\(watch)")

        XCTAssertEqual(lanad.fblocks, before, "nothing changed")
        XCTAssertEqual(lanad.file("vlink"), "")
        // Root still gets through on the same socket.
        assertOK(lanad.fbctl("add", "root1", "dummy"))
        XCTAssertEqual(lanad.fblocks, before! + "root1 dummy 3 1 []\n")
    }

    /// The refusal of a watch reads like every other refusal (docs/design.md §3:
    /// "<errno text> (<ERRNO>): <message>").
    func testWatchRefusalHasTheStandardForm() throws {
        try requireSetpriv()
        let lanad = try startLanad()
        XCTAssertEqual(chmod(lanad.controlPath, 0o666), 0)
        let watch = asNobody(lanad, Binaries.fbctl, ["watch", "--count", "1"])
        XCTAssertEqual(watch.status, 1, "\(watch)")
        XCTAssertTrue(watch.stderr.hasPrefix("fbctl: watch: Operation not permitted (EPERM): permission denied: uid 65534"),
                      "\(watch)")
    }

    /// A raw client as uid 65534 gets an NLMSG_ERROR with -EPERM for every
    /// request, also for garbage (nothing is parsed for it).
    func testRawUnprivilegedPeerGetsEPERMReplies() throws {
        try requireSetpriv()
        let lanad = try startLanad()
        XCTAssertEqual(chmod(lanad.controlPath, 0o666), 0)
        // Drop privileges in a child process running this very test binary is
        // not possible with XCTest; use a tiny shell client instead: bash
        // cannot speak SOCK_SEQPACKET, so use python if it is there.
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw UnmetRequirement("needs python3 for a raw unprivileged client") }
        let request = Wire.message(command: NL.Cmd.add.rawValue,
                                   attributes: Wire.string(.name, "raw") + Wire.string(.type, "dummy"), sequence: 77)
        let garbage: [UInt8] = [1, 2, 3]
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.settimeout(5)
            s.connect(sys.argv[1])
            for h in sys.argv[2:]:
                s.send(bytes.fromhex(h))
                print(s.recv(70000).hex())
            """
        let hex = { (b: [UInt8]) in b.map { String(format: "%02x", $0) }.joined() }
        let result = runProgram(setpriv, nobody + [python, "-c", script, lanad.controlPath, hex(request), hex(garbage)])
        XCTAssertEqual(result.status, 0, "\(result)")
        let replies = result.stdoutLines.map { line in
            RawReply(bytes: stride(from: 0, to: line.count, by: 2).map {
                let start = line.index(line.startIndex, offsetBy: $0)
                return UInt8(line[start..<line.index(start, offsetBy: 2)], radix: 16)!
            })
        }
        XCTAssertEqual(replies.count, 2, "\(result)")
        for reply in replies {
            XCTAssertEqual(reply.type, NL.error, "\(reply)")
            XCTAssertEqual(reply.error, -EPERM, "\(reply)")
        }
        XCTAssertEqual(replies.first?.sequence, 77)
        XCTAssertEqual(lanad.fblocks, "")
    }

    // MARK: lanad's own privileges

    /// lanad as an unprivileged user: refused at start, naming what is
    /// missing and how to get it, before it creates anything; not at the
    /// first hook.
    func testLanadWithoutNetworkCapabilitiesRefusesToStartAndNamesThem() throws {
        try requireSetpriv()
        let message = "missing capability CAP_NET_RAW, which lanad needs for its packet sockets: run lanad as root or grant it the capability, e.g. setcap cap_net_raw=ep \(Binaries.lanad), or AmbientCapabilities=CAP_NET_RAW in its systemd unit\n"
        // Nothing at all, and CAP_NET_ADMIN without CAP_NET_RAW.
        let cases: [[String]] = [[], ["--inh-caps=+net_admin", "--ambient-caps=+net_admin"]]
        for extra in cases {
            let dir = freshRunDirectory()
            let result = runProgram(setpriv, nobody + extra + [Binaries.lanad, "--run-dir", dir, "--engines", "1"], timeout: 10)
            if result.signaled { try? FileManager.default.removeItem(atPath: dir) }
            XCTAssertEqual(result.status, 1, "\(extra): \(result)")
            XCTAssertFalse(result.signaled, "lanad ran without its capabilities: \(result)")
            XCTAssertTrue(result.stderr.contains(message), "\(extra): \(result)")
            XCTAssertFalse(fileExists(dir), "\(extra): the run directory was created")
        }
    }

    /// lanad as a non-root user that holds CAP_NET_RAW alone (an ambient
    /// capability, as systemd's AmbientCapabilities= grants it) hooks
    /// interfaces and admits clients of its own uid; other users are still
    /// refused by the peer check.
    func testLanadAsNonRootWithCapabilitiesAdmitsItsOwnUid() throws {
        try requireSetpriv()
        let unshare = "/usr/bin/unshare", ip = "/usr/sbin/ip"
        for tool in [unshare, ip] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw UnmetRequirement("needs \(tool)")
        }
        let caps = ["--inh-caps=+net_raw", "--ambient-caps=+net_raw"]
        let lanad = try startLanad(engines: 1, wrapper: [unshare, "-n", "/bin/sh", "-c", "\(ip) link set lo up && exec \"$0\" \"$@\"",
                                                         setpriv] + nobody + caps)
        XCTAssertEqual(fileMode(lanad.controlPath)?.permissions, 0o660)
        let add = asNobody(lanad, Binaries.fbctl, ["add", "mine", "counter"])
        assertOK(add, "a client of lanad's own uid")
        assertOK(asNobody(lanad, Binaries.vlink, ["ethernet", "hook", "lo"]), "hook as a capable non-root lanad")
        assertOK(asNobody(lanad, Binaries.fbctl, ["bind", "mine", "lo"]))
        XCTAssertEqual(lanad.fblocks, "mine counter 1 2 [2]\nlo eth 2 2 [1]\n")
        XCTAssertEqual(lanad.file("vlink"), "lo ethernet 1 up\n")

        // Another unprivileged uid, on a socket anyone may connect to.
        XCTAssertEqual(chmod(lanad.controlPath, 0o666), 0)
        let other = runProgram(setpriv, ["--reuid=65533", "--regid=65533", "--clear-groups", Binaries.fbctl,
                                         "--run-dir", lanad.runDirectory, "add", "x", "dummy"])
        XCTAssertEqual(other.status, 1, "\(other)")
        XCTAssertTrue(other.stderr.hasPrefix("fbctl: add x dummy: Operation not permitted (EPERM): permission denied: uid 65533 is not root, not lanad's own uid (65534) and not a member of group lana"), "\(other)")
        assertOK(asNobody(lanad, Binaries.fbctl, ["unbind", "mine", "lo"]))
        assertOK(asNobody(lanad, Binaries.vlink, ["ethernet", "unhook", "lo"]))
    }
}
