import Foundation
import XCTest

/// The fuzz targets, built plainly, replay their own seeds without a
/// failure: each run checks every invariant its target states (for
/// `LANAFLIPFuzz`, the blocks' fast paths against the parser) on inputs
/// that reach the interesting cases, at every test run, not only when
/// someone fuzzes.
final class FuzzSeedTests: XCTestCase {
    func replaySeeds(of target: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let binary = Binaries.directory + "/" + target
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            XCTFail("\(binary) is missing: build with `swift build --build-tests` first", file: file, line: line)
            return
        }
        let directory = NSTemporaryDirectory() + "lana-seeds-\(target)-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let written = runProgram(binary, ["--seeds", directory])
        XCTAssertEqual(written.status, 0, "\(written)", file: file, line: line)
        let seeds = try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { directory + "/" + $0 }
        XCTAssertFalse(seeds.isEmpty, "\(target) wrote no seeds", file: file, line: line)
        XCTAssertEqual(written.stdout, "wrote \(seeds.count) seeds to \(directory)\n", file: file, line: line)

        let replayed = runProgram(binary, seeds, timeout: 120)
        XCTAssertEqual(replayed.status, 0, "\(replayed)", file: file, line: line)
        XCTAssertEqual(replayed.stdout, "replayed \(seeds.count) inputs\n", "\(replayed)", file: file, line: line)
    }

    func testControlDecoderSeeds() throws { try replaySeeds(of: "LANAControlFuzz") }

    func testBPFSeeds() throws { try replaySeeds(of: "LANABPFFuzz") }

    func testFLIPDecoderAndBlockSeeds() throws { try replaySeeds(of: "LANAFLIPFuzz") }
}
