import Foundation
import Glibc
import XCTest

/// The thesis's Appendix C.3 walkthrough, with `dummy` blocks standing in
/// for `eth0` and the two `bpf` filters.
final class WalkthroughTests: EndToEndTestCase {
    func testThesisAppendixC3Sequence() throws {
        let lanad = try startLanad()
        // vlink ethernet hook eth0 → a dummy named eth0.
        for (name, type) in [("eth0", "dummy"), ("fb2", "tee"), ("fb3", "dummy"), ("fb4", "counter"),
                             ("fb5", "dummy"), ("fb6", "counter")] {
            assertOK(lanad.fbctl("add", name, type), "add \(name)")
        }
        XCTAssertEqual(lanad.fblocks, """
            eth0 dummy 1 1 []
            fb2 tee 2 1 []
            fb3 dummy 3 1 []
            fb4 counter 4 1 []
            fb5 dummy 5 1 []
            fb6 counter 6 1 []

            """)
        for (upper, lower) in [("fb2", "eth0"), ("fb3", "fb2"), ("fb5", "fb2"), ("fb4", "fb3"), ("fb6", "fb5")] {
            assertOK(lanad.fbctl("bind", upper, lower), "bind \(upper) \(lower)")
        }
        XCTAssertEqual(lanad.fblocks, """
            eth0 dummy 1 2 [2]
            fb2 tee 2 4 [5 3 1]
            fb3 dummy 3 3 [4 2]
            fb4 counter 4 2 [3]
            fb5 dummy 5 3 [6 2]
            fb6 counter 6 2 [5]

            """)
        XCTAssertEqual(lanad.file("fblock/fb4"), "0 0\n")
        XCTAssertEqual(lanad.file("fblock/fb6"), "0 0\n")
        let list = lanad.fbctl("list")
        assertOK(list)
        XCTAssertEqual(list.stdout, """
            eth0 dummy 1 up=fb2 down=-
            fb2 tee 2 up=fb3 up.clone=fb5 down=eth0
            fb3 dummy 3 up=fb4 down=fb2
            fb4 counter 4 up=- down=fb3
            fb5 dummy 5 up=fb6 down=fb2
            fb6 counter 6 up=- down=fb5

            """)
        // ppe: a header, then one line per engine, seven tab-separated numbers.
        let ppe = try XCTUnwrap(lanad.file("ppe"))
        XCTAssertTrue(ppe.hasPrefix("#cpu\tpackets\tbytes\tcalls\tenqueued\tdrops\tbacklog\tended\n"), ppe)
        let ppeLines = ppe.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        XCTAssertEqual(ppeLines.count, 2, ppe)
        XCTAssertTrue(ppe.hasSuffix("\n"))
        for line in ppeLines {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(fields.count, 8, line)
            XCTAssertTrue(fields[0].hasPrefix("CPU") && fields[0].hasSuffix(":") && Int(fields[0].dropFirst(3).dropLast()) != nil, line)
            XCTAssertEqual(fields.dropFirst().compactMap { UInt64($0) }.count, 7, line)
        }

        // The teardown, in the walkthrough's order.
        for (upper, lower) in [("fb6", "fb5"), ("fb4", "fb3"), ("fb5", "fb2"), ("fb3", "fb2"), ("fb2", "eth0")] {
            assertOK(lanad.fbctl("unbind", upper, lower), "unbind \(upper) \(lower)")
        }
        XCTAssertEqual(lanad.fblocks, """
            eth0 dummy 1 1 []
            fb2 tee 2 1 []
            fb3 dummy 3 1 []
            fb4 counter 4 1 []
            fb5 dummy 5 1 []
            fb6 counter 6 1 []

            """)
        // vlink ethernet unhook eth0 → rm eth0.
        for name in ["eth0", "fb2", "fb3", "fb4", "fb5", "fb6"] {
            assertOK(lanad.fbctl("rm", name), "rm \(name)")
        }
        XCTAssertEqual(lanad.fblocks, "")
        XCTAssertEqual(try lanad.entries("fblock"), [])
        assertOK(lanad.fbctl("list"))
        XCTAssertEqual(lanad.fbctl("list").stdout, "")
    }

    /// The walkthrough's graph built in one step with `fbctl apply`, then
    /// torn down the same way.
    func testThesisGraphThroughApply() throws {
        let lanad = try startLanad()
        let build = """
            # Appendix C.3 with dummies for eth0 and the bpf blocks
            fbctl add eth0 dummy
            fbctl add fb2 tee
            fbctl add fb3 dummy
            fbctl add fb4 counter
            fbctl add fb5 dummy
            fbctl add fb6 counter
            fbctl bind fb2 eth0
            fbctl bind fb3 fb2
            fbctl bind fb5 fb2
            fbctl bind fb4 fb3
            fbctl bind fb6 fb5

            """
        assertOK(lanad.fbctl(["apply", "-"], stdin: build))
        XCTAssertEqual(lanad.fblocks, """
            eth0 dummy 1 2 [2]
            fb2 tee 2 4 [5 3 1]
            fb3 dummy 3 3 [4 2]
            fb4 counter 4 2 [3]
            fb5 dummy 5 3 [6 2]
            fb6 counter 6 2 [5]

            """)
        let teardown = """
            fbctl unbind fb6 fb5
            fbctl unbind fb4 fb3
            fbctl unbind fb5 fb2
            fbctl unbind fb3 fb2
            fbctl unbind fb2 eth0
            fbctl rm eth0
            fbctl rm fb2
            fbctl rm fb3
            fbctl rm fb4
            fbctl rm fb5
            fbctl rm fb6
            """
        assertOK(lanad.fbctl(["apply", "-"], stdin: teardown))
        XCTAssertEqual(lanad.fblocks, "")
    }
}
