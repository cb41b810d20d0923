import Foundation
import Glibc
import LANAPosix
import SystemPackage
import XCTest

/// State files replaced whole: every reader sees one complete version, a
/// version held open never changes, and versions no one holds are reused.
/// On tmpfs (/dev/shm), where lanad keeps its run directory.
final class ReplaceableFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/dev/shm/lana-replaceable-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw XCTSkip("no /dev/shm here: \(Errno(rawValue: errno))") }
        directory = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        XCTAssertEqual(mkdir(directory + "/spare", 0o755), 0)
    }

    override func tearDown() {
        if !directory.isEmpty { try? FileManager.default.removeItem(atPath: directory) }
    }

    private func file() -> ReplaceableFile {
        ReplaceableFile(path: directory + "/ppe", sparePath: directory + "/spare/ppe")
    }

    private func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    private func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// Reads what `fd` shows from its start.
    private func read(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
    }

    func testVersionsNoOneHoldsAreReused() throws {
        let f = file()
        try f.replace(with: Array("one\n".utf8))
        let first = try XCTUnwrap(inode(f.path))
        try f.replace(with: Array("two\n".utf8))
        let second = try XCTUnwrap(inode(f.path))
        XCTAssertNotEqual(first, second, "a new version is a different inode from the one readers may hold")
        XCTAssertEqual(inode(f.sparePath), first, "the replaced version waits as the spare")
        try f.replace(with: Array("three\n".utf8))
        XCTAssertEqual(inode(f.path), first, "no one held the first version, so it became the third")
        XCTAssertEqual(contents(f.path), "three\n")
        XCTAssertEqual(f.content, Array("three\n".utf8))
    }

    func testAVersionHeldOpenNeverChanges() throws {
        let f = file()
        try f.replace(with: Array("version 1, the longest of them all\n".utf8))
        let fd = open(f.path, O_RDONLY | O_CLOEXEC)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let held = try XCTUnwrap(inode(f.path))
        for i in 2...6 {
            try f.replace(with: Array("version \(i)\n".utf8))
            XCTAssertEqual(contents(f.path), "version \(i)\n", "the path names the newest, whole")
            XCTAssertNotEqual(inode(f.path), held, "the held inode was not reused (version \(i))")
        }
        XCTAssertEqual(read(fd), "version 1, the longest of them all\n", "the reader's version is untouched")
    }

    func testAShorterVersionLeavesNoTailOfALongerOne() throws {
        let f = file()
        try f.replace(with: Array("a long first version\n".utf8))
        try f.replace(with: Array("second\n".utf8))
        try f.replace(with: Array("3\n".utf8))  // reuses the first one's inode
        XCTAssertEqual(contents(f.path), "3\n")
        try f.replace(with: Array("fourth version, longer again\n".utf8))
        XCTAssertEqual(contents(f.path), "fourth version, longer again\n")
    }

    func testUnchangedContentIsNotRewritten() throws {
        let f = file()
        try f.replace(with: Array("same\n".utf8))
        let before = try XCTUnwrap(inode(f.path))
        try f.replace(with: Array("same\n".utf8))
        XCTAssertEqual(inode(f.path), before)
        XCTAssertNil(inode(f.sparePath), "no spare made for an unchanged file")
    }

    func testAFileRemovedBySomeoneElseComesBack() throws {
        let f = file()
        try f.replace(with: Array("one\n".utf8))
        try f.replace(with: Array("two\n".utf8))
        XCTAssertEqual(unlink(f.path), 0)
        try f.replace(with: Array("three\n".utf8))
        XCTAssertEqual(contents(f.path), "three\n")
        try f.replace(with: Array("four\n".utf8))
        XCTAssertEqual(contents(f.path), "four\n")
    }

    func testRemoveTakesTheSpareToo() throws {
        let f = file()
        try f.replace(with: Array("one\n".utf8))
        try f.replace(with: Array("two\n".utf8))
        XCTAssertNotNil(inode(f.sparePath))
        f.remove()
        XCTAssertNil(inode(f.path))
        XCTAssertNil(inode(f.sparePath))
        try f.replace(with: Array("again\n".utf8))
        XCTAssertEqual(contents(f.path), "again\n")
    }

    func testAFailureNamesTheErrorAndKeepsTheOldVersion() throws {
        let f = ReplaceableFile(path: directory + "/ppe", sparePath: directory + "/missing/ppe")
        XCTAssertThrowsError(try f.replace(with: Array("x\n".utf8))) { error in
            XCTAssertEqual(error as? Errno, .noSuchFileOrDirectory)
        }
        XCTAssertNil(f.content)
        XCTAssertNil(inode(f.path))
    }

    /// Readers racing the writer see only whole versions.
    func testConcurrentReadersSeeOnlyWholeVersions() throws {
        let f = file()
        let versions = (0..<2000).map { i in "version \(i) " + String(repeating: "x", count: i % 97) + "\n" }
        let valid = Set(versions)
        try f.replace(with: Array(versions[0].utf8))
        let path = f.path
        let shared = ReaderState()
        let reader = Thread {
            while !shared.done {
                if let data = FileManager.default.contents(atPath: path) {
                    shared.record(String(decoding: data, as: UTF8.self), valid: valid)
                }
            }
            shared.finish()
        }
        reader.start()
        for v in versions.dropFirst() { try f.replace(with: Array(v.utf8)) }
        shared.stop()
        XCTAssertTrue(shared.waitFinished(seconds: 10), "reader thread ended")
        XCTAssertGreaterThan(shared.reads, 0)
        XCTAssertEqual(shared.bad.prefix(3), [], "torn or stale reads")
        XCTAssertEqual(contents(path), versions.last)
    }
}

/// What the reader thread saw, shared under a lock.
private final class ReaderState: @unchecked Sendable {
    private let lock = NSCondition()
    private var stopped = false
    private var finished = false
    private(set) var reads = 0
    private(set) var bad: [String] = []

    var done: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }

    func record(_ text: String, valid: Set<String>) {
        lock.withLock {
            reads += 1
            if !valid.contains(text) { bad.append(text) }
        }
    }

    func finish() {
        lock.withLock {
            finished = true
            lock.broadcast()
        }
    }

    func waitFinished(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        return lock.withLock {
            while !finished { if !lock.wait(until: deadline) { return finished } }
            return true
        }
    }
}
