import CLANASupport

/// A block's counters, one cache-line-padded slot of `words` 64-bit words
/// per engine. Each engine writes only its own slot (plain relaxed stores,
/// no atomics shared between cores); the control thread reads them all.
/// Owned by its block and freed with it.
struct EngineCounterSlots: @unchecked Sendable {
    private let base: UnsafeMutablePointer<UInt64>
    let engineCount: Int
    /// Words per slot, rounded up to whole cache lines.
    private let stride: Int

    init(engineCount: Int, words: Int) {
        self.engineCount = engineCount
        stride = (words + 7) / 8 * 8
        let raw = UnsafeMutableRawPointer.allocate(byteCount: engineCount * stride * 8, alignment: 64)
        base = raw.bindMemory(to: UInt64.self, capacity: engineCount * stride)
        base.initialize(repeating: 0, count: engineCount * stride)
    }

    func deallocate() { base.deallocate() }

    /// Engine `engine` adds `n` to word `word` of its slot.
    @inline(__always)
    func add(_ engine: Int, _ word: Int, _ n: UInt64 = 1) {
        lana_add_owned_u64(base + (engine &* stride &+ word), n)
    }

    func value(_ engine: Int, _ word: Int) -> UInt64 {
        lana_load_relaxed_u64(base + engine * stride + word)
    }

    func total(_ word: Int) -> UInt64 {
        (0..<engineCount).reduce(0) { $0 &+ value($1, word) }
    }
}
