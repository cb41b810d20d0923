import LANACore

/// `size-split`: ingress packets longer than `threshold=` bytes leave
/// through the extra port `up.large`, the others through `up`; egress
/// passes. The README's example of a block type with one extra named
/// port and one option.
public final class SizeSplitBlock: FunctionalBlock, @unchecked Sendable {
    /// The options, parsed once by the type and published with the block.
    final class Configuration: BlockConfiguration, @unchecked Sendable {
        let threshold: Int
        init(threshold: Int) { self.threshold = threshold }
        override var values: [(key: String, value: String)] { [("threshold", String(threshold))] }
    }

    public static let type = BlockType(
        name: "size-split",
        summary: "sends ingress packets longer than a threshold to up.large",
        options: [.init("threshold", "threshold=<bytes>: longer ingress packets go to up.large (default 1000)")],
        extraPorts: [.init("up.large", "ingress packets longer than the threshold")],
        configurator: .init(initial: { Configuration(threshold: 1000) }) { _, _, value throws(BlockOptionError) in
            guard let bytes = Int(value), bytes >= 0 else {
                throw BlockOptionError("threshold takes a number of bytes, not '\(value)'")
            }
            return .configure(Configuration(threshold: bytes))
        }
    ) { _ in SizeSplitBlock() }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let limit = context.withConfiguration(Configuration.self) { $0.threshold }
        let large = context.ports.extra(0)   // up.large, the first extra port
        var i = 0
        while i < burst.count {
            let p = burst[i]
            let long = p.direction == .ingress && p.length > limit && !large.isNone
            p.verdict = long ? .forward(large) : context.ports.verdict(for: p.direction)
            i &+= 1
        }
    }
}
