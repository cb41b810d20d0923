import Foundation
import Glibc
import LANATestSupport
import XCTest

/// `fbctl watch` (docs/design.md §7) against changes made by other fbctl processes.
final class WatchTests: EndToEndTestCase {
    /// A background `fbctl watch` whose output goes to a file.
    final class Watcher {
        let process = Process()
        let outputPath: String
        let errorPath: String

        init(_ lanad: LanadProcess, arguments: [String]) throws {
            let tag = "\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
            outputPath = "/tmp/lanae2e-watch-\(tag).out"
            errorPath = "/tmp/lanae2e-watch-\(tag).err"
            _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
            _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
            let out = FileHandle(forWritingAtPath: outputPath)!
            let err = FileHandle(forWritingAtPath: errorPath)!
            process.executableURL = URL(fileURLWithPath: Binaries.fbctl)
            process.arguments = ["--run-dir", lanad.runDirectory, "watch"] + arguments
            process.standardOutput = out
            process.standardError = err
            process.standardInput = FileHandle.nullDevice
            try process.run()
            try? out.close()
            try? err.close()
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            unlink(outputPath)
            unlink(errorPath)
        }

        /// The events printed, without the time that starts each line (or
        /// each JSON line whole).
        var lines: [String] {
            (readTextFile(outputPath) ?? "").split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty()
                .map { line in
                    // `2026-01-02T03:04:05.678901Z ` is 28 characters.
                    line.hasPrefix("{") || line.count < 28 || line.dropFirst(26).first != "Z" ? line : String(line.dropFirst(28))
                }
        }
        var errors: String { readTextFile(errorPath) ?? "" }

        /// Makes probe changes until the watcher shows one, so that it is known
        /// to be subscribed; returns the number of lines it printed by then
        /// (all of them probe events).
        func waitUntilSubscribed(_ lanad: LanadProcess, file: StaticString = #filePath, line: UInt = #line) -> Int? {
            let prefix = "pr" + String(UInt32.random(in: 0...UInt32.max), radix: 36) + "_"
            for attempt in 0..<40 {
                let name = prefix + String(attempt)
                assertOK(lanad.fbctl("add", name, "dummy"), file: file, line: line)
                if waitUntil(within: 0.5, interval: 0.002, { self.lines.contains { $0.contains("added \(name) ") || $0.contains("\"block\":\"\(name)\"") } }) {
                    return lines.count
                }
                if !process.isRunning { break }
            }
            XCTFail("fbctl watch never showed a probe event; stderr: \(errors)", file: file, line: line)
            return nil
        }
    }

    func testWatchCountPrintsEventsOfChangesByAnotherFbctl() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "pre", "dummy"))
        // The watcher stops after exactly `count` events and must not print
        // the events of the changes after that.
        let count = 60
        let watcher = try Watcher(lanad, arguments: ["--count", String(count)])
        guard let probes = watcher.waitUntilSubscribed(lanad) else { return }
        XCTAssertGreaterThanOrEqual(probes, 1)
        // The IDP of the next block is known from fblocks.
        let nextIDP = (lanad.fblocks ?? "").split(separator: "\n").compactMap { Int($0.split(separator: " ")[2]) }.max()! + 1
        let a = nextIDP, b = nextIDP + 1, n = nextIDP + 2
        for words in [["add", "a", "counter"], ["add", "b", "dummy"], ["bind", "a", "b"], ["set", "a", "reset=1"],
                      ["subscribe", "b", "a"], ["unsubscribe", "b", "a"], ["add", "n", "counter"], ["replace", "a", "n"],
                      ["unbind", "a", "b"], ["rm", "a"], ["rm", "b"]] {
            assertOK(lanad.fbctl(words), words.joined(separator: " "))
        }
        // Refused requests make no events.
        XCTAssertEqual(lanad.fbctl("rm", "nosuch").status, 1)
        let events = [
            "added a \(a) counter",
            "added b \(b) dummy",
            "bound a \(a) down b \(b)",
            "bound b \(b) up a \(a)",
            "option a \(a) reset=1",
            "subscribed b \(b) a \(a)",
            "unsubscribed b \(b) a \(a)",
            "added n \(n) counter",
            "replaced a \(a) by n (counter, state moved)",
            "unbound a \(a) down b \(b)",
            "unbound b \(b) up a \(a)",
            "removed a \(a) counter",
            "removed b \(b) dummy",
        ]
        // Fill up to `count` with filler events, then make more that the
        // watcher must not print.
        let filler = count - probes - events.count
        XCTAssertGreaterThan(filler, 0, "too many probes: \(probes)")
        var fillerEvents: [String] = []
        for i in 0..<max(0, filler) {
            assertOK(lanad.fbctl("add", "f\(i)", "dummy"))
            fillerEvents.append("added f\(i) \(n + 1 + i) dummy")
        }
        assertOK(lanad.fbctl("add", "after", "dummy"))
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { !watcher.process.isRunning }, "watch --count \(count) did not stop; lines: \(watcher.lines)")
        watcher.process.waitUntilExit()
        XCTAssertEqual(watcher.process.terminationStatus, 0, watcher.errors)
        XCTAssertEqual(watcher.errors, "")
        let lines = watcher.lines
        XCTAssertEqual(lines.count, count, "\(lines)")
        XCTAssertTrue(lines.prefix(probes).allSatisfy { $0.hasPrefix("added pr") }, "\(lines.prefix(probes))")
        XCTAssertEqual(Array(lines.dropFirst(probes).prefix(events.count)), events)
        XCTAssertEqual(Array(lines.dropFirst(probes + events.count)), fillerEvents)
        XCTAssertFalse(lines.contains { $0.contains("after") })
    }

    func testWatchJSONAndSeveralWatchers() throws {
        let lanad = try startLanad()
        let w1 = try Watcher(lanad, arguments: ["--json"])
        let w2 = try Watcher(lanad, arguments: [])
        guard w1.waitUntilSubscribed(lanad) != nil, w2.waitUntilSubscribed(lanad) != nil else { return }
        assertOK(lanad.fbctl("add", "x", "dummy"))
        XCTAssertTrue(waitUntil(within: 5, interval: 0.002) { w1.lines.last?.contains(#""event":"added","block":"x""#) == true && w2.lines.last?.hasPrefix("added x ") == true },
                      "\(w1.lines) \(w2.lines)")
        for line in w1.lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object?["event"] as? String, line)
        }
        // Both watchers see the same event stream once both have joined.
        // (Each joined at its own moment: the one that subscribed first
        // also saw the other's subscription probes.)
        let plain = w2.lines
        // The JSON fields put back together make the text line.
        let fromJSON = w1.lines.compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let event = o["event"] as? String, let block = o["block"] as? String, let idp = o["idp"] as? Int,
                  let detail = o["detail"] as? String, o["time"] is String else { return nil }
            return "\(event) \(block) \(idp)" + (detail.isEmpty ? "" : " " + detail)
        }
        XCTAssertEqual(fromJSON.count, w1.lines.count, "every JSON line carries an event: \(w1.lines)")
        let sinceX = { (lines: [String]) in Array(lines.drop { !$0.hasPrefix("added x ") }) }
        XCTAssertEqual(sinceX(fromJSON), sinceX(plain))
        XCTAssertEqual(sinceX(plain).count, 1, "\(plain)")
        // A watcher that is killed does not disturb the daemon.
        kill(w1.process.processIdentifier, SIGKILL)
        w1.process.waitUntilExit()
        assertOK(lanad.fbctl("add", "y", "dummy"))
        XCTAssertTrue(waitUntil(within: 5, interval: 0.002) { w2.lines.last?.hasPrefix("added y ") == true }, "\(w2.lines)")
        assertOK(lanad.fbctl("list"))
    }
}
