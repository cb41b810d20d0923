/// One classic BPF instruction, bit for bit the kernel's `struct sock_filter`
/// and libpcap's `struct bpf_insn`: a 16-bit opcode, two 8-bit jump offsets
/// and a 32-bit constant.
///
/// A program is an array of these. The opcode combines an instruction class
/// (load, store, ALU, jump, return, misc) with a size, an addressing mode or
/// an operation, and a source (the constant `k` or the index register X);
/// ``BPFOpcode`` names the parts. Conditional jumps go forward `jt` or `jf`
/// instructions past the next one; `ja` goes `k` past it.
///
/// The textual form used by `bpfc`, `tcpdump -dd` and LANA's `bpf` status
/// file is ``tuple``: `{ 0x28, 0, 0, 0x0000000c },`.
public struct BPFInstruction: Hashable, Sendable, CustomStringConvertible {
    public var code: UInt16
    public var jt: UInt8
    public var jf: UInt8
    public var k: UInt32

    @inlinable
    public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32 = 0) {
        self.code = code; self.jt = jt; self.jf = jf; self.k = k
    }

    @inlinable
    public init(_ code: UInt16, _ jt: UInt8, _ jf: UInt8, _ k: UInt32) {
        self.code = code; self.jt = jt; self.jf = jf; self.k = k
    }

    /// The instruction class: ``BPFOpcode/ld`` … ``BPFOpcode/misc``.
    @inlinable public var instructionClass: UInt16 { code & 0x07 }

    /// Whether this is a conditional jump (`jeq`, `jgt`, `jge`, `jset`),
    /// the only instructions that use `jt` and `jf`.
    @inlinable public var isConditionalJump: Bool {
        instructionClass == BPFOpcode.jmp && code & 0xF0 != BPFOpcode.ja
    }

    /// `{ 0x28, 0, 0, 0x0000000c },` — the line `bpfc` and `tcpdump -dd`
    /// print: opcode in unpadded hex, offsets in decimal, `k` in eight hex
    /// digits.
    public var tuple: String {
        let k = String(self.k, radix: 16)
        return "{ 0x\(String(code, radix: 16)), \(jt), \(jf), 0x\(String(repeating: "0", count: 8 - k.count))\(k) },"
    }

    public var description: String { tuple }
}

/// The parts of a classic BPF opcode (`<linux/bpf_common.h>`).
public enum BPFOpcode {
    // Classes (bits 0-2).
    public static let ld: UInt16 = 0x00
    public static let ldx: UInt16 = 0x01
    public static let st: UInt16 = 0x02
    public static let stx: UInt16 = 0x03
    public static let alu: UInt16 = 0x04
    public static let jmp: UInt16 = 0x05
    public static let ret: UInt16 = 0x06
    public static let misc: UInt16 = 0x07

    // Load sizes (bits 3-4).
    public static let w: UInt16 = 0x00
    public static let h: UInt16 = 0x08
    public static let b: UInt16 = 0x10

    // Load modes (bits 5-7).
    public static let imm: UInt16 = 0x00
    public static let abs: UInt16 = 0x20
    public static let ind: UInt16 = 0x40
    public static let mem: UInt16 = 0x60
    public static let len: UInt16 = 0x80
    public static let msh: UInt16 = 0xA0

    // ALU operations (bits 4-7).
    public static let add: UInt16 = 0x00
    public static let sub: UInt16 = 0x10
    public static let mul: UInt16 = 0x20
    public static let div: UInt16 = 0x30
    public static let or: UInt16 = 0x40
    public static let and: UInt16 = 0x50
    public static let lsh: UInt16 = 0x60
    public static let rsh: UInt16 = 0x70
    public static let neg: UInt16 = 0x80
    public static let mod: UInt16 = 0x90
    public static let xor: UInt16 = 0xA0

    // Jump operations (bits 4-7).
    public static let ja: UInt16 = 0x00
    public static let jeq: UInt16 = 0x10
    public static let jgt: UInt16 = 0x20
    public static let jge: UInt16 = 0x30
    public static let jset: UInt16 = 0x40

    // Operand source (bit 3) of ALU and jump instructions.
    public static let k: UInt16 = 0x00
    public static let x: UInt16 = 0x08

    // Return value source (bits 3-4).
    public static let retK: UInt16 = 0x00
    public static let retX: UInt16 = 0x08
    public static let retA: UInt16 = 0x10

    // Misc operations.
    public static let tax: UInt16 = 0x00
    public static let txa: UInt16 = 0x80
}

/// The Linux socket filter's special load offsets (`<linux/filter.h>`).
///
/// An absolute load (`ld`, `ldh`, `ldb` with `[k]`) whose `k` lies at or
/// above `SKF_AD_OFF` (-4096) reads a property of the packet instead of its
/// bytes; `bpfc` writes them `#proto`, `#ifidx`, …. Offsets from
/// `SKF_NET_OFF` (-0x100000) count from the network header, offsets from
/// `SKF_LL_OFF` (-0x200000) from the link-layer header.
public enum BPFAncillary: UInt32, CaseIterable, Sendable, CustomStringConvertible {
    /// EtherType as the kernel's `skb->protocol` (`#proto`).
    case `protocol` = 0
    /// Packet class: host, broadcast, multicast, other host, outgoing (`#type`).
    case packetType = 4
    /// Interface index the packet arrived on (`#ifidx`).
    case interfaceIndex = 8
    /// Offset of the netlink attribute of type X at offset A (`#nla`).
    case netlinkAttribute = 12
    /// The same inside the nested attribute at offset A (`#nlan`).
    case netlinkNestedAttribute = 16
    /// The packet's mark (`#mark`).
    case mark = 20
    /// Receive queue (`#queue`).
    case queue = 24
    /// ARP hardware type of the device, 1 for Ethernet (`#hatype`).
    case hardwareType = 28
    /// Flow hash (`#rxhash`).
    case rxHash = 32
    /// CPU running the filter (`#cpu`).
    case cpu = 36
    /// A ^= X: an ALU operation smuggled in as a load (no bpfc name).
    case xorX = 40
    /// VLAN TCI of a tag the hardware or stack took out of the frame (`#vlan_tci`).
    case vlanTag = 44
    /// 1 if such a tag exists (`#vlan_pr`, bpfc's `vlanp`).
    case vlanTagPresent = 48
    /// Offset of the transport payload (`#poff`).
    case payloadOffset = 52
    /// A pseudo-random number (`#rand`).
    case random = 56
    /// TPID of the out-of-frame VLAN tag (`#vlan_tpid`).
    case vlanTPID = 60

    /// `SKF_AD_OFF` as an unsigned `k`.
    public static let base: UInt32 = 0xFFFF_F000
    /// `SKF_NET_OFF`: loads from here up to ``base`` read from the network header.
    public static let networkBase: UInt32 = 0xFFF0_0000
    /// `SKF_LL_OFF`: loads from here up to ``networkBase`` read from the link-layer header.
    public static let linkLayerBase: UInt32 = 0xFFE0_0000

    /// The `k` of an absolute load of this value.
    @inlinable public var offset: UInt32 { Self.base &+ rawValue }

    /// The extension an absolute load of `k` reads, if any.
    @inlinable
    public init?(offset k: UInt32) {
        guard k >= Self.base, (k - Self.base) & 3 == 0 else { return nil }
        self.init(rawValue: k - Self.base)
    }

    /// The name after `#` in assembly; accepted by both `bpfc` and LANA's
    /// assembler except `rand`, `vlan_tpid` and `xor_x` (LANA only).
    public var name: String {
        switch self {
        case .protocol: return "proto"
        case .packetType: return "type"
        case .interfaceIndex: return "ifidx"
        case .netlinkAttribute: return "nla"
        case .netlinkNestedAttribute: return "nlan"
        case .mark: return "mark"
        case .queue: return "queue"
        case .hardwareType: return "hatype"
        case .rxHash: return "rxhash"
        case .cpu: return "cpu"
        case .xorX: return "xor_x"
        case .vlanTag: return "vlan_tci"
        case .vlanTagPresent: return "vlanp"
        case .payloadOffset: return "poff"
        case .random: return "rand"
        case .vlanTPID: return "vlan_tpid"
        }
    }

    public var description: String { "#" + name }

    /// Every spelling the assembler accepts, lowercased: `bpfc`'s names and
    /// abbreviations plus the Linux kernel's `bpf_asm` names.
    public static let spellings: [String: BPFAncillary] = [
        "proto": .protocol, "pto": .protocol,
        "type": .packetType,
        "ifidx": .interfaceIndex, "ifx": .interfaceIndex,
        "nla": .netlinkAttribute,
        "nlan": .netlinkNestedAttribute,
        "mark": .mark,
        "queue": .queue, "que": .queue, "q": .queue,
        "hatype": .hardwareType, "hat": .hardwareType,
        "rxhash": .rxHash, "rxh": .rxHash,
        "cpu": .cpu,
        "xor_x": .xorX,
        "vlan_tci": .vlanTag, "vlant": .vlanTag,
        "vlanp": .vlanTagPresent, "vlana": .vlanTagPresent, "vlan_acc": .vlanTagPresent,
        "vlan_pr": .vlanTagPresent, "vlan_avail": .vlanTagPresent,
        "poff": .payloadOffset,
        "rand": .random, "random": .random,
        "vlan_tpid": .vlanTPID,
    ]
}
