import LANABlocks
import LANACore
import LANAEmbedded
import LANAExamples
import XCTest

/// The README's example block type (`Examples/SizeSplitBlock.swift`): one
/// extra named port, one option, through the real registry and engine.
final class ExampleBlockTests: XCTestCase {
    func testLongIngressPacketsLeaveThroughTheExtraPort() throws {
        let g = EmbeddedGraph(types: BuiltinBlocks.types + [SizeSplitBlock.type])
        try g.registry.add("s", type: "size-split")
        try g.registry.add("small", type: "capture")
        try g.registry.add("large", type: "capture")
        try g.registry.add("low", type: "capture")
        try g.registry.bind("small", "s")
        try g.registry.bind("large", "s", port: "up.large")
        try g.registry.bind("s", "low")
        try g.registry.set("s", "threshold=100")
        XCTAssertEqual(try g.registry.show("s").options, ["threshold=100"])
        for length in [60, 100, 101, 1514] { try g.send(Array(repeating: 0xAB, count: length), to: "s") }
        try g.send(Array(repeating: 0xCD, count: 1514), to: "s", direction: .egress)
        g.run()
        XCTAssertEqual(g.captured("small").map(\.bytes.count), [60, 100])
        XCTAssertEqual(g.captured("large").map(\.bytes.count), [101, 1514])
        XCTAssertEqual(g.captured("low").map(\.bytes.count), [1514], "egress passes whatever its length")

        // The option is checked; the port is the type's own.
        XCTAssertThrowsError(try g.registry.set("s", "threshold=lots")) { error in
            XCTAssertTrue("\(error)".contains("threshold takes a number of bytes, not 'lots'"), "\(error)")
        }
        XCTAssertThrowsError(try g.registry.bind("small", "low", port: "up.large")) { error in
            XCTAssertTrue("\(error)".contains("low has no port up.large"), "\(error)")
        }

        // Nothing on up.large: long packets take the default port.
        try g.registry.unbind("large", "s")
        try g.send(Array(repeating: 0xAB, count: 500), to: "s")
        g.run()
        XCTAssertEqual(g.captured("small").map(\.bytes.count), [60, 100, 500])
        XCTAssertEqual(g.poolAvailable, g.poolCapacity)
    }
}
