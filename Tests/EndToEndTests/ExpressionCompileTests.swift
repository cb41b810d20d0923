import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// tcpdump expressions never reach libpcap inside lanad: fbctl compiles
/// them in a child process bounded in time and memory and sends the
/// program (`filter64=`); lanad refuses a bare `filter=` at once. Whatever
/// a client sends, the control plane keeps answering and SIGTERM ends the
/// daemon promptly.
final class ExpressionCompileTests: EndToEndTestCase {
    /// `port 1 or port 2 or … or port 3000`: libpcap's optimizer needs
    /// gigabytes and many minutes for it.
    private let hugeExpression = (1...3000).map { "port \($0)" }.joined(separator: " or ")
    private let initialProgram = "{ 0x6, 0, 0, 0xffffffff },\n"

    func testAHugeExpressionStallsNeitherTheControlPlaneNorShutdown() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "f", "bpf"))
        XCTAssertEqual(lanad.file("fblock/f"), initialProgram)

        // Two clients send the expression at once: fbctl, and a client that
        // sends `filter=` as it is (as fbctl used to).
        let fbctlResult = Locked<ToolResult?>(nil)
        let rawReply = Locked<ControlReply?>(nil)
        let expression = hugeExpression
        let runDirectory = lanad.runDirectory
        let controlPath = lanad.controlPath
        let done = DispatchGroup()
        done.enter()
        DispatchQueue.global().async {
            let r = runProgram(Binaries.fbctl, ["--run-dir", runDirectory, "set", "f", "filter=" + expression], timeout: 60)
            fbctlResult.withLock { $0 = r }
            done.leave()
        }
        done.enter()
        DispatchQueue.global().async {
            let reply = try? ControlClient(socketPath: controlPath, timeout: .seconds(60)).send(.set(name: "f", option: "filter=" + expression))
            rawReply.withLock { $0 = reply }
            done.leave()
        }
        // Meanwhile another client's LIST is answered within 100 ms, every time.
        let lister = try ControlClient(socketPath: lanad.controlPath)
        var slowest = Duration.zero
        var lists = 0
        let until = ContinuousClock.now + .seconds(4)
        repeat {
            let start = ContinuousClock.now
            let reply = try lister.send(.list)
            slowest = max(slowest, ContinuousClock.now - start)
            XCTAssertEqual(reply.items.compactMap(\.text), ["f bpf 1 up=- down=-\n"])
            lists += 1
            usleep(5_000)
        } while ContinuousClock.now < until && (fbctlResult.current == nil || rawReply.current == nil || lists < 20)
        XCTAssertLessThan(slowest, .milliseconds(100), "slowest LIST of \(lists)")
        XCTAssertEqual(done.wait(timeout: .now() + 60), .success)

        // lanad refused the bare expression at once.
        let raw = try XCTUnwrap(rawReply.current, "no reply to the raw SET")
        XCTAssertEqual(raw.error, .invalidArgument)
        XCTAssertEqual(raw.message, "lanad does not compile tcpdump expressions, so that none can stall it: send the program compiled by the client as filter64=<base64> <expression> (fbctl set and fbctl apply do)")
        // fbctl gave up on the compile within its bounds and sent nothing.
        let result = try XCTUnwrap(fbctlResult.current)
        XCTAssertEqual(result.status, 1, "\(result)")
        let prefix = "fbctl: set f filter=port 1 or port 2 or port 3 or port 4 or p… (37896 bytes): Invalid argument (EINVAL): filter refused, the loaded program stays: filter expression too complex: compile exceeded "
        XCTAssertTrue(result.stderr.hasPrefix(prefix), "\(result)")
        XCTAssertTrue(["512 MiB\n", "3 s\n"].contains(String(result.stderr.dropFirst(prefix.count))), "\(result)")
        XCTAssertEqual(lanad.file("fblock/f"), initialProgram, "nothing was applied")

        // And once more while SIGTERM arrives: the daemon is gone within 1 s.
        let connected = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let late = try? ControlClient(socketPath: controlPath, timeout: .seconds(60))
            connected.signal()
            _ = try? late?.send(.set(name: "f", option: "filter=" + expression))
        }
        XCTAssertEqual(connected.wait(timeout: .now() + 10), .success)
        let start = ContinuousClock.now
        kill(lanad.pid, SIGTERM)
        XCTAssertTrue(waitUntil(within: 1, interval: 0.002) { !lanad.process.isRunning }, "lanad still running 1 s after SIGTERM")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
        lanad.stopAndCheckClean()
    }

    func testExpressionsAreCompiledByFbctlAndShownAsTyped() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "f", "bpf"))
        // Unquoted, as tcpdump takes it.
        assertOK(lanad.fbctl("set", "f", "filter=arp", "or", "icmp"))
        let quoted = runProgram(Binaries.fbctl, ["bpf", "filter", "arp or icmp"])
        let unquoted = runProgram(Binaries.fbctl, ["bpf", "filter", "arp", "or", "icmp"])
        assertOK(quoted)
        XCTAssertEqual(unquoted.stdout, quoted.stdout)
        XCTAssertEqual(lanad.file("fblock/f"), quoted.stdout)
        let show = lanad.fbctl("show", "f")
        XCTAssertTrue(show.stdout.contains("\n  filter: arp or icmp\n"), "\(show)")
        // Only a filter= expression may span words.
        assertUsageError(lanad.fbctl("set", "f", "direction=ingress", "egress"),
                         mentioning: "1 unexpected argument after direction=ingress: only a filter= expression may span several words")
        // libpcap's own refusal, from fbctl, in lanad's words; nothing sent.
        assertRefused(lanad.fbctl("set", "f", "filter=tcp", "port", "eighty"),
                      "fbctl: set f filter=tcp port eighty: Invalid argument (EINVAL): filter refused, the loaded program stays: tcpdump expression: unknown port 'eighty'")
        XCTAssertEqual(lanad.file("fblock/f"), quoted.stdout)
        // The too-complex refusal of the offline compiler.
        let offline = runProgram(Binaries.fbctl, ["bpf", "filter", hugeExpression])
        XCTAssertEqual(offline.status, 1)
        XCTAssertTrue(offline.stderr.hasPrefix("fbctl: bpf filter port 1 or port 2 or port 3 or port 4 or port 5 o… (37889 bytes): filter expression too complex: compile exceeded "), "\(offline)")

        // fbctl apply compiles its lines' expressions too (unquoted ones as well).
        let applied = lanad.fbctl(["apply", "-"], stdin: "fbctl add g bpf\nfbctl set g filter=ip and udp\n")
        assertOK(applied)
        XCTAssertEqual(lanad.file("fblock/g"), runProgram(Binaries.fbctl, ["bpf", "filter", "ip and udp"]).stdout)
        XCTAssertTrue(lanad.fbctl("show", "g").stdout.contains("\n  filter: ip and udp\n"))
        assertRefused(lanad.fbctl(["apply", "-"], stdin: "fbctl add h bpf\nfbctl set h 'filter=\(hugeExpression)'\n"),
                      "fbctl: apply -: Invalid argument (EINVAL): line 2: fbctl set h 'filter=port 1 or port 2 or port 3 o… (37910 bytes): filter refused, the loaded program stays: filter expression too complex: compile exceeded 512 MiB")
        XCTAssertNil(lanad.file("fblock/h"), "nothing of the file was applied")
        // A line lanad refuses is quoted as written, not as compiled.
        assertRefused(lanad.fbctl(["apply", "-"], stdin: "fbctl add h bpf\n  fbctl set nosuch filter=arp  \n"),
                      "fbctl: apply -: No such file or directory (ENOENT): line 2: fbctl set nosuch filter=arp: no block named nosuch")
        // A raw APPLY with a bare expression is refused by lanad, command named.
        let client = try ControlClient(socketPath: lanad.controlPath)
        let reply = try client.send(.apply([.graph(.add(name: "h", type: "bpf")), .graph(.set(name: "h", option: "filter=arp"))]))
        XCTAssertEqual(reply.error, .invalidArgument)
        XCTAssertEqual(reply.failedCommand, 1)
        XCTAssertEqual(reply.message, "lanad does not compile tcpdump expressions, so that none can stall it: send the program compiled by the client as filter64=<base64> <expression> (fbctl set and fbctl apply do)")
    }

    func testConfigurationExpressionsAreCompiledBounded() throws {
        let path = "/tmp/lanae2e-conf-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        defer { unlink(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data("fbctl add f bpf\nfbctl set f filter=arp or icmp\n".utf8))
        let lanad = try startLanad(extraArguments: ["--config", path])
        // lanad binds its control socket before it applies the file, so
        // "ready" does not mean the file's blocks are in the state files yet.
        XCTAssertTrue(waitUntil(within: 10, interval: 0.002) { lanad.file("fblock/f") != nil }, "fblock/f never appeared")
        XCTAssertEqual(lanad.file("fblock/f"), runProgram(Binaries.fbctl, ["bpf", "filter", "arp or icmp"]).stdout)

        _ = FileManager.default.createFile(atPath: path, contents: Data("fbctl add f bpf\nfbctl set f 'filter=\(hugeExpression)'\n".utf8))
        let dir = freshRunDirectory()
        let start = ContinuousClock.now
        let refused = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", path], timeout: 30)
        XCTAssertEqual(refused.status, 1, "\(refused)")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(10))
        XCTAssertTrue(refused.stderr.contains("configuration \(path) refused, nothing applied: line 2: fbctl set f 'filter=port 1 or port 2 or port 3 o… (37910 bytes): filter refused: filter expression too complex: compile exceeded "), "\(refused)")
        XCTAssertFalse(fileExists(dir))

        // A line lanad refuses is quoted as written.
        _ = FileManager.default.createFile(atPath: path, contents: Data("fbctl set nosuch filter=arp\n".utf8))
        let missing = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", path], timeout: 30)
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("configuration \(path) refused, nothing applied: No such file or directory (ENOENT): line 1: fbctl set nosuch filter=arp: no block named nosuch\n"), "\(missing)")
    }
}
