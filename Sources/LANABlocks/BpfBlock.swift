// Unsafe code: the bpf block keeps its data-path configuration and its
// per-engine counters in raw memory.
//
// Invariants
// - `current` always points at an initialized `BpfBlock.Loaded`, written
//   completely before it is published with a releasing store and never
//   changed afterwards. Engines read it with an acquiring load once per
//   burst and use it only until the end of that burst.
// - A replaced `Loaded` (and the compiled program whose code its view
//   points into) goes to `retired` and is freed only in `reclaimRetired()`,
//   which the registry calls after a grace period that followed the
//   change, or in `deinit`, which runs after the block left every snapshot
//   and a grace period passed. The compiled program a `Loaded` points into
//   stays alive with it: `published` for the current one, the `retired`
//   entry for a replaced one.
// - `slots` holds `engineCount` slots of `slotWords` words, 64-byte aligned;
//   engine `e` writes only slot `e` (single writer, relaxed stores), the
//   control thread only reads them. Words 8..<24 of a slot are the engine's
//   BPF scratch memory `M[]`.
// - All control-side state (`program`, `direction`, `retired`, …) is touched
//   only on the control thread, under the registry's lock.
import CLANASupport
import LANABPF
import LANACore
import Synchronization

/// `bpf`: a classic BPF packet filter (spec §6, thesis 5.4.3).
///
/// Packets of a filtered direction run through the loaded program. A
/// non-zero result is a match and goes on to `port[dir]`; zero goes to the
/// side's no-match port (the second block bound on that side) if there is
/// one, else it is dropped as `filtered`. Packets of the other direction
/// pass unchanged.
///
/// Until a program is loaded the block passes everything, as the original
/// LANA `fb_bpf` did; the status file then shows that implicit program,
/// `ret #0xffffffff`. A program that fails to parse or verify is refused
/// and the loaded one stays (never a silent pass-all, flaw §11).
public final class BpfBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "bpf",
        summary: "filters packets with a classic BPF program; non-matching ones go to a second block bound on the same side or are dropped",
        options: [
            .init("bpf", "bpf=<program>: { code, jt, jf, k } tuples (bpfc, tcpdump -dd) or bpfc assembly; fbctl reads @file or - (stdin)"),
            .init("filter", "filter=<expression>: a tcpdump filter expression, compiled with libpcap for Ethernet by fbctl (lanad itself refuses it)"),
            .init("filter64", "filter64=<base64> <expression>: the program fbctl compiled from a filter= expression, and the expression"),
            .init("bpf64", "bpf64=<base64>: instructions as 8-byte big-endian records (code, jt, jf, k); how fbctl sends programs too long as text"),
            .init("direction", "direction=ingress|egress|both: which packets are filtered (default both); the others pass"),
        ],
        hasSecondaryPorts: true
    ) { env in BpfBlock(engineCount: env.engineCount) }

    /// Which directions the program filters.
    public enum FilterDirection: String, Sendable, CaseIterable {
        case ingress, egress, both

        func filters(_ d: Direction) -> Bool {
            self == .both || (self == .ingress) == (d == .ingress)
        }
    }

    /// What the engines use, published as one immutable unit.
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
    }

    /// Counters: matched, not matched (to the no-match port or dropped),
    /// passed unfiltered, the `#rand` state; then 16 words of scratch memory.
    static let slotWords = 24
    static let scratchOffset = 8
    let slots: UnsafeMutablePointer<UInt64>
    let engineCount: Int
    let current: Atomic<UnsafeMutablePointer<Loaded>>

    // Control side (registry lock).
    var program: BPFProgram
    var compiled: BPFCompiledProgram
    /// The compiled program the published `Loaded` points into.
    var published: BPFCompiledProgram
    var origin: Origin = .initial
    var direction: FilterDirection = .both
    var retired: [(loaded: UnsafeMutablePointer<Loaded>, program: BPFCompiledProgram)] = []
    /// Counts carried over from blocks this one replaced.
    var carried = Totals()

    /// Where the loaded program came from (for `fbctl show`).
    enum Origin: Equatable {
        case initial
        case source
        case filter(String)
    }

    /// The program a new block runs: match everything.
    public static let initialProgram = try! BPFProgram([BPFInstruction(code: BPFOpcode.ret | BPFOpcode.retK, k: 0xFFFF_FFFF)])

    public init(engineCount: Int) {
        self.engineCount = engineCount
        let raw = UnsafeMutableRawPointer.allocate(byteCount: engineCount * Self.slotWords * 8, alignment: 64)
        slots = raw.bindMemory(to: UInt64.self, capacity: engineCount * Self.slotWords)
        slots.initialize(repeating: 0, count: engineCount * Self.slotWords)
        program = Self.initialProgram
        compiled = BPFCompiledProgram(program)
        published = compiled
        current = Atomic(Self.makeLoaded(compiled, direction: .both))
    }

    deinit {
        let last = current.load(ordering: .acquiring)
        last.deinitialize(count: 1)
        last.deallocate()
        for r in retired {
            r.loaded.deinitialize(count: 1)
            r.loaded.deallocate()
        }
        slots.deallocate()
    }

    static func makeLoaded(_ compiled: BPFCompiledProgram, direction: FilterDirection) -> UnsafeMutablePointer<Loaded> {
        var needs: UInt8 = 0
        for use in compiled.uses {
            switch use {
            case .protocol, .payloadOffset: needs |= Needs.protocol
            case .packetType: needs |= Needs.packetType
            case .interfaceIndex: needs |= Needs.interfaceIndex
            case .mark: needs |= Needs.mark
            default: break
            }
        }
        let p = UnsafeMutablePointer<Loaded>.allocate(capacity: 1)
        p.initialize(to: Loaded(view: compiled.unownedView, filtersIngress: direction.filters(.ingress),
                                filtersEgress: direction.filters(.egress), needs: needs))
        return p
    }

    // MARK: Control path (BpfBlock+Control.swift)

    public override func setOption(_ key: String, _ value: String) throws(BlockOptionError) {
        try applyOption(key, value)
    }

    public override func reclaimRetired() { freeRetired() }

    public override func adoptState(from old: FunctionalBlock) {
        if let old = old as? BpfBlock { adopt(from: old) }
    }

    public override func optionValues() -> [(key: String, value: String)] { settings() }

    public override func statusText() -> String? { programText() }

    public override func detailLines() -> [String] { counterLines() }

    // MARK: Data path

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let loaded = current.load(ordering: .acquiring).pointee
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
                let other = ports.secondary(d)
                p.verdict = other.isNone ? .drop(.filtered) : .forward(other)
            }
            i &+= 1
        }
        if matched != 0 { lana_add_owned_u64(slot, matched) }
        if unmatched != 0 { lana_add_owned_u64(slot + 1, unmatched) }
        if passed != 0 { lana_add_owned_u64(slot + 2, passed) }
        if env.randomState != startState { lana_store_relaxed_u64(slot + 3, env.randomState) }
    }

    /// Fills the `sk_buff`-like fields the program reads: `#proto` from the
    /// frame's EtherType, `#type` from direction and destination address,
    /// `#ifidx` and `#mark` from the packet's metadata. `#cpu` is the engine
    /// number; `#queue`, `#rxhash` and the out-of-band VLAN fields are 0.
    @inline(__always)
    static func fill(_ env: inout BPFEnvironment, _ needs: UInt8, _ p: Packet, _ frame: UnsafeRawBufferPointer) {
        if needs & Needs.protocol != 0 { env.protocol = BPFEnvironment.ethernetProtocol(frame) }
        if needs & Needs.packetType != 0 { env.packetType = BPFEnvironment.packetType(frame, outgoing: p.direction == .egress) }
        if needs & Needs.interfaceIndex != 0 { env.interfaceIndex = p.ifindex }
        if needs & Needs.mark != 0 { env.mark = p.mark }
    }
}
