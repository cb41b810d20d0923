import CLANASupport
import LANABPF
import LANACore

// The bpf block's control side: its counters for `fbctl show` and state
// moving on `replace`. Runs on the control thread under the registry lock.
extension BpfBlock {
    /// Packet counts, summed over engines or for one engine.
    public struct Totals: Equatable, Sendable {
        /// Filtered packets the program matched (sent to `port[dir]`).
        public var matched: UInt64 = 0
        /// Filtered packets it did not match (no-match port, or dropped).
        public var notMatched: UInt64 = 0
        /// Packets of a direction the block does not filter.
        public var passed: UInt64 = 0

        static func + (a: Totals, b: Totals) -> Totals {
            Totals(matched: a.matched &+ b.matched, notMatched: a.notMatched &+ b.notMatched, passed: a.passed &+ b.passed)
        }
    }

    /// Counts of one engine since the block was created.
    public func engineTotals(_ engine: Int) -> Totals {
        let s = slots + engine * Self.slotWords
        return Totals(matched: lana_load_relaxed_u64(s), notMatched: lana_load_relaxed_u64(s + 1),
                      passed: lana_load_relaxed_u64(s + 2))
    }

    /// Counts over all engines, including those of replaced blocks.
    public var totals: Totals {
        (0..<engineCount).reduce(carried) { $0 + engineTotals($1) }
    }

    func counterLines() -> [String] {
        let t = totals
        var lines: [String] = []
        lines.append("matched=\(t.matched) not-matched=\(t.notMatched) passed=\(t.passed)")
        for e in 0..<engineCount {
            let s = engineTotals(e)
            lines.append("engine \(e) matched=\(s.matched) not-matched=\(s.notMatched) passed=\(s.passed)")
        }
        return lines
    }
}
