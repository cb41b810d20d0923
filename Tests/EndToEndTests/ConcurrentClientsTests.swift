import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// Eight clients at once, each on its own names (so every outcome is
/// predictable) plus deliberate conflicts on shared names.
final class ConcurrentClientsTests: EndToEndTestCase {
    struct ThreadResult {
        var successfulAdds = 0
        var operations = 0
        var mismatches: [String] = []
        var mismatchCount = 0
        var sharedAddWins: [Int] = []
        var sharedRemoveWins: [Int] = []
        var sharedAddLosses = 0
        var sharedRemoveLosses = 0
        /// The events the successful operations must have caused, with
        /// IDPs left out (see ``normalized(event:)``).
        var expectedEvents: [String] = []
        var fatal: String?
    }

    static let clients = 8
    static let rounds = 30
    static let removable = 24

    /// One client's work; every expectation is exact because the names are its own.
    static func work(path: String, thread t: Int) -> ThreadResult {
        var result = ThreadResult()
        let client: ControlClient
        do { client = try ControlClient(socketPath: path, timeout: .seconds(60)) } catch {
            result.fatal = "client \(t): connect: \(error)"
            return result
        }
        /// Sends and compares the outcome with `expected` (nil = success).
        @discardableResult
        func expect(_ request: Command, _ expected: Int32?, _ what: String, events: [String] = []) -> ControlReply? {
            result.operations += 1
            let reply: ControlReply
            do { reply = try client.send(request) } catch {
                result.fatal = "client \(t): \(what): \(error)"
                return nil
            }
            let got = reply.error?.rawValue
            if got != expected {
                result.mismatchCount += 1
                if result.mismatches.count < 10 {
                    result.mismatches.append("client \(t): \(what): expected \(expected.map { String(cString: strerror($0)) } ?? "success"), got \(got.map { String(cString: strerror($0)) } ?? "success") \(reply.message ?? "")")
                }
            }
            if request.wireCommand == .add && got == nil { result.successfulAdds += 1 }
            if got == nil { result.expectedEvents += events }
            return reply
        }

        for r in 0..<rounds {
            let p = "t\(t)r\(r)"
            let a = p + "a", b = p + "b", c = p + "c", n = p + "n"
            expect(.add(name: a, type: "counter"), nil, "add \(a)", events: ["added \(a) counter"])
            expect(.add(name: b, type: "dummy"), nil, "add \(b)", events: ["added \(b) dummy"])
            expect(.add(name: c, type: "dummy"), nil, "add \(c)", events: ["added \(c) dummy"])
            expect(.add(name: a, type: "dummy"), EEXIST, "add \(a) again")
            expect(.bind(a, onTopOf: b), nil, "bind \(a) \(b)", events: ["bound \(a) down \(b)", "bound \(b) up \(a)"])
            expect(.bind(b, onTopOf: c), nil, "bind \(b) \(c)", events: ["bound \(b) down \(c)", "bound \(c) up \(b)"])
            expect(.bind(a, onTopOf: c), EBUSY, "bind \(a) \(c)")
            expect(.bind(c, onTopOf: a), ELOOP, "bind \(c) \(a)")
            expect(.set(name: a, option: "reset=1"), nil, "set \(a)", events: ["option \(a) reset=1"])
            expect(.subscribe(publisher: c, subscriber: a), nil, "subscribe \(c) \(a)", events: ["subscribed \(c) \(a)"])
            expect(.subscribe(publisher: c, subscriber: a), EEXIST, "subscribe \(c) \(a) again")
            expect(.unsubscribe(publisher: c, subscriber: a), nil, "unsubscribe \(c) \(a)", events: ["unsubscribed \(c) \(a)"])
            expect(.unsubscribe(publisher: c, subscriber: a), ENOENT, "unsubscribe \(c) \(a) again")
            expect(.unbind(c, from: b), ENOENT, "unbind \(c) \(b)")
            expect(.add(name: n, type: "counter"), nil, "add \(n)", events: ["added \(n) counter"])
            expect(.replace(a, with: n, dropState: r % 3 == 0), nil, "replace \(a) \(n)",
                   events: ["replaced \(a) by \(n) (counter, \(r % 3 == 0 ? "state dropped" : "state moved"))"])
            expect(.show(name: n), ENOENT, "show \(n) after replace")
            expect(.show(name: a), nil, "show \(a)")
            if result.fatal != nil { return result }

            // Conflicts: every client adds the same shared name; exactly one may win.
            let sharedAdd = Command.add(name: "shared\(r)", type: "dummy")
            result.operations += 1
            do {
                let reply = try client.send(sharedAdd)
                if reply.error == nil {
                    result.sharedAddWins.append(r)
                    result.successfulAdds += 1
                    result.expectedEvents.append("added shared\(r) dummy")
                } else if reply.error?.rawValue == EEXIST {
                    result.sharedAddLosses += 1
                } else {
                    result.mismatchCount += 1
                    result.mismatches.append("client \(t): add shared\(r): \(reply.error!) \(reply.message ?? "")")
                }
            } catch {
                result.fatal = "client \(t): add shared\(r): \(error)"
                return result
            }
            // Every client removes the same pre-made block; exactly one may win.
            if r < removable {
                result.operations += 1
                do {
                    let reply = try client.send(.remove(name: "gone\(r)"))
                    if reply.error == nil {
                        result.sharedRemoveWins.append(r)
                        result.expectedEvents.append("removed gone\(r) dummy")
                    } else if reply.error?.rawValue == ENOENT {
                        result.sharedRemoveLosses += 1
                    } else {
                        result.mismatchCount += 1
                        result.mismatches.append("client \(t): rm gone\(r): \(reply.error!) \(reply.message ?? "")")
                    }
                } catch {
                    result.fatal = "client \(t): rm gone\(r): \(error)"
                    return result
                }
            }
            if r % 8 == 7 {
                // Own blocks as expected in a dump taken amid the others' work.
                guard let list = expect(.list, nil, "list") else { return result }
                let lines = Set(list.items.compactMap(\.text).map { $0.split(separator: " ").enumerated().filter { $0.offset != 2 }.map(\.element).joined(separator: " ") })
                for expectedLine in ["\(a) counter up=- down=\(b)\n", "\(b) dummy up=\(a) down=\(c)\n",
                                     "\(c) dummy up=\(b) down=-\n"] where !lines.contains(expectedLine) {
                    result.mismatchCount += 1
                    result.mismatches.append("client \(t): list lacks \(expectedLine.debugDescription)")
                }
            }
            if r % 2 == 0 {
                expect(.unbind(a, from: b), nil, "unbind \(a) \(b)",
                       events: ["unbound \(a) down \(b)", "unbound \(b) up \(a)"])
                expect(.unbind(b, from: c), nil, "unbind \(b) \(c)",
                       events: ["unbound \(b) down \(c)", "unbound \(c) up \(b)"])
                expect(.remove(name: a), nil, "rm \(a)", events: ["removed \(a) counter"])
                expect(.remove(name: b), nil, "rm \(b)", events: ["removed \(b) dummy"])
                expect(.remove(name: c), nil, "rm \(c)", events: ["removed \(c) dummy"])
            }
            if result.fatal != nil { return result }
        }
        return result
    }

    /// An event line without its IDPs: `bound a 5 down b 6` → `bound a down b`.
    static func normalized(event: String) -> String {
        event.split(separator: " ").filter { !$0.allSatisfy(\.isNumber) }.joined(separator: " ")
    }

    /// A WATCH connection on its own thread, recording event lines until
    /// one starts with `until`.
    final class EventRecorder: @unchecked Sendable {
        private let lines = Locked<[String]>([])
        private let end = Locked<(done: Bool, failure: String?)>((false, nil))

        init(path: String, until marker: String) {
            let thread = Thread { [lines, end] in
                do {
                    let client = try ControlClient(socketPath: path, timeout: .seconds(10))
                    try client.watch { event in
                        lines.withLock { $0.append(event) }
                        return !event.hasPrefix(marker)
                    }
                    end.withLock { $0 = (true, nil) }
                } catch {
                    end.withLock { $0 = (true, "watch: \(error)") }
                }
            }
            thread.start()
        }

        var events: [String] { lines.current }
        var failure: String? { end.current.failure }

        /// Whether the end marker arrived within `timeout` (and nothing failed).
        func wait(timeout: TimeInterval) -> Bool {
            waitUntil(within: timeout, interval: 0.002) { self.end.current.done }
            return end.current.done && end.current.failure == nil
        }
    }

    func testEightClientsIssuingMixedCommandsAtOnce() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl(["apply", "-"], stdin: (0..<Self.removable).map { "fbctl add gone\($0) dummy\n" }.joined()))
        let path = lanad.controlPath
        // A watcher records every event: the ledger against which no
        // operation may be missing or applied twice.
        let watcher = EventRecorder(path: path, until: "added wend ")
        var probes = 0
        while !watcher.events.contains(where: { $0.hasPrefix("added wprobe\(probes - 1) ") }) {
            XCTAssertLessThan(probes, 50, "the watcher never saw a probe event: \(watcher.failure ?? "-")")
            guard probes < 50 else { return }
            assertOK(lanad.fbctl("add", "wprobe\(probes)", "dummy"))
            probes += 1
            waitUntil(within: 0.2, interval: 0.002) { watcher.events.contains { $0.hasPrefix("added wprobe\(probes - 1) ") } }
        }
        let firstEvent = watcher.events.count

        let results = Locked<[Int: ThreadResult]>([:])
        let started = Date()
        let finished = runOnThreads(Self.clients, timeout: 100) { t in
            let r = ConcurrentClientsTests.work(path: path, thread: t)
            results.withLock { $0[t] = r }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(finished, "clients did not finish within the deadline")
        assertOK(lanad.fbctl("add", "wend", "dummy"))
        XCTAssertTrue(watcher.wait(timeout: 20), "the watcher did not see the end marker: \(watcher.failure ?? "still running")")
        let all = results.current
        XCTAssertEqual(all.count, Self.clients)
        for (_, r) in all.sorted(by: { $0.key < $1.key }) {
            XCTAssertNil(r.fatal)
            XCTAssertEqual(r.mismatchCount, 0, r.mismatches.joined(separator: "\n"))
        }
        let operations = all.values.reduce(0) { $0 + $1.operations }
        XCTAssertGreaterThan(operations, 4_000)

        // Exactly one winner per shared name.
        let addWins = all.values.flatMap(\.sharedAddWins).sorted()
        XCTAssertEqual(addWins, Array(0..<Self.rounds), "each shared add must succeed exactly once")
        XCTAssertEqual(all.values.reduce(0) { $0 + $1.sharedAddLosses }, Self.rounds * (Self.clients - 1))
        let removeWins = all.values.flatMap(\.sharedRemoveWins).sorted()
        XCTAssertEqual(removeWins, Array(0..<Self.removable), "each shared rm must succeed exactly once")
        XCTAssertEqual(all.values.reduce(0) { $0 + $1.sharedRemoveLosses }, Self.removable * (Self.clients - 1))

        // fblocks and fbctl list agree, and hold exactly the expected blocks.
        let fblocks = try XCTUnwrap(lanad.fblocks)
        let list = lanad.fbctl("list")
        assertOK(list)
        struct Entry { var name: String; var type: String; var idp: Int; var refs: Int; var subscribers: [Int] }
        let entries: [Entry] = fblocks.split(separator: "\n").map { line in
            let head = line.split(separator: "[")[0].split(separator: " ")
            let subs = line.split(separator: "[")[1].dropLast().split(separator: " ").compactMap { Int($0) }
            return Entry(name: String(head[0]), type: String(head[1]), idp: Int(head[2])!, refs: Int(head[3])!, subscribers: subs)
        }
        let listLines = list.stdoutLines
        XCTAssertEqual(entries.count, listLines.count)
        XCTAssertEqual(entries.map(\.idp), entries.map(\.idp).sorted(), "fblocks is in ascending IDP order")
        let byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
        for (entry, line) in zip(entries, listLines) {
            let fields = line.split(separator: " ")
            XCTAssertEqual(fields.count, 5, line)
            guard fields.count == 5 else { continue }
            XCTAssertEqual("\(fields[0]) \(fields[1]) \(fields[2])", "\(entry.name) \(entry.type) \(entry.idp)")
            let peers = [fields[3].dropFirst("up=".count), fields[4].dropFirst("down=".count)]
                .flatMap { $0 == "-" ? [] : $0.split(separator: ",").map(String.init) }
            XCTAssertEqual(entry.refs, 1 + peers.count, "refs of \(entry.name): \(line)")
            XCTAssertEqual(Set(entry.subscribers), Set(peers.compactMap { byName[$0]?.idp }),
                           "subscribers of \(entry.name) are its bound peers: \(line)")
        }
        var expected: Set<String> = Set((0..<Self.rounds).map { "shared\($0) dummy up=- down=-" })
        for t in 0..<Self.clients {
            for r in stride(from: 1, to: Self.rounds, by: 2) {
                let p = "t\(t)r\(r)"
                expected.insert("\(p)a counter up=- down=\(p)b")
                expected.insert("\(p)b dummy up=\(p)a down=\(p)c")
                expected.insert("\(p)c dummy up=\(p)b down=-")
            }
        }
        for name in (0..<probes).map({ "wprobe\($0)" }) + ["wend"] { expected.insert("\(name) dummy up=- down=-") }
        let actual = Set(listLines.map { $0.split(separator: " ").enumerated().filter { $0.offset != 2 }.map(\.element).joined(separator: " ") })
        XCTAssertEqual(actual.subtracting(expected).sorted(), [], "unexpected blocks")
        XCTAssertEqual(expected.subtracting(actual).sorted(), [], "missing blocks")

        // No operation lost or applied twice: every successful one caused
        // exactly its events, and no refused one caused any.
        let observed = watcher.events[firstEvent...].dropLast().map(Self.normalized(event:))
        let expectedEvents = all.values.flatMap(\.expectedEvents)
        XCTAssertEqual(observed.count, expectedEvents.count, "events seen vs. caused by successful operations")
        var balance: [String: Int] = [:]
        for e in expectedEvents { balance[e, default: 0] += 1 }
        for e in observed { balance[e, default: 0] -= 1 }
        let unbalanced = balance.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        XCTAssertEqual(unbalanced.count, 0,
                       "events missing (> 0) or extra (< 0): \(unbalanced.prefix(20).map { "\($0.key): \($0.value)" })")

        // No add lost or applied twice: IDPs are sequential and never
        // reused, so the next one equals the number of successful adds + 1
        // (plus the watcher's probes and end marker).
        let adds = Self.removable + all.values.reduce(0) { $0 + $1.successfulAdds } + probes + 1
        XCTAssertEqual(adds, Self.removable + Self.clients * Self.rounds * 4 + Self.rounds + probes + 1)
        assertOK(lanad.fbctl("add", "probe", "dummy"))
        XCTAssertTrue(lanad.fblocks?.hasSuffix("probe dummy \(adds + 1) 1 []\n") == true,
                      "next IDP should be \(adds + 1): \(lanad.fblocks?.split(separator: "\n").last ?? "-")")
        // The counters follow their names: one status file per live counter.
        let statusFiles = Set(try lanad.entries("fblock"))
        XCTAssertEqual(statusFiles, Set(entries.filter { $0.type == "counter" }.map(\.name)))
        print("concurrency: \(operations) operations from \(Self.clients) clients in \(String(format: "%.1f", elapsed)) s")
    }
}
