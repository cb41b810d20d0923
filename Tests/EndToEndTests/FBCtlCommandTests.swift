import Foundation
import Glibc
import XCTest

/// Every fbctl command against a real lanad: exit codes, the exact refusal
/// lines of docs/design.md §3's table, and the state files before and after.
final class FBCtlCommandTests: EndToEndTestCase {
    private let zeroCounter = "0 0\n"

    // MARK: add

    func testAddGivesSequentialIDPsAndWritesStateFiles() throws {
        let lanad = try startLanad()
        XCTAssertEqual(lanad.fblocks, "")
        assertOK(lanad.fbctl("add", "d1", "dummy"))
        assertOK(lanad.fbctl("add", "c1", "counter"))
        assertOK(lanad.fbctl("add", "t1", "tee"))
        assertOK(lanad.fbctl("add", "a.b_c:d-e", "dummy"), "all name characters")
        assertOK(lanad.fbctl("add", "x23456789012345", "dummy"), "15 bytes is the limit")
        XCTAssertEqual(lanad.fblocks, """
            d1 dummy 1 1 []
            c1 counter 2 1 []
            t1 tee 3 1 []
            a.b_c:d-e dummy 4 1 []
            x23456789012345 dummy 5 1 []

            """)
        // Only the counter has a status file.
        XCTAssertEqual(lanad.file("fblock/c1"), zeroCounter)
        XCTAssertEqual(try lanad.entries("fblock"), ["c1"])

        // --json on a command without data.
        let json = lanad.fbctl("--json", "add", "j1", "dummy")
        assertOK(json)
        XCTAssertEqual(json.stdout, "{\"ok\":true}\n")
        XCTAssertTrue(lanad.fblocks!.hasSuffix("j1 dummy 6 1 []\n"))
    }

    func testAddRefusals() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "dummy"))
        let before = lanad.fblocks
        assertRefused(lanad.fbctl("add", "a", "counter"),
                      "fbctl: add a counter: File exists (EEXIST): a block named a already exists")
        assertRefused(lanad.fbctl("add", "a b", "dummy"),
                      "fbctl: add a b dummy: Invalid argument (EINVAL): invalid block name 'a b': expected 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -")
        assertRefused(lanad.fbctl("add", "x234567890123456", "dummy"),
                      "fbctl: add x234567890123456 dummy: Invalid argument (EINVAL): invalid block name x234567890123456: expected 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -")
        assertRefused(lanad.fbctl("add", "--", "-dash", "dummy"),
                      "fbctl: add -dash dummy: Invalid argument (EINVAL): invalid block name -dash: expected 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -")
        let nonASCII = lanad.fbctl("add", "blöck", "dummy")
        XCTAssertEqual(nonASCII.status, 1, "\(nonASCII)")
        XCTAssertTrue(nonASCII.stderr.hasPrefix("fbctl: add blöck dummy: Invalid argument (EINVAL): invalid block name"), "\(nonASCII)")
        let unknownType = lanad.fbctl("add", "b", "nosuch")
        XCTAssertEqual(unknownType.status, 1)
        XCTAssertTrue(unknownType.stderr.hasPrefix(
            "fbctl: add b nosuch: No such file or directory (ENOENT): unknown block type nosuch (known types: "), "\(unknownType)")
        XCTAssertTrue(unknownType.stderr.contains("counter") && unknownType.stderr.contains("dummy")
                      && unknownType.stderr.contains("tee"), "the message lists the known types: \(unknownType)")
        assertRefused(lanad.fbctl("add", "e", "eth"),
                      "fbctl: add e eth: Invalid argument (EINVAL): eth blocks stand for devices: create them with 'vlink ethernet hook <name>'")
        XCTAssertEqual(lanad.fblocks, before, "a refused add changes nothing")
        // Refused adds do not consume IDPs.
        assertOK(lanad.fbctl("add", "b", "dummy"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nb dummy 2 1 []\n")
    }

    // MARK: rm

    func testRemoveAndItsRefusals() throws {
        let lanad = try startLanad()
        for (name, type) in [("a", "dummy"), ("b", "counter"), ("c", "dummy"), ("s", "counter")] {
            assertOK(lanad.fbctl("add", name, type))
        }
        assertOK(lanad.fbctl("bind", "a", "b"))
        assertOK(lanad.fbctl("subscribe", "c", "s"))
        let before = lanad.fblocks
        XCTAssertEqual(before, "a dummy 1 2 [2]\nb counter 2 2 [1]\nc dummy 3 1 [4]\ns counter 4 1 []\n")

        assertRefused(lanad.fbctl("rm", "nosuch"), "fbctl: rm nosuch: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("rm", "a"), "fbctl: rm a: Device or resource busy (EBUSY): a is still bound to b (down): unbind it first")
        assertRefused(lanad.fbctl("rm", "b"), "fbctl: rm b: Device or resource busy (EBUSY): b is still bound to a (up): unbind it first")
        assertRefused(lanad.fbctl("rm", "c"), "fbctl: rm c: Device or resource busy (EBUSY): s is subscribed to c: unsubscribe it first")
        assertRefused(lanad.fbctl("rm", "s"), "fbctl: rm s: Device or resource busy (EBUSY): s is subscribed to c: unsubscribe it first")
        XCTAssertEqual(lanad.fblocks, before)
        XCTAssertEqual(lanad.file("fblock/s"), zeroCounter)

        assertOK(lanad.fbctl("unsubscribe", "c", "s"))
        assertOK(lanad.fbctl("rm", "s"))
        XCTAssertNil(lanad.file("fblock/s"), "the status file goes with the block")
        assertOK(lanad.fbctl("unbind", "a", "b"))
        assertOK(lanad.fbctl("rm", "b"))
        XCTAssertNil(lanad.file("fblock/b"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nc dummy 3 1 []\n")
        // IDPs are never reused, and a removed name can be taken again.
        assertOK(lanad.fbctl("add", "b", "counter"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nc dummy 3 1 []\nb counter 5 1 []\n")
        XCTAssertEqual(lanad.file("fblock/b"), zeroCounter)
        assertOK(lanad.fbctl("rm", "a"))
        assertOK(lanad.fbctl("rm", "b"))
        assertOK(lanad.fbctl("rm", "c"))
        XCTAssertEqual(lanad.fblocks, "")
        XCTAssertEqual(try lanad.entries("fblock"), [])
    }

    // MARK: set

    func testSetAndItsRefusals() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "c", "counter"))
        assertOK(lanad.fbctl("add", "d", "dummy"))
        let before = lanad.fblocks
        assertOK(lanad.fbctl("set", "c", "reset=1"))
        XCTAssertEqual(lanad.file("fblock/c"), zeroCounter)
        assertRefused(lanad.fbctl("set", "nosuch", "reset=1"),
                      "fbctl: set nosuch reset=1: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("set", "c", "foo=1"),
                      "fbctl: set c foo=1: Invalid argument (EINVAL): unknown option foo for c: counter blocks take reset")
        assertRefused(lanad.fbctl("set", "c", "reset=2"),
                      "fbctl: set c reset=2: Invalid argument (EINVAL): c: reset=2: reset takes the value 1, not '2'")
        assertRefused(lanad.fbctl("set", "c", "reset"),
                      "fbctl: set c reset: Invalid argument (EINVAL): option reset of c: expected key=value")
        assertRefused(lanad.fbctl("set", "c", "=1"),
                      "fbctl: set c =1: Invalid argument (EINVAL): option =1 of c: expected key=value")
        assertRefused(lanad.fbctl("set", "d", "x=1"),
                      "fbctl: set d x=1: Invalid argument (EINVAL): unknown option x for d: dummy blocks take no options")
        XCTAssertEqual(lanad.fblocks, before, "set does not change the graph")
        // fbctl show lists a block's values; fbctl types the keys it takes.
        let show = lanad.fbctl("show", "c")
        assertOK(show)
        XCTAssertTrue(show.stdout.contains("\n  options: none\n"), "\(show)")
        XCTAssertTrue(lanad.fbctl("types", "counter").stdout.contains("reset=1"))
        XCTAssertTrue(lanad.fbctl("show", "d").stdout.contains("options: none"))
    }

    // MARK: bind / unbind

    func testBindAndItsRefusals() throws {
        let lanad = try startLanad()
        for name in ["fb2", "fb3", "fb7", "fb8"] { assertOK(lanad.fbctl("add", name, "dummy")) }
        assertOK(lanad.fbctl("add", "t", "tee"))
        assertOK(lanad.fbctl("bind", "fb3", "fb7"))
        XCTAssertEqual(lanad.fblocks, "fb2 dummy 1 1 []\nfb3 dummy 2 2 [3]\nfb7 dummy 3 2 [2]\nfb8 dummy 4 1 []\nt tee 5 1 []\n")
        let before = lanad.fblocks

        // The example of the brief: egress port taken.
        assertRefused(lanad.fbctl("bind", "fb3", "fb2"),
                      "fbctl: bind fb3 fb2: Device or resource busy (EBUSY): port down of fb3 is already bound to fb7")
        assertRefused(lanad.fbctl("bind", "fb8", "fb7"),
                      "fbctl: bind fb8 fb7: Device or resource busy (EBUSY): port up of fb7 is already bound to fb3")
        assertRefused(lanad.fbctl("bind", "fb7", "fb3"),
                      "fbctl: bind fb7 fb3: Too many levels of symbolic links (ELOOP): binding fb7 on top of fb3 would create a loop: fb3 -> fb7 -> fb3")
        assertRefused(lanad.fbctl("bind", "fb2", "fb2"),
                      "fbctl: bind fb2 fb2: Invalid argument (EINVAL): cannot bind fb2 on top of itself")
        assertRefused(lanad.fbctl("bind", "fb2", "nosuch"),
                      "fbctl: bind fb2 nosuch: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("bind", "nosuch", "fb2"),
                      "fbctl: bind nosuch fb2: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("bind", "fb3", "fb7"),
                      "fbctl: bind fb3 fb7: File exists (EEXIST): fb3 is already bound on top of fb7 (port down)")
        XCTAssertEqual(lanad.fblocks, before, "refused binds change nothing")

        // A longer loop is found too: fb2 -> fb3 -> fb7, then fb7 on top of fb2.
        assertOK(lanad.fbctl("bind", "fb2", "fb3"))
        assertRefused(lanad.fbctl("bind", "fb7", "fb2"),
                      "fbctl: bind fb7 fb2: Too many levels of symbolic links (ELOOP): binding fb7 on top of fb2 would create a loop: fb2 -> fb3 -> fb7 -> fb2")

        // A tee takes two blocks per side; a third is refused.
        assertOK(lanad.fbctl("add", "u1", "dummy"))
        assertOK(lanad.fbctl("add", "u2", "dummy"))
        assertOK(lanad.fbctl("add", "u3", "dummy"))
        assertOK(lanad.fbctl("bind", "u1", "t"))
        assertOK(lanad.fbctl("bind", "u2", "t"))
        assertRefused(lanad.fbctl("bind", "u3", "t"),
                      "fbctl: bind u3 t: Device or resource busy (EBUSY): upper ports of t are already bound: up to u1, up.clone to u2")
        XCTAssertTrue(lanad.fblocks!.contains("t tee 5 3 [7 6]\n"), lanad.fblocks ?? "-")
        let list = lanad.fbctl("list")
        assertOK(list)
        XCTAssertTrue(list.stdoutLines.contains("t tee 5 up=u1 up.clone=u2 down=-"), "\(list)")
    }

    func testUnbindAndItsRefusals() throws {
        let lanad = try startLanad()
        for name in ["a", "b", "c"] { assertOK(lanad.fbctl("add", name, "dummy")) }
        assertOK(lanad.fbctl("bind", "a", "b"))
        assertOK(lanad.fbctl("bind", "b", "c"))
        let before = lanad.fblocks
        XCTAssertEqual(before, "a dummy 1 2 [2]\nb dummy 2 3 [3 1]\nc dummy 3 2 [2]\n")
        assertRefused(lanad.fbctl("unbind", "b", "a"),
                      "fbctl: unbind b a: No such file or directory (ENOENT): b is not bound on top of a")
        assertRefused(lanad.fbctl("unbind", "a", "c"),
                      "fbctl: unbind a c: No such file or directory (ENOENT): a is not bound on top of c")
        assertRefused(lanad.fbctl("unbind", "a", "nosuch"),
                      "fbctl: unbind a nosuch: No such file or directory (ENOENT): no block named nosuch")
        XCTAssertEqual(lanad.fblocks, before, "a refused unbind leaves both sides as they were")
        assertOK(lanad.fbctl("unbind", "a", "b"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nb dummy 2 2 [3]\nc dummy 3 2 [2]\n")
        assertRefused(lanad.fbctl("unbind", "a", "b"),
                      "fbctl: unbind a b: No such file or directory (ENOENT): a is not bound on top of b")
        assertOK(lanad.fbctl("unbind", "b", "c"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nb dummy 2 1 []\nc dummy 3 1 []\n")
        // Bind again after unbind: ports are free.
        assertOK(lanad.fbctl("bind", "c", "a"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 2 [3]\nb dummy 2 1 []\nc dummy 3 2 [1]\n")
    }

    // MARK: replace / replace-drop

    func testReplaceTakesOverNameIDPPortsAndSubscriptions() throws {
        let lanad = try startLanad()
        for (name, type) in [("up", "dummy"), ("mid", "counter"), ("low", "dummy"), ("obs", "dummy"), ("new", "counter")] {
            assertOK(lanad.fbctl("add", name, type))
        }
        assertOK(lanad.fbctl("bind", "up", "mid"))
        assertOK(lanad.fbctl("bind", "mid", "low"))
        assertOK(lanad.fbctl("subscribe", "mid", "obs"))
        XCTAssertEqual(lanad.fblocks, """
            up dummy 1 2 [2]
            mid counter 2 3 [4 3 1]
            low dummy 3 2 [2]
            obs dummy 4 1 []
            new counter 5 1 []

            """)
        XCTAssertEqual(lanad.file("fblock/mid"), zeroCounter)
        XCTAssertEqual(lanad.file("fblock/new"), zeroCounter)

        assertOK(lanad.fbctl("replace", "mid", "new"))
        XCTAssertEqual(lanad.fblocks, """
            up dummy 1 2 [2]
            mid counter 2 3 [4 3 1]
            low dummy 3 2 [2]
            obs dummy 4 1 []

            """, "new takes mid's name, IDP, ports and subscribers; IDP 5 is gone")
        XCTAssertEqual(lanad.file("fblock/mid"), zeroCounter, "the status file follows the name")
        XCTAssertNil(lanad.file("fblock/new"), "the replacement's old status file disappears")
        let list = lanad.fbctl("list")
        assertOK(list)
        XCTAssertEqual(list.stdout, """
            up dummy 1 up=- down=mid
            mid counter 2 up=up down=low
            low dummy 3 up=mid down=-
            obs dummy 4 up=- down=-

            """)

        // Cross-type replace: a dummy takes over the counter; ports stay.
        assertOK(lanad.fbctl("add", "d", "dummy"))
        assertOK(lanad.fbctl("replace-drop", "mid", "d"))
        XCTAssertEqual(lanad.fblocks, """
            up dummy 1 2 [2]
            mid dummy 2 3 [4 3 1]
            low dummy 3 2 [2]
            obs dummy 4 1 []

            """)
        XCTAssertNil(lanad.file("fblock/mid"), "a dummy has no status file")
        XCTAssertNil(lanad.file("fblock/d"))
        // And back to a counter with the underscore alias.
        assertOK(lanad.fbctl("add", "c2", "counter"))
        assertOK(lanad.fbctl("replace_drop", "mid", "c2"))
        XCTAssertTrue(lanad.fblocks!.contains("mid counter 2 3 [4 3 1]\n"), lanad.fblocks ?? "-")
        XCTAssertEqual(lanad.file("fblock/mid"), zeroCounter)
        XCTAssertNil(lanad.file("fblock/c2"))
        // The replaced IDPs (5, 6, 7) are not reused.
        assertOK(lanad.fbctl("add", "z", "dummy"))
        XCTAssertTrue(lanad.fblocks!.hasSuffix("z dummy 8 1 []\n"), lanad.fblocks ?? "-")
    }

    func testReplaceRefusals() throws {
        let lanad = try startLanad()
        for (name, type) in [("a", "counter"), ("b", "dummy"), ("n", "counter"), ("m", "dummy"), ("s", "dummy"),
                             ("t", "tee"), ("t1", "dummy"), ("t2", "dummy"), ("d", "dummy")] {
            assertOK(lanad.fbctl("add", name, type))
        }
        assertOK(lanad.fbctl("bind", "n", "m"))
        assertOK(lanad.fbctl("subscribe", "s", "b"))
        assertOK(lanad.fbctl("bind", "t1", "t"))
        assertOK(lanad.fbctl("bind", "t2", "t"))
        let before = lanad.fblocks
        assertRefused(lanad.fbctl("replace", "a", "n"),
                      "fbctl: replace a n: Device or resource busy (EBUSY): n is bound: a replacement must be unbound")
        assertRefused(lanad.fbctl("replace-drop", "a", "n"),
                      "fbctl: replace-drop a n: Device or resource busy (EBUSY): n is bound: a replacement must be unbound")
        assertRefused(lanad.fbctl("replace", "a", "b"),
                      "fbctl: replace a b: Device or resource busy (EBUSY): b has subscriptions: a replacement must have none")
        assertRefused(lanad.fbctl("replace", "a", "s"),
                      "fbctl: replace a s: Device or resource busy (EBUSY): s has subscriptions: a replacement must have none")
        assertRefused(lanad.fbctl("replace", "a", "a"),
                      "fbctl: replace a a: Invalid argument (EINVAL): cannot replace a with itself")
        assertRefused(lanad.fbctl("replace", "nosuch", "a"),
                      "fbctl: replace nosuch a: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("replace", "a", "nosuch"),
                      "fbctl: replace a nosuch: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("replace", "t", "d"),
                      "fbctl: replace t d: Invalid argument (EINVAL): t has port up.clone bound to t2; dummy blocks have no such port")
        XCTAssertEqual(lanad.fblocks, before, "refused replaces change nothing")
        XCTAssertEqual(lanad.file("fblock/a"), zeroCounter)
        XCTAssertEqual(lanad.file("fblock/n"), zeroCounter)
    }

    // MARK: subscribe / unsubscribe

    func testSubscribeUnsubscribeAndTheirRefusals() throws {
        let lanad = try startLanad()
        for name in ["a", "b", "c"] { assertOK(lanad.fbctl("add", name, "dummy")) }
        assertOK(lanad.fbctl("subscribe", "a", "b"))
        assertOK(lanad.fbctl("subscribe", "a", "c"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 [3 2]\nb dummy 2 1 []\nc dummy 3 1 []\n", "newest subscriber first")
        let before = lanad.fblocks
        assertRefused(lanad.fbctl("subscribe", "a", "b"),
                      "fbctl: subscribe a b: File exists (EEXIST): b is already subscribed to a")
        assertRefused(lanad.fbctl("subscribe", "a", "a"),
                      "fbctl: subscribe a a: Invalid argument (EINVAL): a cannot subscribe to itself")
        assertRefused(lanad.fbctl("subscribe", "a", "nosuch"),
                      "fbctl: subscribe a nosuch: No such file or directory (ENOENT): no block named nosuch")
        assertRefused(lanad.fbctl("unsubscribe", "b", "a"),
                      "fbctl: unsubscribe b a: No such file or directory (ENOENT): a is not subscribed to b")
        XCTAssertEqual(lanad.fblocks, before)
        assertOK(lanad.fbctl("unsubscribe", "a", "b"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 [3]\nb dummy 2 1 []\nc dummy 3 1 []\n")
        assertRefused(lanad.fbctl("unsubscribe", "a", "b"),
                      "fbctl: unsubscribe a b: No such file or directory (ENOENT): b is not subscribed to a")
        // A bind implies a mutual subscription that only unbind undoes.
        assertOK(lanad.fbctl("bind", "b", "c"))
        assertRefused(lanad.fbctl("unsubscribe", "b", "c"),
                      "fbctl: unsubscribe b c: No such file or directory (ENOENT): c receives b's events only because they are bound: unbind them instead")
        // An explicit subscription on top of a bind survives the unbind.
        assertOK(lanad.fbctl("subscribe", "b", "c"))
        assertOK(lanad.fbctl("unbind", "b", "c"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 [3]\nb dummy 2 1 [3]\nc dummy 3 1 []\n")
        assertOK(lanad.fbctl("unsubscribe", "b", "c"))
        assertOK(lanad.fbctl("unsubscribe", "a", "c"))
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nb dummy 2 1 []\nc dummy 3 1 []\n")
    }

    // MARK: list / show / --json

    func testListShowAndJSON() throws {
        let lanad = try startLanad()
        let empty = lanad.fbctl("list")
        assertOK(empty)
        XCTAssertEqual(empty.stdout, "")
        for (name, type) in [("top", "counter"), ("t", "tee"), ("l1", "dummy"), ("l2", "dummy")] {
            assertOK(lanad.fbctl("add", name, type))
        }
        assertOK(lanad.fbctl("bind", "top", "t"))
        assertOK(lanad.fbctl("bind", "t", "l1"))
        assertOK(lanad.fbctl("bind", "t", "l2"))
        let list = lanad.fbctl("list")
        assertOK(list)
        XCTAssertEqual(list.stdout, """
            top counter 1 up=- down=t
            t tee 2 up=top down=l1 down.clone=l2
            l1 dummy 3 up=t down=-
            l2 dummy 4 up=t down=-

            """)

        let jsonList = lanad.fbctl("--json", "list")
        assertOK(jsonList)
        XCTAssertEqual(jsonList.stdoutLines.count, 4)
        var names: [String] = []
        for line in jsonList.stdoutLines {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            names.append(try XCTUnwrap(object["name"] as? String))
            XCTAssertNotNil(object["idp"] as? Int, line)
            XCTAssertNotNil(object["type"] as? String, line)
        }
        XCTAssertEqual(names, ["top", "t", "l1", "l2"])
        let teeObject = try JSONSerialization.jsonObject(with: Data(jsonList.stdoutLines[1].utf8)) as? [String: Any]
        let ports = try XCTUnwrap(teeObject?["ports"] as? [[String: Any]])
        XCTAssertEqual(ports.compactMap { $0["port"] as? String }, ["up", "down", "down.clone"])
        XCTAssertEqual(ports.compactMap { $0["name"] as? String }, ["top", "l1", "l2"])
        XCTAssertEqual(ports.compactMap { $0["idp"] as? Int }, [1, 3, 4])
        XCTAssertEqual(teeObject?["refs"] as? Int, 4)

        let show = lanad.fbctl("show", "t")
        assertOK(show)
        XCTAssertTrue(show.stdout.hasPrefix("t (tee), IDP 2\n"), "\(show)")
        XCTAssertTrue(show.stdout.contains("""
              ports:
                up: top (1)
                up.clone: -
                down: l1 (3)
                down.clone: l2 (4)

            """), "every port of the type, bound or not: \(show)")
        let counter = lanad.fbctl("show", "top")
        assertOK(counter)
        XCTAssertTrue(counter.stdout.contains("status: 0 0"), "live counters in show: \(counter)")

        let jsonShow = lanad.fbctl("show", "--json", "top")
        assertOK(jsonShow)
        XCTAssertEqual(jsonShow.stdoutLines.count, 1)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(jsonShow.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["name"] as? String, "top")
        XCTAssertEqual(object["type"] as? String, "counter")
        XCTAssertEqual(object["idp"] as? Int, 1)
        XCTAssertNotNil(object["options"] as? [String: Any])

        assertRefused(lanad.fbctl("show", "nosuch"), "fbctl: show nosuch: No such file or directory (ENOENT): no block named nosuch")
        // A refusal with --json: machine-readable on stdout, the line on stderr.
        let refusedJSON = lanad.fbctl("--json", "show", "nosuch")
        XCTAssertEqual(refusedJSON.status, 1)
        XCTAssertEqual(refusedJSON.stderr, "fbctl: show nosuch: No such file or directory (ENOENT): no block named nosuch\n")
        let refusal = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(refusedJSON.stdout.utf8)) as? [String: Any],
                                    "\(refusedJSON)")
        XCTAssertEqual(refusal["ok"] as? Bool, false)
        XCTAssertEqual(refusal["errno"] as? String, "ENOENT")
        XCTAssertEqual(refusal["code"] as? Int, Int(ENOENT))
        XCTAssertEqual(refusal["message"] as? String, "no block named nosuch")
    }

    // MARK: usage errors and an absent daemon

    func testUsageErrorsExitTwoAndChangeNothing() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "dummy"))
        assertOK(lanad.fbctl("add", "b", "dummy"))
        let before = lanad.fblocks
        assertUsageError(lanad.fbctl("frob"), mentioning: "frob")
        assertUsageError(lanad.fbctl("add"))
        assertUsageError(lanad.fbctl("add", "x"), mentioning: "<type>")
        assertUsageError(lanad.fbctl("add", "x", "dummy", "extra"), mentioning: "extra")
        assertUsageError(lanad.fbctl("rm"))
        assertUsageError(lanad.fbctl("set", "a"))
        assertUsageError(lanad.fbctl("bind", "a"))
        assertUsageError(lanad.fbctl("unbind", "a"))
        assertUsageError(lanad.fbctl("replace", "a"))
        assertUsageError(lanad.fbctl("replace-drop", "a"))
        assertUsageError(lanad.fbctl("subscribe", "a"))
        assertUsageError(lanad.fbctl("unsubscribe", "a"))
        assertUsageError(lanad.fbctl("show"))
        assertUsageError(lanad.fbctl("apply"))
        assertUsageError(lanad.fbctl("list", "extra"))
        assertUsageError(lanad.fbctl("watch", "--count", "x"))
        assertUsageError(lanad.fbctl("add", "--bogus", "x", "dummy"))
        // Command words match exactly: no prefixes (docs/design.md §11).
        assertUsageError(lanad.fbctl("replace_dro", "a", "b"), mentioning: "replace_dro")
        assertUsageError(lanad.fbctl("replace-dro", "a", "b"))
        assertUsageError(lanad.fbctl("rep", "a", "b"))
        assertUsageError(lanad.fbctl("ad", "c", "dummy"))
        assertUsageError(lanad.fbctl("unsub", "a", "b"))
        assertUsageError(lanad.fbctl("ADD", "c", "dummy"))
        // vlink too.
        assertUsageError(lanad.vlink(["ethernet", "frob"]))
        assertUsageError(lanad.vlink(["eth", "hook", "lo"]))
        assertUsageError(lanad.vlink(["ethernet", "hook"]))
        assertUsageError(lanad.vlink(["ethernet", "add", "v0", "lo", "1024"]), mentioning: "1024")
        assertUsageError(lanad.vlink(["ethernet", "add", "v0", "lo", "x"]))
        XCTAssertEqual(lanad.fblocks, before)
    }

    func testDaemonNotReachableExitsThree() throws {
        try Binaries.require()
        let dir = freshRunDirectory()
        let result = runProgram(Binaries.fbctl, ["--run-dir", dir, "list"])
        XCTAssertEqual(result.status, 3, "\(result)")
        XCTAssertTrue(result.stderr.hasPrefix("fbctl: is lanad running? socket \(dir)/control"), "\(result)")
        let add = runProgram(Binaries.fbctl, ["--run-dir", dir, "add", "a", "dummy"])
        XCTAssertEqual(add.status, 3, "\(add)")
        let vlink = runProgram(Binaries.vlink, ["--run-dir", dir, "ethernet", "hook", "lo"])
        XCTAssertEqual(vlink.status, 3, "\(vlink)")
        XCTAssertTrue(vlink.stderr.hasPrefix("vlink: is lanad running? socket \(dir)/control"), "\(vlink)")
        // A directory with a dead socket (lanad killed) is "not running" too.
        let lanad = try startLanad()
        let path = lanad.runDirectory
        kill(lanad.pid, SIGKILL)
        _ = lanad.stop()
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertTrue(fileExists(path + "/control"), "a killed lanad cannot clean up")
        let stale = runProgram(Binaries.fbctl, ["--run-dir", path, "list"])
        XCTAssertEqual(stale.status, 3, "\(stale)")
        XCTAssertTrue(stale.stderr.hasPrefix("fbctl: is lanad running? socket \(path)/control"), "\(stale)")
    }

    func testRunDirectoryFromEnvironment() throws {
        let lanad = try startLanad()
        var env = ProcessInfo.processInfo.environment
        env["LANA_RUN_DIR"] = lanad.runDirectory
        assertOK(runProgram(Binaries.fbctl, ["add", "viaenv", "dummy"], environment: env))
        XCTAssertEqual(lanad.fblocks, "viaenv dummy 1 1 []\n")
        // --run-dir wins over the environment.
        env["LANA_RUN_DIR"] = "/nonexistent-lana"
        assertOK(runProgram(Binaries.fbctl, ["--run-dir", lanad.runDirectory, "rm", "viaenv"], environment: env))
        XCTAssertEqual(lanad.fblocks, "")
        let wrong = runProgram(Binaries.fbctl, ["list"], environment: env)
        XCTAssertEqual(wrong.status, 3, "\(wrong)")
    }

    // MARK: vlink refusals that need no interface traffic

    func testVlinkRefusals() throws {
        let lanad = try startLanad()
        assertRefused(lanad.vlink(["ethernet", "hook", "nosuch0"]),
                      "vlink: ethernet hook nosuch0: No such device (ENODEV): no interface named nosuch0")
        let unhook = lanad.vlink(["ethernet", "unhook", "nosuch0"])
        XCTAssertEqual(unhook.status, 1, "\(unhook)")
        XCTAssertTrue(unhook.stderr.hasPrefix("vlink: ethernet unhook nosuch0: "), "\(unhook)")
        // A dummy block cannot be unhooked, an interface block cannot be removed with fbctl.
        assertOK(lanad.fbctl("add", "d", "dummy"))
        let notInterface = lanad.vlink(["ethernet", "unhook", "d"])
        XCTAssertEqual(notInterface.status, 1, "\(notInterface)")
        XCTAssertEqual(lanad.fblocks, "d dummy 1 1 []\n")
        XCTAssertEqual(lanad.file("vlink"), "")
    }
}
