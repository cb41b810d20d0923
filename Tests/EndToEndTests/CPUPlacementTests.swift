import Foundation
import Glibc
import LANATestSupport
import XCTest

/// `--cpus` and `--engines` against the CPUs that exist and the CPUs the
/// process may use (its affinity mask, which `taskset` narrows): a CPU
/// lanad cannot run on is a usage error, and more engines than usable CPUs
/// need `--force`.
final class CPUPlacementTests: EndToEndTestCase {
    private let taskset = "/usr/bin/taskset"

    /// The CPUs this process may run on (`Cpus_allowed_list`).
    private func allowedCPUs() -> [Int] {
        let status = readTextFile("/proc/self/status") ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") } ?? ""
        let list = line.split(separator: "\t").last.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        return list.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            guard let lo = bounds.first, let hi = bounds.last, lo <= hi else { return [] }
            return Array(lo...hi)
        }
    }

    private func onlineCPUs() -> [Int] {
        let text = (readTextFile("/sys/devices/system/cpu/online") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return text.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            guard let lo = bounds.first, let hi = bounds.last, lo <= hi else { return [] }
            return Array(lo...hi)
        }
    }

    /// Runs lanad, optionally under `taskset -c <cpus>`, expecting it to
    /// refuse its arguments as a usage error before it creates anything.
    private func assertUsageRefusal(_ arguments: [String], pinnedTo cpus: String? = nil, mentioning: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        let dir = freshRunDirectory()
        let result = cpus.map { runProgram(taskset, ["-c", $0, Binaries.lanad, "--run-dir", dir] + arguments, timeout: 5) }
            ?? runProgram(Binaries.lanad, ["--run-dir", dir] + arguments, timeout: 5)
        if result.signaled || result.status == 0 {
            // It started (the bug): do not leave it running.
            try? FileManager.default.removeItem(atPath: dir)
        }
        XCTAssertEqual(result.status, 64, "\(arguments) is a usage error: \(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("Error: "), "\(result)", file: file, line: line)
        XCTAssertTrue(result.stderr.contains(mentioning), "stderr should say \(mentioning.debugDescription): \(result)",
                      file: file, line: line)
        XCTAssertFalse(fileExists(dir), "\(arguments) created the run directory", file: file, line: line)
    }

    func testCPUThatDoesNotExistIsRefused() throws {
        try Binaries.require()
        let online = onlineCPUs()
        let missing = (online.max() ?? 0) + 3
        let onlineText = online.count > 1 && online == Array(online.first!...online.last!)
            ? "\(online.first!)-\(online.last!)" : online.map(String.init).joined(separator: ",")
        assertUsageRefusal(["--cpus", String(missing)],
                           mentioning: "--cpus \(missing): CPU \(missing) does not exist (online CPUs: \(onlineText))")
        assertUsageRefusal(["--cpus", "0,\(missing)-\(missing + 1)"], mentioning: "CPUs \(missing)-\(missing + 1) do not exist")
        // The largest number the parser takes, and one more.
        assertUsageRefusal(["--cpus", "65535"], mentioning: "CPU 65535 does not exist")
        assertUsageRefusal(["--cpus", "65536"], mentioning: "--cpus 65536: CPU 65536 is above the largest CPU number, 65535")
        assertUsageRefusal(["--cpus", "0-1:0"], mentioning: "--cpus 0-1:0: '0-1:0'")
    }

    func testCPUOutsideTheAffinityMaskIsRefused() throws {
        try Binaries.require()
        let allowed = allowedCPUs()
        guard allowed.count >= 2 else { throw UnmetRequirement("needs two CPUs this process may use, has \(allowed)") }
        assertUsageRefusal(["--cpus", String(allowed[1])], pinnedTo: String(allowed[0]),
                           mentioning: "--cpus \(allowed[1]): CPU \(allowed[1]) is not in lanad's CPU affinity mask (allowed CPUs: \(allowed[0]))")
    }

    func testMoreEnginesThanUsableCPUsNeedForce() throws {
        try Binaries.require()
        let allowed = allowedCPUs()
        guard !allowed.isEmpty else { throw UnmetRequirement("cannot read Cpus_allowed_list") }
        let n = allowed.count + 1
        assertUsageRefusal(["--engines", String(n)],
                           mentioning: "--engines \(n): more engines than the \(allowed.count) CPU(s) lanad may use; pass --force to share CPUs")
        // Under taskset, the mask is what counts, not the online CPUs.
        if allowed.count >= 2 {
            assertUsageRefusal(["--engines", "2"], pinnedTo: String(allowed[0]),
                               mentioning: "--engines 2: more engines than the 1 CPU(s) lanad may use")
        }
        // --force runs them, shared round-robin, and says so.
        let forced = try startLanad(engines: n, extraArguments: ["--force"])
        XCTAssertEqual(forced.file("ppe")?.split(separator: "\n").filter { $0.hasPrefix("CPU") }.count, n, forced.file("ppe") ?? "")
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { forced.log.contains("\(n) engines share \(allowed.count) CPU(s)") }, forced.log)
        // --force is meaningless without --engines.
        assertUsageRefusal(["--force"], mentioning: "--force only applies to --engines")
    }

    /// Without --engines or --cpus, one engine per CPU of the affinity
    /// mask, each on its own CPU of it.
    func testDefaultIsOneEnginePerAllowedCPU() throws {
        let allowed = allowedCPUs()
        guard allowed.count >= 2 else { throw UnmetRequirement("needs two CPUs this process may use, has \(allowed)") }
        let cpu = allowed.last!
        let lanad = try startLanad(engines: nil, wrapper: [taskset, "-c", String(cpu)])
        XCTAssertEqual(lanad.file("ppe")?.split(separator: "\n").last.map(String.init), "CPU\(cpu):\t0\t0\t0\t0\t0\t0\t0")
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { lanad.log.contains("1 engine(s) on CPUs \(cpu),") }, lanad.log)
    }
}
