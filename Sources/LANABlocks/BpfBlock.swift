// Unsafe code: the bpf block keeps its per-engine counters and scratch
// memory in raw memory.
//
// Invariants
// - The program and direction are the block's ``BpfConfiguration``, an
//   immutable value the registry publishes in the dispatch snapshot with
//   the block; the compiled code a configuration's `view` points into is
//   owned by that configuration, which the snapshot keeps alive for as
//   long as an engine may run it.
// - `slots` holds `engineCount` slots of `slotWords` words, 64-byte aligned;
//   engine `e` writes only slot `e` (single writer, relaxed stores), the
//   control thread only reads them. Words 8..<24 of a slot are the engine's
//   BPF scratch memory `M[]`.
// - `carried` is touched only on the control thread, under the registry's
//   lock.
import CLANASupport
import LANABPF
import LANACore

/// `bpf`: a classic BPF packet filter (docs/design.md §6).
///
/// Packets of a filtered direction run through the loaded program. A
/// non-zero result is a match and goes on through the default port; zero
/// goes to the side's no-match port (`up.nomatch`, `down.nomatch`) if one
/// is bound, else it is dropped as `filtered`. Packets of the other
/// direction pass unchanged.
///
/// Until a program is loaded the block passes everything, as the original
/// LANA `fb_bpf` did; the status file then shows that implicit program,
/// `ret #0xffffffff`. A program that fails to parse or verify is refused
/// and the loaded one stays (never a silent pass-all, docs/design.md §11).
public final class BpfBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "bpf",
        summary: "filters packets with a classic BPF program; non-matching ones go to the side's no-match port or are dropped",
        options: BpfConfiguration.options,
        extraPorts: [
            .init("up.nomatch", "ingress packets the program does not match (else dropped as filtered)", takesSecondBind: true),
            .init("down.nomatch", "egress packets the program does not match (else dropped as filtered)", takesSecondBind: true),
        ],
        configurator: BpfConfiguration.configurator
    ) { env in BpfBlock(engineCount: env.engineCount) }

    /// Indices of the no-match ports in ``BlockPorts/extra(_:)``, by direction.
    @usableFromInline static let noMatchPort = (ingress: 0, egress: 1)

    /// Which directions the program filters.
    public enum FilterDirection: String, Sendable, CaseIterable {
        case ingress, egress, both

        func filters(_ d: Direction) -> Bool {
            self == .both || (self == .ingress) == (d == .ingress)
        }
    }

    /// What the data path reads of the configuration, once per burst.
    struct Loaded {
        let view: BPFCompiledProgramView
        let filtersIngress: Bool
        let filtersEgress: Bool
        /// Environment fields the program reads (``Needs``).
        let needs: UInt8
    }

    /// Bits of ``Loaded/needs``.
    enum Needs {
        static let `protocol`: UInt8 = 1
        static let packetType: UInt8 = 2
        static let interfaceIndex: UInt8 = 4
        static let mark: UInt8 = 8
        static let vlan: UInt8 = 16
    }

    /// Counters: matched, not matched (to the no-match port or dropped),
    /// passed unfiltered, the `#rand` state; then 16 words of scratch memory.
    static let slotWords = 24
    static let scratchOffset = 8
    let slots: UnsafeMutablePointer<UInt64>
    let engineCount: Int
    /// Counts carried over from blocks this one replaced.
    var carried = Totals()

    public init(engineCount: Int) {
        self.engineCount = engineCount
        let raw = UnsafeMutableRawPointer.allocate(byteCount: engineCount * Self.slotWords * 8, alignment: 64)
        slots = raw.bindMemory(to: UInt64.self, capacity: engineCount * Self.slotWords)
        slots.initialize(repeating: 0, count: engineCount * Self.slotWords)
    }

    deinit { slots.deallocate() }

    // MARK: Control path (BpfBlock+Control.swift)

    public override func adoptState(from old: FunctionalBlock) {
        if let old = old as? BpfBlock { carried = carried + old.totals }
    }

    public override func detailLines() -> [String] { counterLines() }

    // MARK: Data path

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let loaded = context.withConfiguration(BpfConfiguration.self) { $0.loaded }
        let slot = slots + context.engine.index &* Self.slotWords
        let scratch = UnsafeMutableRawPointer(slot + Self.scratchOffset).assumingMemoryBound(to: UInt32.self)
        let ports = context.ports
        var env = BPFEnvironment()
        env.cpu = UInt32(truncatingIfNeeded: context.engine.index)
        let seed = slot[3]
        if seed != 0 { env.randomState = seed }
        let startState = env.randomState
        var matched: UInt64 = 0, unmatched: UInt64 = 0, passed: UInt64 = 0
        var i = 0
        while i < burst.count {
            let p = burst[i]
            let d = p.direction
            if !(d == .ingress ? loaded.filtersIngress : loaded.filtersEgress) {
                passed &+= 1
                p.verdict = ports.verdict(for: d)
                i &+= 1
                continue
            }
            let bytes = p.bytes
            let base = UnsafeRawPointer(bytes.baseAddress!)
            if loaded.needs != 0 { Self.fill(&env, loaded.needs, p, UnsafeRawBufferPointer(bytes)) }
            if loaded.view.run(base, length: bytes.count, &env, scratch: scratch) != 0 {
                matched &+= 1
                p.verdict = ports.verdict(for: d)
            } else {
                unmatched &+= 1
                let other = ports.extra(d == .ingress ? Self.noMatchPort.ingress : Self.noMatchPort.egress)
                p.verdict = other.isNone ? .drop(.filtered) : .forward(other)
            }
            i &+= 1
        }
        if matched != 0 { lana_add_owned_u64(slot, matched) }
        if unmatched != 0 { lana_add_owned_u64(slot + 1, unmatched) }
        if passed != 0 { lana_add_owned_u64(slot + 2, passed) }
        if env.randomState != startState { lana_store_relaxed_u64(slot + 3, env.randomState) }
    }

    /// Fills the `sk_buff`-like fields the program reads: `#proto`, the
    /// `#vlan_*` values and where `#poff` starts from the frame's headers,
    /// `#type` from direction and destination address, `#ifidx` and
    /// `#mark` from the packet's metadata. `#cpu` is the engine number;
    /// `#queue` and `#rxhash` are 0.
    ///
    /// A frame going ingress came from an interface as it was on the wire,
    /// its VLAN tag put back where the kernel had taken it out: the VLAN
    /// values and `#proto` are what the kernel had (the outer tag, the
    /// EtherType behind it; see ``BPFEnvironment/setReceivedEthernet(_:)``).
    /// Going egress, a tag in the frame stays in it, as when the kernel
    /// sends a frame a packet socket wrote: no out-of-band tag.
    @inline(__always)
    static func fill(_ env: inout BPFEnvironment, _ needs: UInt8, _ p: Packet, _ frame: UnsafeRawBufferPointer) {
        if needs & (Needs.protocol | Needs.vlan) != 0 {
            if p.direction == .ingress {
                env.setReceivedEthernet(frame)
            } else {
                env.protocol = BPFEnvironment.ethernetProtocol(frame)
                env.vlanPresent = false
                env.vlanTPID = 0
                env.vlanTCI = 0
                env.networkOffset = 14
            }
        }
        if needs & Needs.packetType != 0 { env.packetType = BPFEnvironment.packetType(frame, outgoing: p.direction == .egress) }
        if needs & Needs.interfaceIndex != 0 { env.interfaceIndex = p.ifindex }
        if needs & Needs.mark != 0 { env.mark = p.mark }
    }
}
