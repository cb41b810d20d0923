import LANABPF
import LANACore

/// A bpf block's options: the loaded program, compiled (to machine code
/// where the processor has an emitter, unless `jit=off`), and the
/// directions it filters. Immutable; every accepted `set` makes a new one, which the
/// registry publishes with the block (see ``BlockConfiguration``). The
/// compiled code the engines run lives as long as the configuration, which
/// the snapshots that hold it keep alive for every engine still using it.
public final class BpfConfiguration: BlockConfiguration, @unchecked Sendable {
    /// Where the loaded program came from (for `fbctl show`).
    public enum Origin: Equatable, Sendable {
        /// No program loaded yet: the implicit `ret #0xffffffff`.
        case initial
        /// `bpf=` or `bpf64=`.
        case source
        /// A tcpdump expression, compiled by the client.
        case filter(String)
    }

    public let program: BPFProgram
    public let origin: Origin
    public let direction: BpfBlock.FilterDirection
    /// Whether the program is to run as machine code (`jit=on`, the
    /// default); it does if the processor has an emitter too.
    public let jit: Bool
    let compiled: BPFCompiledProgram
    /// What `process` reads, once per burst.
    let loaded: BpfBlock.Loaded

    init(program: BPFProgram, origin: Origin, direction: BpfBlock.FilterDirection, jit: Bool) {
        self.program = program
        self.origin = origin
        self.direction = direction
        self.jit = jit
        compiled = BPFCompiledProgram(program, native: jit)
        var needs: UInt8 = 0
        for use in compiled.uses {
            switch use {
            case .protocol, .payloadOffset: needs |= BpfBlock.Needs.protocol
            case .packetType: needs |= BpfBlock.Needs.packetType
            case .interfaceIndex: needs |= BpfBlock.Needs.interfaceIndex
            case .mark: needs |= BpfBlock.Needs.mark
            case .vlanTag, .vlanTagPresent, .vlanTPID: needs |= BpfBlock.Needs.vlan
            default: break
            }
        }
        loaded = BpfBlock.Loaded(view: compiled.unownedView, filtersIngress: direction.filters(.ingress),
                                 filtersEgress: direction.filters(.egress), needs: needs)
    }

    /// The program a new block runs: match everything.
    public static let initialProgram = try! BPFProgram([BPFInstruction(code: BPFOpcode.ret | BPFOpcode.retK, k: 0xFFFF_FFFF)])

    static let options: [BlockType.Option] = [
        .init("bpf", "bpf=<program>: { code, jt, jf, k } tuples (bpfc, tcpdump -dd) or bpfc assembly; fbctl reads @file or - (stdin)"),
        .init("filter", "filter=<expression>: a tcpdump filter expression, compiled with libpcap for Ethernet by fbctl (lanad itself refuses it)"),
        .init("filter64", "filter64=<base64> <expression>: the program fbctl compiled from a filter= expression, and the expression"),
        .init("bpf64", "bpf64=<base64>: instructions as 8-byte big-endian records (code, jt, jf, k); how fbctl sends programs too long as text"),
        .init("direction", "direction=ingress|egress|both: which packets are filtered (default both); the others pass"),
        .init("jit", "jit=on|off: run the program as machine code compiled for this processor (default on where available: x86-64) or in the interpreter"),
    ]

    static let configurator = BlockType.Configurator(
        initial: { BpfConfiguration(program: initialProgram, origin: .initial, direction: .both, jit: true) },
        apply: { current, key, value throws(BlockOptionError) in
            .configure(try (current as! BpfConfiguration).setting(key, value))
        })

    /// The configuration after `key=value`: parsed, verified and compiled
    /// here, once; nothing reaches a block unless all of it succeeded.
    func setting(_ key: String, _ value: String) throws(BlockOptionError) -> BpfConfiguration {
        switch key {
        case "bpf":
            do {
                return BpfConfiguration(program: try BPFProgram(source: value), origin: .source, direction: direction, jit: jit)
            } catch {
                throw BlockOptionError("program refused, the loaded one stays: \(error)")
            }
        case "bpf64":
            do {
                return BpfConfiguration(program: try BPFProgram(base64: value), origin: .source, direction: direction, jit: jit)
            } catch {
                throw BlockOptionError("program refused, the loaded one stays: \(error)")
            }
        case "filter":
            do {
                return BpfConfiguration(program: try BPFProgram(filter: value), origin: .filter(value), direction: direction, jit: jit)
            } catch {
                throw BlockOptionError("filter refused, the loaded program stays: \(error)")
            }
        case "filter64":
            do {
                let (program, expression) = try CompiledFilterOption.parse(value)
                return BpfConfiguration(program: program, origin: .filter(expression), direction: direction, jit: jit)
            } catch {
                throw BlockOptionError("filter refused, the loaded program stays: \(error)")
            }
        case "direction":
            guard let d = BpfBlock.FilterDirection(rawValue: value) else {
                throw BlockOptionError("direction takes ingress, egress or both, not '\(value)'")
            }
            return BpfConfiguration(program: program, origin: origin, direction: d, jit: jit)
        case "jit":
            return BpfConfiguration(program: program, origin: origin, direction: direction,
                                    jit: try OnOff.parse(value, option: key))
        default:
            throw BlockOptionError("unknown option \(key)")
        }
    }

    public override var values: [(key: String, value: String)] {
        let source: String
        switch origin {
        case .initial: source = "none"
        case .source: source = "bpf"
        case .filter: source = "filter"
        }
        return [("direction", direction.rawValue), ("program", source), ("instructions", String(program.count)),
                ("jit", jit ? "on" : "off"), ("machine", compiled.machine.rawValue)]
    }

    /// The status file: the loaded program as `{ 0x28, 0, 0, 0x0000000c },`
    /// lines, the form `bpfc` prints and `bpf=` reads back.
    public override var statusText: String? { program.tuples }

    public override var detailLines: [String] {
        switch origin {
        case .initial: return ["no program loaded: every packet matches"]
        case .source: return []
        case .filter(let expression): return ["filter: \(expression)"]
        }
    }
}
