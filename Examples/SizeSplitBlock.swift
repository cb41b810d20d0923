import LANACore
import Synchronization

/// `size-split`: ingress packets longer than `threshold=` bytes leave
/// through the extra port `up.large`, the others through `up`; egress
/// passes. The README's example of a block type with one extra named
/// port and one option.
public final class SizeSplitBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "size-split",
        summary: "sends ingress packets longer than a threshold to up.large",
        options: [.init("threshold", "threshold=<bytes>: longer ingress packets go to up.large (default 1000)")],
        extraPorts: [.init("up.large", "ingress packets longer than the threshold")]
    ) { _ in SizeSplitBlock() }

    /// Read once per burst, set on the control thread.
    private let threshold = Atomic<Int>(1000)

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let limit = threshold.load(ordering: .relaxed)
        let large = context.ports.extra(0)   // up.large, the first extra port
        var i = 0
        while i < burst.count {
            let p = burst[i]
            let long = p.direction == .ingress && p.length > limit && !large.isNone
            p.verdict = long ? .forward(large) : context.ports.verdict(for: p.direction)
            i &+= 1
        }
    }

    public override func setOption(_ key: String, _ value: String) throws(BlockOptionError) {
        guard let bytes = Int(value), bytes >= 0 else {
            throw BlockOptionError("threshold takes a number of bytes, not '\(value)'")
        }
        threshold.store(bytes, ordering: .relaxed)
    }

    public override func optionValues() -> [(key: String, value: String)] {
        [("threshold", String(threshold.load(ordering: .relaxed)))]
    }
}
