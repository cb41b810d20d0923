import CLANASupport
import LANACore
import LANAPosix

/// `eth`: a network interface in the graph, the block of an
/// ``EthernetDevice`` (`vlink ethernet hook <ifname>`), named after the
/// interface.
///
/// Ingress: each engine has its own ``EthSource`` — an `AF_PACKET` socket
/// with a `TPACKET_V3` receive ring in one fanout group — whose frames enter
/// the graph here and go on through its `up` port (they end here, counted
/// as `ended`, if nothing is bound). Egress: packets reaching the block going egress are
/// copied into the engine's own transmit ring and sent with one system call
/// per burst. The host's own stack keeps seeing the interface's traffic.
public final class EthBlock: FunctionalBlock, LinkBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "eth",
        summary: "a hooked network interface: frames in at ingress, egress packets transmitted",
        portFamilies: [
            .init(prefix: "up.type.", placeholder: "<ethertype>",
                  help: "received frames of one EtherType (0x0806 or decimal); the others go to up",
                  key: { parseUInt16Key($0).map(UInt32.init) }),
        ],
        configurator: EthConfiguration.configurator,
        isDevice: true
    ) { _ in preconditionFailure("eth blocks are made by the ethernet device kind (EthernetDevice), never by the registry") }

    public let interfaceName: String
    public let interfaceIndex: Int32
    /// The interface's MAC address when it was hooked.
    public let linkAddress: MACAddress
    private let transmitterOwners: [PacketTransmitter]
    private let transmitters: UnsafeMutablePointer<Unmanaged<PacketTransmitter>>
    private let engineCount: Int
    /// Per engine: see `Slot`; written only by that engine.
    let counters: UnsafeMutablePointer<UInt64>
    static let slotWords = 8
    /// `prefetch`: 1 when the engine's receive loop prefetches frames
    /// (``EthConfiguration``), set by the block's own call on that engine.
    enum Slot: Int { case rxPackets = 0, rxBytes, txPackets, txBytes, txErrors, rxDropped, prefetch }

    /// - Parameter transmitters: one per engine (empty: egress packets are
    ///   dropped as `transmit-error`).
    public init(interfaceName: String, interfaceIndex: Int32, linkAddress: MACAddress,
                transmitters: [PacketTransmitter], engineCount: Int) {
        self.interfaceName = interfaceName
        self.interfaceIndex = interfaceIndex
        self.linkAddress = linkAddress
        self.engineCount = engineCount
        transmitterOwners = transmitters
        self.transmitters = .allocate(capacity: Swift.max(transmitters.count, 1))
        for (i, t) in transmitters.enumerated() { (self.transmitters + i).initialize(to: Unmanaged.passUnretained(t)) }
        counters = .allocate(capacity: engineCount * Self.slotWords)
        counters.initialize(repeating: 0, count: engineCount * Self.slotWords)
    }

    deinit {
        transmitters.deallocate()
        counters.deallocate()
    }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let ports = context.ports
        // What the binds say of prefetching, for this engine's next walk of
        // the ring (a hint: a burst late after a bind is harmless).
        let flag = counters + (context.engine.index &* Self.slotWords &+ Slot.prefetch.rawValue)
        let prefetch: UInt64 = context.withConfiguration(EthConfiguration.self) { $0.prefetch } ? 1 : 0
        if _slowPath(flag.pointee != prefetch) { flag.pointee = prefetch }
        // Frames fresh from the interface: all go up, decided once — unless
        // blocks are bound to EtherTypes of their own.
        if burst.uniformDirection == .ingress {
            if !ports.hasMembers {
                burst.forwardAll(ports)
                return
            }
            var i = 0
            while i < burst.count {
                let p = burst[i]
                p.verdict = Self.upward(p, ports)
                i &+= 1
            }
            return
        }
        let engine = context.engine.index
        let slot = counters + engine &* Self.slotWords
        let canSend = engine < transmitterOwners.count
        var sent = 0, bytes = 0, failed = 0
        var i = 0
        while i < burst.count {
            let p = burst[i]
            if p.direction == .ingress {
                p.verdict = Self.upward(p, ports)
            } else if canSend, transmitters[engine]._withUnsafeGuaranteedRef({ $0.enqueue(UnsafeRawBufferPointer(p.bytes)) }) {
                sent &+= 1
                bytes &+= p.length
                p.verdict = .consumed
                context.engine.free(p)
            } else {
                failed &+= 1
                p.verdict = .drop(.transmitError)
            }
            i &+= 1
        }
        if sent > 0 {
            // A refused flush leaves the frames queued for the next one;
            // the transmitter counts it (`sendErrors`).
            _ = transmitters[engine]._withUnsafeGuaranteedRef { try? $0.flush() }
            context.engine.countDelivered(sent)
            lana_add_owned_u64(slot + Slot.txPackets.rawValue, UInt64(sent))
            lana_add_owned_u64(slot + Slot.txBytes.rawValue, UInt64(bytes))
        }
        if failed > 0 { lana_add_owned_u64(slot + Slot.txErrors.rawValue, UInt64(failed)) }
    }

    /// The upper port for a received frame: its EtherType's, else `up`.
    @inline(__always)
    static func upward(_ p: Packet, _ ports: BlockPorts) -> Verdict {
        if ports.hasMembers, let type = p.loadUInt16(at: 12) {
            let typed = ports.member(UInt32(type))
            if !typed.isNone { return .forward(typed) }
        }
        return ports.verdict(for: .ingress)
    }

    /// Totals over engines: received, transmitted, transmit errors.
    public struct Totals: Sendable, Equatable {
        public var rxPackets: UInt64 = 0, rxBytes: UInt64 = 0, rxDropped: UInt64 = 0
        public var txPackets: UInt64 = 0, txBytes: UInt64 = 0, txErrors: UInt64 = 0
    }

    public var totals: Totals {
        var t = Totals()
        for e in 0..<engineCount {
            let s = counters + e * Self.slotWords
            t.rxPackets &+= lana_load_relaxed_u64(s + Slot.rxPackets.rawValue)
            t.rxBytes &+= lana_load_relaxed_u64(s + Slot.rxBytes.rawValue)
            t.rxDropped &+= lana_load_relaxed_u64(s + Slot.rxDropped.rawValue)
            t.txPackets &+= lana_load_relaxed_u64(s + Slot.txPackets.rawValue)
            t.txBytes &+= lana_load_relaxed_u64(s + Slot.txBytes.rawValue)
            t.txErrors &+= lana_load_relaxed_u64(s + Slot.txErrors.rawValue)
        }
        return t
    }

    /// Ring drops the kernel reported so far (set by the device on the
    /// control thread, from `PACKET_STATISTICS` of its sockets).
    public var ringDrops: UInt64 = 0

    /// Transmit ring statistics summed over engines.
    public var transmitErrorsReportedByKernel: UInt64 {
        transmitterOwners.reduce(0) { $0 + $1.statistics.sendErrors }
    }

    public override func detailLines() -> [String] {
        let t = totals
        return [
            "interface \(interfaceName) ifindex \(interfaceIndex) address \(linkAddress)",
            "received packets=\(t.rxPackets) bytes=\(t.rxBytes) dropped-on-arrival=\(t.rxDropped)",
            "transmitted packets=\(t.txPackets) bytes=\(t.txBytes)",
            "ring drops=\(ringDrops)",
            "transmit errors=\(t.txErrors) send-errors=\(transmitErrorsReportedByKernel)",
        ]
    }
}
