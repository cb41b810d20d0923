import Glibc
import LANAPosix
import SystemPackage
import XCTest

final class CPUListTests: XCTestCase {
    func testParsesKernelAndCommandLineNotation() throws {
        XCTAssertEqual(try CPUList(parsing: "0,2-3").cpus, [0, 2, 3])
        XCTAssertEqual(try CPUList(parsing: "0").cpus, [0])
        XCTAssertEqual(try CPUList(parsing: "0-1\n").cpus, [0, 1], "sysfs files end in a newline")
        XCTAssertEqual(try CPUList(parsing: " 4, 1 ").cpus, [1, 4])
        XCTAssertEqual(try CPUList(parsing: "0-7:2").cpus, [0, 2, 4, 6])
        XCTAssertEqual(try CPUList(parsing: "3,1,1,0-2").cpus, [0, 1, 2, 3])
        XCTAssertEqual(try CPUList(parsing: "5-5").cpus, [5])
        XCTAssertEqual(try CPUList(parsing: "65535").cpus, [65535])
    }

    func testRejectsMalformedLists() {
        let cases: [(String, CPUList.ParseError)] = [
            ("", .empty),
            ("\n", .empty),
            ("a", .invalidEntry("a")),
            ("1,,2", .invalidEntry("")),
            (",", .invalidEntry("")),
            ("1-", .invalidEntry("1-")),
            ("-1", .invalidEntry("-1")),
            ("1-2-3", .invalidEntry("1-2-3")),
            ("3-1", .invalidRange("3-1")),
            ("0-4:0", .invalidRange("0-4:0")),
            ("2:2", .invalidEntry("2:2")),
            ("+1", .invalidEntry("+1")),
            ("1 2", .invalidEntry("1 2")),
            ("0-100000", .cpuTooLarge(100_000)),
            ("99999999999999999999", .invalidEntry("99999999999999999999")),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try CPUList(parsing: text), "\(text.debugDescription)") { error in
                XCTAssertEqual(error as? CPUList.ParseError, expected, "\(text.debugDescription)")
            }
        }
    }

    func testPrintsCompactNotation() throws {
        XCTAssertEqual(CPUList([0, 2, 3]).description, "0,2-3")
        XCTAssertEqual(CPUList([7, 0, 1, 2, 5]).description, "0-2,5,7")
        XCTAssertEqual(CPUList([]).description, "")
        for text in ["0", "0-3", "1,3,5-9,12"] {
            XCTAssertEqual(try CPUList(parsing: text).description, text)
        }
    }
}

final class CPUAffinityTests: XCTestCase {
    func testOnlineCPUsMatchSysconf() {
        let online = CPUAffinity.onlineCPUs()
        XCTAssertEqual(online.cpus.count, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        XCTAssertTrue(online.cpus.contains(0))
    }

    func testPinningMovesTheThread() throws {
        let allowed = try CPUAffinity.allowedCPUs()
        XCTAssertFalse(allowed.cpus.isEmpty)
        for cpu in allowed.cpus {
            let (runningOn, mask) = try onThread { () throws -> (Int?, [Int]) in
                try CPUAffinity.pinCurrentThread(to: cpu)
                return (CPUAffinity.currentCPU(), try CPUAffinity.allowedCPUs().cpus)
            }
            XCTAssertEqual(runningOn, cpu)
            XCTAssertEqual(mask, [cpu])
        }
        // The test's own thread was not affected.
        XCTAssertEqual(try CPUAffinity.allowedCPUs(), allowed)
    }

    func testPinningToAMissingCPUFails() {
        XCTAssertThrowsError(try onThread { try CPUAffinity.pinCurrentThread(to: 4000) }) { error in
            XCTAssertEqual(error as? Errno, .invalidArgument)
        }
        XCTAssertThrowsError(try CPUAffinity.pinCurrentThread(to: -1))
    }
}
