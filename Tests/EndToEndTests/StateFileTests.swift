import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// The refresh rule of docs/design.md §2: the control reply is the
/// synchronous truth, and a state file shows an operation within 200 ms,
/// written by the state writer, never by the control thread.
final class StateFileTests: EndToEndTestCase {
    /// An operation shows in `fblocks` within 200 ms of its reply, without
    /// anyone asking: the writer is woken by the operation, not only by its
    /// 200 ms clock. Each of several operations is timed from its reply to
    /// the first read of `fblocks` that shows it; the slowest but one must
    /// be within the rule (one may have lost the CPU to another build).
    func testAnOperationShowsInFblocksWithin200Milliseconds() throws {
        let lanad = try startLanad()
        let client = try ControlClient(socketPath: lanad.controlPath, timeout: .seconds(10))
        let path = lanad.runDirectory + "/fblocks"
        var delays: [Duration] = []
        let clock = ContinuousClock()
        for i in 0..<6 {
            let name = "op\(i)"
            XCTAssertNil(try client.send(.add(name: name, type: "dummy")).error)
            let replied = clock.now
            let shown = waitUntil(within: 5, interval: 0.0005) {
                (readTextFile(path) ?? "").hasSuffix("\(name) dummy \(i + 1) 1 []\n")
            }
            XCTAssertTrue(shown, "\(name) never showed in fblocks: \(readTextFile(path) ?? "-")")
            delays.append(replied.duration(to: clock.now))
        }
        let sorted = delays.sorted()
        XCTAssertLessThanOrEqual(sorted[sorted.count - 2], .milliseconds(200), "reply to fblocks: \(delays)")
        // The files then say which registry version they show.
        XCTAssertNil(waitForStateFiles(runDirectory: lanad.runDirectory))
        let listed = try XCTUnwrap(try client.send(.list).registryVersion)
        XCTAssertEqual(lanad.file("version"), "\(listed)\n")
        lanad.stopAndCheckClean()
    }

    /// A burst of operations coalesces: fblocks is rewritten fewer times
    /// than there were operations, and ends showing all of them.
    func testABurstOfOperationsCoalescesIntoFewerRewrites() throws {
        let lanad = try startLanad()
        let client = try ControlClient(socketPath: lanad.controlPath, timeout: .seconds(10))
        let path = lanad.runDirectory + "/fblocks"
        var inodes = Set<UInt64>()
        func inode() -> UInt64? {
            var st = stat()
            return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
        }
        let operations = 300
        for i in 0..<operations {
            XCTAssertNil(try client.send(.add(name: "b\(i)", type: "dummy")).error)
            if let ino = inode() { inodes.insert(ino) }
        }
        let text = try XCTUnwrap(lanad.fblocks)
        XCTAssertEqual(text.split(separator: "\n").count, operations)
        XCTAssertLessThan(inodes.count, operations / 2, "one rewrite per operation or close to it")
        lanad.stopAndCheckClean()
    }

    /// add + rm in a graph of 20,000 blocks: the replies and the files are
    /// right (how long it takes is the control benchmark's business:
    /// Scripts/bench-control.sh --graph 20000).
    func testAddAndRemoveInALargeGraph() throws {
        let lanad = try startLanad()
        let client = try ControlClient(socketPath: lanad.controlPath, timeout: .seconds(60))
        let blocks = 20_000
        for start in stride(from: 0, to: blocks, by: 500) {
            let reply = try client.send(.apply((start..<start + 500).map { .graph(.add(name: "g\($0)", type: "dummy")) }))
            XCTAssertNil(reply.error, reply.message ?? "")
        }
        XCTAssertNil(try client.send(.graph(.add(name: "x", type: "counter"))).error)
        let withX = try XCTUnwrap(lanad.fblocks)
        XCTAssertEqual(withX.split(separator: "\n").count, blocks + 1)
        XCTAssertTrue(withX.hasSuffix("x counter \(blocks + 1) 1 []\n"), String(withX.suffix(200)))
        XCTAssertEqual(lanad.file("fblock/x"), "0 0\n")
        XCTAssertNil(try client.send(.graph(.remove(name: "x"))).error)
        let withoutX = try XCTUnwrap(lanad.fblocks)
        XCTAssertEqual(withoutX.split(separator: "\n").count, blocks)
        XCTAssertTrue(withoutX.hasSuffix("g\(blocks - 1) dummy \(blocks) 1 []\n"), String(withoutX.suffix(200)))
        XCTAssertNil(lanad.file("fblock/x"))
        lanad.stopAndCheckClean()
    }
}
