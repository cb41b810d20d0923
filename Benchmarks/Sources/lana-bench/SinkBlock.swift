import LANACore

/// `bench-sink`: the terminal block of the benchmark graph. It does what a
/// real terminal block (an interface's transmit, a socket's delivery) does
/// with a packet once it is done: takes ownership (verdict `consumed`),
/// returns the buffer to the engine's pool and counts the packet as
/// delivered in the engine's statistics.
final class BenchSinkBlock: FunctionalBlock, @unchecked Sendable {
    static let type = BlockType(
        name: "bench-sink",
        summary: "consumes every packet: frees its buffer and counts it as delivered"
    ) { _ in BenchSinkBlock() }

    override func process(_ burst: Burst, _ context: BlockContext) {
        burst.consumeAll()
    }
}
