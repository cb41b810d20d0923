import Foundation
import Glibc
import XCTest

/// `fbctl apply FILE|-` and `lanad --config FILE` (docs/design.md §8): all or nothing,
/// the failing line named.
final class ConfigurationTests: EndToEndTestCase {
    private func temporaryFile(_ text: String) -> String {
        let path = "/tmp/lanae2e-conf-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        addTeardownBlock { unlink(path) }
        return path
    }

    func testApplyValidFileAppliesEverything() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "pre", "dummy"))
        let file = temporaryFile("""
            # a comment line, then a blank one

            fbctl add a counter   # trailing comment
            fbctl add b dummy
            fbctl add 'c' tee
            fbctl bind a b
            fbctl set a reset=1
            fbctl subscribe pre c
            fbctl add x dummy
            fbctl add y dummy
            fbctl replace x y
            fbctl add z dummy
            fbctl replace-drop x z
            fbctl add gone dummy
            fbctl rm gone
            """)
        let result = lanad.fbctl("apply", file)
        assertOK(result)
        XCTAssertEqual(result.stdout, "applied 13 commands\n")
        XCTAssertEqual(lanad.fblocks, """
            pre dummy 1 1 [4]
            a counter 2 2 [3]
            b dummy 3 2 [2]
            c tee 4 1 []
            x dummy 5 1 []

            """)
        XCTAssertEqual(lanad.file("fblock/a"), "0 0\n")
    }

    /// A file may remove or replace blocks that it adds itself; lanad must
    /// not crash on the events of blocks that came and went in one batch.
    func testApplyMayRemoveOrReplaceBlocksItAdds() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "pre", "dummy"))
        let addThenRemove = lanad.fbctl(["apply", "-"], stdin: "fbctl add g dummy\nfbctl rm g\n")
        assertOK(addThenRemove, "add and rm in one file")
        XCTAssertTrue(lanad.process.isRunning, "lanad crashed; log:\n\(lanad.log)")
        guard lanad.process.isRunning else { return }
        XCTAssertEqual(lanad.fblocks, "pre dummy 1 1 []\n")
        let addThenReplace = lanad.fbctl(["apply", "-"], stdin: "fbctl add x counter\nfbctl add y counter\nfbctl replace x y\n")
        assertOK(addThenReplace, "add and replace in one file")
        XCTAssertTrue(lanad.process.isRunning, "lanad crashed; log:\n\(lanad.log)")
        guard lanad.process.isRunning else { return }
        XCTAssertEqual(lanad.fblocks, "pre dummy 1 1 []\nx counter 3 1 []\n")
        XCTAssertEqual(lanad.file("fblock/x"), "0 0\n")
        XCTAssertNil(lanad.file("fblock/y"))
        // The same at start-up.
        let config = temporaryFile("fbctl add g dummy\nfbctl rm g\nfbctl add k dummy\n")
        let other = try startLanad(extraArguments: ["--config", config])
        assertOK(other.fbctl("list"))
        XCTAssertEqual(other.fblocks, "k dummy 2 1 []\n")
    }

    func testApplyWithABadLineAppliesNothingAndNamesTheLine() throws {
        let lanad = try startLanad()
        assertOK(lanad.fbctl("add", "pre", "dummy"))
        let before = lanad.fblocks
        // Line 5 refers to a block that is not there (refused by the registry).
        let refused = temporaryFile("""
            fbctl add a counter
            fbctl add b dummy
            # comment
            fbctl bind a b
            fbctl bind a nosuch
            fbctl add c dummy
            """)
        assertRefused(lanad.fbctl("apply", refused),
                      "fbctl: apply \(refused): No such file or directory (ENOENT): line 5: fbctl bind a nosuch: no block named nosuch")
        XCTAssertEqual(lanad.fblocks, before, "nothing of a refused file is applied")
        XCTAssertNil(lanad.file("fblock/a"))

        // A line that does not parse (line 2), a later conflict with the live graph (line 1).
        let unparsable = temporaryFile("fbctl add q dummy\nfbctl frob q\n")
        assertRefused(lanad.fbctl("apply", unparsable),
                      "fbctl: apply \(unparsable): Invalid argument (EINVAL): line 2: fbctl frob q: unknown fbctl command 'frob' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)")
        let conflict = temporaryFile("fbctl add pre dummy\n")
        assertRefused(lanad.fbctl("apply", conflict),
                      "fbctl: apply \(conflict): File exists (EEXIST): line 1: fbctl add pre dummy: a block named pre already exists")
        // Prefixes are not commands in files either.
        let prefix = temporaryFile("fbctl add q dummy\nfbctl add r dummy\nfbctl replace_dro q r\n")
        let prefixResult = lanad.fbctl("apply", prefix)
        XCTAssertEqual(prefixResult.status, 1, "\(prefixResult)")
        XCTAssertTrue(prefixResult.stderr.contains("line 3: fbctl replace_dro q r: unknown fbctl command 'replace_dro'"), "\(prefixResult)")
        // A wrong number of words, and an unterminated quote.
        let words = temporaryFile("fbctl add q\n")
        let wordsResult = lanad.fbctl("apply", words)
        XCTAssertEqual(wordsResult.status, 1)
        XCTAssertTrue(wordsResult.stderr.hasPrefix("fbctl: apply \(words): Invalid argument (EINVAL): line 1: fbctl add q: "), "\(wordsResult)")
        let quote = temporaryFile("\n\nfbctl add 'q dummy\n")
        let quoteResult = lanad.fbctl("apply", quote)
        XCTAssertEqual(quoteResult.status, 1)
        XCTAssertTrue(quoteResult.stderr.contains("line 3:"), "\(quoteResult)")
        // A read-only command cannot be applied.
        let list = temporaryFile("fbctl add q dummy\nfbctl list\n")
        let listResult = lanad.fbctl("apply", list)
        XCTAssertEqual(listResult.status, 1)
        XCTAssertTrue(listResult.stderr.contains("line 2: fbctl list:"), "\(listResult)")
        XCTAssertEqual(lanad.fblocks, before, "no refused file changed anything")

        // --json: the refusal as an object too.
        let json = lanad.fbctl("--json", "apply", refused)
        XCTAssertEqual(json.status, 1)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json)")
        XCTAssertEqual(object["errno"] as? String, "ENOENT")
        XCTAssertEqual(object["message"] as? String, "line 5: fbctl bind a nosuch: no block named nosuch")

        // A file that cannot be read is the client's problem: exit 1, nothing sent.
        let missing = lanad.fbctl("apply", "/nonexistent/lana.conf")
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertEqual(missing.stderr, "fbctl: apply: cannot read /nonexistent/lana.conf: No such file or directory\n")
        XCTAssertEqual(lanad.fblocks, before)
    }

    func testApplyFromStandardInput() throws {
        let lanad = try startLanad()
        let result = lanad.fbctl(["apply", "-"], stdin: "fbctl add s1 dummy\nfbctl add s2 counter\nfbctl bind s1 s2\n")
        assertOK(result)
        XCTAssertEqual(result.stdout, "applied 3 commands\n")
        XCTAssertEqual(lanad.fblocks, "s1 dummy 1 2 [2]\ns2 counter 2 2 [1]\n")
        assertRefused(lanad.fbctl(["apply", "-"], stdin: "fbctl rm s2\n"),
                      "fbctl: apply -: Device or resource busy (EBUSY): line 1: fbctl rm s2: s2 is still bound to s1 (up): unbind it first")
        XCTAssertEqual(lanad.fblocks, "s1 dummy 1 2 [2]\ns2 counter 2 2 [1]\n")
        let empty = lanad.fbctl(["apply", "-"], stdin: "# nothing\n\n")
        assertOK(empty)
        XCTAssertEqual(lanad.fblocks, "s1 dummy 1 2 [2]\ns2 counter 2 2 [1]\n")
    }

    func testConfigAtStartUp() throws {
        let file = temporaryFile("""
            # built at start-up
            fbctl add low dummy
            fbctl add mid counter
            fbctl add top dummy
            fbctl bind mid low
            fbctl bind top mid
            """)
        let lanad = try startLanad(extraArguments: ["--config", file])
        // The control socket serves requests only once the file is applied.
        let list = lanad.fbctl("list")
        assertOK(list)
        XCTAssertEqual(list.stdout, "low dummy 1 up=mid down=-\nmid counter 2 up=top down=low\ntop dummy 3 up=- down=mid\n")
        XCTAssertEqual(lanad.fblocks, "low dummy 1 2 [2]\nmid counter 2 3 [3 1]\ntop dummy 3 2 [2]\n")
        XCTAssertEqual(lanad.file("fblock/mid"), "0 0\n")
        XCTAssertTrue(lanad.log.contains("applied configuration \(file)"), lanad.log)
        assertOK(lanad.fbctl("add", "later", "dummy"))
        XCTAssertTrue(lanad.fblocks!.hasSuffix("later dummy 4 1 []\n"))
    }

    func testBadConfigStopsLanadAndLeavesNothing() throws {
        try Binaries.require()
        let file = temporaryFile("""
            fbctl add low dummy
            fbctl add mid counter

            fbctl bind mid nosuch
            fbctl add top dummy
            """)
        let dir = freshRunDirectory()
        let result = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", file])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("line 4"), "the message names the line: \(result)")
        XCTAssertTrue(result.stderr.contains("nosuch"), "\(result)")
        XCTAssertFalse(fileExists(dir), "nothing left in the run directory: \((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])")

        // The same into an existing (empty) directory: it stays, empty.
        mkdir(dir, 0o755)
        defer { rmdir(dir) }
        let again = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", file])
        XCTAssertEqual(again.status, 1, "\(again)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])

        // An unreadable configuration file.
        let missing = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", "/nonexistent/lana.conf"])
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("/nonexistent/lana.conf"), "\(missing)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])

        // A syntax error.
        let syntax = temporaryFile("fbctl add a dummy\nfbctl ad b dummy\n")
        let syntaxResult = runProgram(Binaries.lanad, ["--run-dir", dir, "--engines", "1", "--config", syntax])
        XCTAssertEqual(syntaxResult.status, 1, "\(syntaxResult)")
        XCTAssertTrue(syntaxResult.stderr.contains("line 2"), "\(syntaxResult)")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }
}
