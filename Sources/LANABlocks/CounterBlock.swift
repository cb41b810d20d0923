import CLANASupport
import LANACore

/// `counter`: forwards every packet and counts packets and bytes, per
/// engine and per direction, on arrival.
///
/// Engines write only their own 64-byte slot (no sharing, no atomics beyond
/// relaxed single-writer stores). `reset=1` does not touch the slots — that
/// would race with the engines — it records a baseline the totals are
/// reported against. A same-type `replace` carries the old block's totals
/// over, so counts continue.
public final class CounterBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "counter",
        summary: "forwards packets and counts packets and bytes per engine and direction",
        options: [.init("reset", "reset=1 sets the counters to zero")],
        configurator: .init(initial: { BlockConfiguration() }) { _, _, value throws(BlockOptionError) in
            // The only option is an action: nothing to configure.
            guard value == "1" else { throw BlockOptionError("reset takes the value 1, not '\(value)'") }
            return .act { block in (block as? CounterBlock)?.reset() }
        }
    ) { env in CounterBlock(engineCount: env.engineCount) }

    /// Slot layout: ingress packets, ingress bytes, egress packets, egress bytes.
    private static let slotWords = 8
    private let slots: UnsafeMutablePointer<UInt64>
    private let engineCount: Int
    /// Control-side adjustments (registry lock): carried over from replaced
    /// blocks, minus the baseline of the last reset.
    private var carried = Totals()
    private var baseline = Totals()

    public struct Totals: Equatable, Sendable {
        public var ingressPackets: UInt64 = 0
        public var ingressBytes: UInt64 = 0
        public var egressPackets: UInt64 = 0
        public var egressBytes: UInt64 = 0
        public var packets: UInt64 { ingressPackets &+ egressPackets }
        public var bytes: UInt64 { ingressBytes &+ egressBytes }

        static func + (a: Totals, b: Totals) -> Totals {
            Totals(ingressPackets: a.ingressPackets &+ b.ingressPackets, ingressBytes: a.ingressBytes &+ b.ingressBytes,
                   egressPackets: a.egressPackets &+ b.egressPackets, egressBytes: a.egressBytes &+ b.egressBytes)
        }

        static func - (a: Totals, b: Totals) -> Totals {
            Totals(ingressPackets: a.ingressPackets &- b.ingressPackets, ingressBytes: a.ingressBytes &- b.ingressBytes,
                   egressPackets: a.egressPackets &- b.egressPackets, egressBytes: a.egressBytes &- b.egressBytes)
        }
    }

    public init(engineCount: Int) {
        self.engineCount = engineCount
        let raw = UnsafeMutableRawPointer.allocate(byteCount: engineCount * Self.slotWords * 8, alignment: 64)
        slots = raw.bindMemory(to: UInt64.self, capacity: engineCount * Self.slotWords)
        slots.initialize(repeating: 0, count: engineCount * Self.slotWords)
    }

    deinit { slots.deallocate() }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let slot = slots + context.engine.index &* Self.slotWords
        var inPackets: UInt64 = 0, inBytes: UInt64 = 0, outPackets: UInt64 = 0, outBytes: UInt64 = 0
        var i = 0
        if let direction = burst.uniformDirection {
            // One direction for the whole burst: only the bytes to add up.
            var bytes: UInt64 = 0
            while i < burst.count {
                bytes &+= UInt64(burst[i].length)
                i &+= 1
            }
            if direction == .ingress {
                inPackets = UInt64(burst.count); inBytes = bytes
            } else {
                outPackets = UInt64(burst.count); outBytes = bytes
            }
        } else {
            while i < burst.count {
                let p = burst[i]
                let length = UInt64(p.length)
                if p.direction == .ingress {
                    inPackets &+= 1; inBytes &+= length
                } else {
                    outPackets &+= 1; outBytes &+= length
                }
                i &+= 1
            }
        }
        burst.forwardAll(context.ports)
        if inPackets != 0 {
            lana_add_owned_u64(slot, inPackets)
            lana_add_owned_u64(slot + 1, inBytes)
        }
        if outPackets != 0 {
            lana_add_owned_u64(slot + 2, outPackets)
            lana_add_owned_u64(slot + 3, outBytes)
        }
    }

    /// Counts of one engine since the block was created (raw slot values).
    public func engineTotals(_ engine: Int) -> Totals {
        let s = slots + engine * Self.slotWords
        return Totals(ingressPackets: lana_load_relaxed_u64(s), ingressBytes: lana_load_relaxed_u64(s + 1),
                      egressPackets: lana_load_relaxed_u64(s + 2), egressBytes: lana_load_relaxed_u64(s + 3))
    }

    /// What the status file and `fbctl show` report.
    public var totals: Totals {
        (0..<engineCount).reduce(carried) { $0 + engineTotals($1) } - baseline
    }

    /// `reset=1`: the totals from now on count from zero.
    func reset() {
        baseline = (0..<engineCount).reduce(carried) { $0 + engineTotals($1) }
    }

    public override func adoptState(from old: FunctionalBlock) {
        guard let old = old as? CounterBlock else { return }
        carried = carried + old.totals
    }

    public override func statusText() -> String? {
        let t = totals
        return "\(t.packets) \(t.bytes)\n"
    }

    public override func detailLines() -> [String] {
        let t = totals
        var lines = ["ingress packets=\(t.ingressPackets) bytes=\(t.ingressBytes)",
                     "egress packets=\(t.egressPackets) bytes=\(t.egressBytes)"]
        for e in 0..<engineCount {
            let s = engineTotals(e)
            lines.append("engine \(e) ingress packets=\(s.ingressPackets) bytes=\(s.ingressBytes) egress packets=\(s.egressPackets) bytes=\(s.egressBytes)")
        }
        return lines
    }
}
