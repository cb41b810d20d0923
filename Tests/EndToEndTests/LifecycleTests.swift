import Foundation
import Glibc
import LANATestSupport
import XCTest

/// Start-up, run directory, file modes, locking and shutdown (docs/design.md §2, §10).
final class LifecycleTests: EndToEndTestCase {
    /// Every version of `fblocks` is a new file: a reader that opened the
    /// old one keeps reading the old content, whole, however many changes
    /// follow; the path always names the newest.
    func testFblocksIsReplacedNotRewritten() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "dummy"))
        let before = try XCTUnwrap(lanad.fblocks)
        let fd = open(lanad.runDirectory + "/fblocks", O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        for name in ["b", "c", "d"] { assertOK(lanad.fbctl("add", name, "dummy")) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        XCTAssertEqual(String(decoding: buffer[0..<max(n, 0)], as: UTF8.self), before)
        XCTAssertEqual(lanad.fblocks?.split(separator: "\n").map { $0.split(separator: " ")[0] }, ["a", "b", "c", "d"])
    }

    /// With a CPU left over, the control and state-file threads
    /// run off the engines' CPUs; each engine has its CPU to itself. Every
    /// thread is named for what it does (what `top -H` shows).
    func testEnginesHaveTheirCPUsToThemselves() throws {
        let allowed = cpuList(allowedCPUs(task: "/proc/self"))
        guard allowed.count >= 2 else { throw XCTSkip("needs two CPUs this process may use, has \(allowed)") }
        let engineCPU = allowed.last!
        let lanad = try startLanad(engines: nil, extraArguments: ["--cpus", String(engineCPU)])
        var threads: [(name: String, cpus: [Int])] = []
        let settled = waitUntil(within: 10, interval: 0.002) {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(lanad.pid)/task")) ?? []
            threads = tasks.map { task in
                let path = "/proc/\(lanad.pid)/task/\(task)"
                return ((readTextFile(path + "/comm") ?? "").trimmingCharacters(in: .whitespacesAndNewlines),
                        cpuList(allowedCPUs(task: path)))
            }
            return threads.filter { $0.cpus == [engineCPU] }.count == 1
                && Set(["lana-state"]).isSubset(of: threads.map(\.name))
        }
        let masks = threads.map(\.cpus)
        XCTAssertTrue(settled, "no thread pinned to CPU \(engineCPU), or a thread unnamed: \(threads)")
        XCTAssertGreaterThanOrEqual(masks.count, 3, "engine, control and other threads: \(threads)")
        XCTAssertEqual(threads.filter { $0.cpus == [engineCPU] }.map(\.name), ["lana-engine/\(engineCPU)"], "\(threads)")
        let others = masks.filter { $0 != [engineCPU] }
        XCTAssertEqual(others.count, masks.count - 1, "\(threads)")
        XCTAssertEqual(others.filter { $0 != Array(allowed.dropLast()) }, [], "\(threads)")
        XCTAssertTrue(lanad.log.contains("off the engines' CPUs"), lanad.log)
    }

    /// `Cpus_allowed_list` of a task, e.g. `0-2,4`.
    private func allowedCPUs(task: String) -> String {
        let status = readTextFile(task + "/status") ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
        return line.split(separator: "\t").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
    }

    private func cpuList(_ text: String) -> [Int] {
        text.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            guard let lo = bounds.first, let hi = bounds.last, lo <= hi else { return [] }
            return Array(lo...hi)
        }
    }

    func testRunDirectoryContentsAndModes() throws {
        let lanad = try startLanad()
        let dir = lanad.runDirectory
        XCTAssertEqual(fileMode(dir)?.type, S_IFDIR)
        XCTAssertEqual(fileMode(dir)?.permissions, 0o755, "run directory mode")
        XCTAssertEqual(fileMode(dir + "/fblock")?.type, S_IFDIR)
        XCTAssertEqual(fileMode(dir + "/fblock")?.permissions, 0o755)
        XCTAssertEqual(fileMode(lanad.controlPath)?.type, S_IFSOCK)
        XCTAssertEqual(fileMode(lanad.controlPath)?.permissions, 0o660, "control socket mode")
        assertOK(lanad.fbctl("add", "c", "counter"))
        _ = lanad.fblocks  // caught up: fblock/c is there
        for name in ["fblocks", "ppe", "drops", "vlink", "version", "fblock/c"] {
            XCTAssertEqual(fileMode(dir + "/" + name)?.type, S_IFREG, name)
            XCTAssertEqual(fileMode(dir + "/" + name)?.permissions, 0o644, "state file \(name) mode")
        }
        // No temporary file of the atomic rewrite is left around: the one
        // hidden entry is the next version while the writer writes it.
        let entries = try lanad.entries("").sorted()
        XCTAssertTrue(Set(entries.filter { $0.hasPrefix(".") }).isSubset(of: [".writing"]), "\(entries)")
        XCTAssertTrue(Set(entries).isSuperset(of: ["control", "fblocks", "ppe", "drops", "vlink", "version", "fblock"]),
                      "\(entries)")

        XCTAssertEqual(lanad.file("vlink"), "")
        let drops = try XCTUnwrap(lanad.file("drops"))
        var reasons: [String] = []
        for line in drops.split(separator: "\n") {
            let fields = line.split(separator: " ")
            XCTAssertEqual(fields.count, 2, "drops line \(line)")
            XCTAssertEqual(fields.last, "0", "nothing dropped yet: \(line)")
            reasons.append(String(fields[0]))
        }
        XCTAssertTrue(drops.hasSuffix("\n"))
        for reason in ["unbound-port", "no-next-hop", "hop-limit", "backlog-full", "filtered"] {
            XCTAssertTrue(reasons.contains(reason), "drops lists \(reason): \(drops)")
        }
        XCTAssertEqual(Set(reasons).count, reasons.count, "one line per reason")
    }

    func testPPEFileOneLinePerEngine() throws {
        let one = try startLanad(engines: nil, extraArguments: ["--cpus", "0"])
        XCTAssertEqual(one.file("ppe"), "#cpu\tpackets\tbytes\tcalls\tenqueued\tdrops\tbacklog\tended\nCPU0:\t0\t0\t0\t0\t0\t0\t0\n")
        one.stopAndCheckClean()
        // More engines than CPUs on a small machine: they share them.
        let three = try startLanad(engines: 3, extraArguments: ["--force"])
        let lines = three.file("ppe")?.split(separator: "\n").filter { !$0.hasPrefix("#") } ?? []
        XCTAssertEqual(lines.count, 3, three.file("ppe") ?? "-")
        for line in lines {
            XCTAssertNotNil(line.wholeMatch(of: /CPU[0-9]+:(\t[0-9]+){7}/), "ppe line \(line)")
        }
    }

    func testSecondLanadOnTheSameRunDirectoryRefuses() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "keep", "counter"))
        let second = runProgram(Binaries.lanad, ["--run-dir", lanad.runDirectory, "--engines", "1"])
        XCTAssertEqual(second.status, 1, "\(second)")
        XCTAssertTrue(second.stderr.contains("another lanad"), "\(second)")
        XCTAssertTrue(second.stderr.contains(lanad.runDirectory), "\(second)")
        // The first one is untouched: socket, state files, registry.
        XCTAssertTrue(fileExists(lanad.controlPath))
        XCTAssertEqual(lanad.fblocks, "keep counter 1 1 []\n")
        XCTAssertEqual(lanad.file("fblock/keep"), "0 0\n")
        assertOK(lanad.fbctl("add", "more", "dummy"))
        XCTAssertEqual(lanad.fbctl("list").stdout, "keep counter 1 up=- down=-\nmore dummy 2 up=- down=-\n")
        // Through the environment variable as well.
        var env = ProcessInfo.processInfo.environment
        env["LANA_RUN_DIR"] = lanad.runDirectory
        let third = runProgram(Binaries.lanad, ["--engines", "1"], environment: env)
        XCTAssertEqual(third.status, 1, "\(third)")
        XCTAssertTrue(third.stderr.contains("another lanad"), "\(third)")
        XCTAssertEqual(lanad.fblocks, "keep counter 1 1 []\nmore dummy 2 1 []\n")
    }

    func testSIGTERMShutsDownCleanly() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "counter"))
        assertOK(lanad.fbctl("add", "b", "dummy"))
        assertOK(lanad.fbctl("bind", "a", "b"))
        lanad.stopAndCheckClean(signal: SIGTERM)
    }

    func testSIGINTShutsDownCleanly() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "counter"))
        lanad.stopAndCheckClean(signal: SIGINT)
    }

    func testSIGHUPIsIgnored() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "a", "dummy"))
        kill(lanad.pid, SIGHUP)
        assertOK(lanad.fbctl("add", "b", "dummy"))
        XCTAssertTrue(lanad.process.isRunning)
        XCTAssertEqual(lanad.fblocks, "a dummy 1 1 []\nb dummy 2 1 []\n")
    }

    func testShutdownWithAWatcherAndAnIdleClientConnected() throws {
        let lanad = try startLanad()
        let idle = try RawSocket(path: lanad.controlPath)
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: Binaries.fbctl)
        watch.arguments = ["--run-dir", lanad.runDirectory, "watch"]
        watch.standardOutput = FileHandle.nullDevice
        watch.standardError = FileHandle.nullDevice
        try watch.run()
        defer { if watch.isRunning { kill(watch.processIdentifier, SIGKILL) } }
        assertOK(lanad.fbctl("add", "a", "dummy"))
        lanad.stopAndCheckClean()
        // The watcher notices the daemon went away and ends by itself.
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { !watch.isRunning }, "fbctl watch still running after lanad exited")
        watch.waitUntilExit()
        XCTAssertNotEqual(watch.terminationStatus, 0, "watch ends with an error when lanad goes away")
        _ = idle
    }

    /// A lanad that was killed leaves its files; the next one on the same
    /// directory takes over (stale socket, released lock) and must not show
    /// the dead daemon's state.
    func testRestartAfterCrashStartsWithCleanState() throws {
        let first = try startLanad()
        let dir = first.runDirectory
        assertOK(first.fbctl("add", "old", "counter"))
        XCTAssertEqual(first.file("fblock/old"), "0 0\n")
        kill(first.pid, SIGKILL)
        _ = first.stop()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(fileExists(dir + "/control"))

        let second = try LanadProcess(engines: 1, runDirectory: dir)
        XCTAssertEqual(second.fblocks, "", "a new daemon starts with an empty registry")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/fblock"), [],
                       "fblock/ must not keep status files of blocks of the killed daemon")
        assertOK(second.fbctl("add", "new", "dummy"))
        XCTAssertEqual(second.fblocks, "new dummy 1 1 []\n")
        XCTAssertEqual(second.stop(), 0)
        // The directory existed before the second daemon: it stays, but empty.
        XCTAssertEqual((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["<missing>"], [])
    }

    func testUsageErrorsOfLanad() throws {
        try Binaries.require()
        let dir = freshRunDirectory()
        for arguments in [["--engines", "0"], ["--engines", "2", "--cpus", "0"], ["--cpus", "x"], ["--bogus"],
                          ["--log-level", "loud"]] {
            let result = runProgram(Binaries.lanad, ["--run-dir", dir] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments): \(result)")
            XCTAssertNotEqual(result.status, 1, "a usage error is not a start-up failure: \(arguments): \(result)")
            XCTAssertFalse(result.stderr.isEmpty)
            XCTAssertFalse(fileExists(dir), "\(arguments) created the run directory")
        }
    }
}
