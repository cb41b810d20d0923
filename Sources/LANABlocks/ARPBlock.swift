import LANACore
import LANAPosix
import Synchronization

/// `arp`: address resolution between FLIP (or any block that sends with a
/// ``FLIPMetadata``) and the link block below it (`eth`), in both encodings
/// of docs/flip.md §10: RFC 826 for IPv4, which Linux hosts answer and ask,
/// and ARP-over-FLIP for every address size.
///
/// Ingress (frames from the link): ARP messages are answered when they ask
/// for a local address, learned from (§10.6), and end here; FLIP frames go
/// up unchanged, as every other frame does; the `flip` block above teaches
/// the table the 4-byte sources of the packets it delivers
/// (``learnFromDelivered(_:_:_:engine:)``). Unicast frames for another MAC
/// are dropped (`other-host`).
///
/// Egress (packets from above): the next hop of the packet's metadata is
/// resolved — static entry, table, or a request broadcast once while up to
/// 16 packets per address wait for 2 s in the engine's
/// ``ARPPendingSource`` — and the Ethernet header is written.
///
/// The block learns the interface's MAC from the link block below it and
/// the local addresses of the `flip` blocks above it when they are bound
/// (``ARPConfiguration``): nothing needs to be typed twice.
public final class ARPBlock: FunctionalBlock, @unchecked Sendable {
    public static let etherType: UInt16 = 0x0806
    /// How long a request waits for its answer (docs/flip.md §10.7).
    static let resolveTimeout: UInt64 = 2_000_000_000

    public static let type = BlockType(
        name: "arp",
        summary: "address resolution (RFC 826 and ARP-over-FLIP) between flip and eth; writes Ethernet headers",
        options: [
            .init("address", "extra local addresses to answer for, a comma list (the flip blocks above are added by themselves)"),
            .init("static", "static entries <address>@<mac>, a comma list; never overwritten by learning; empty clears"),
            .init("ipv4-encoding", "how 4-byte addresses are resolved: rfc826 (default, Linux answers) or flip"),
        ],
        configurator: ARPConfiguration.configurator
    ) { env in ARPBlock(engineCount: env.engineCount) }

    enum Counter: Int, CaseIterable {
        case requestsReceived, repliesReceived, repliesSent, requestsSent, learned, resolved, queued, released, timeouts
        case queueFull, tableFull, otherHost, malformed, passedUp, noMetadata
        var name: String {
            switch self {
            case .requestsReceived: "requests-received"
            case .repliesReceived: "replies-received"
            case .repliesSent: "replies-sent"
            case .requestsSent: "requests-sent"
            case .learned: "learned"
            case .resolved: "resolved"
            case .queued: "queued"
            case .released: "released"
            case .timeouts: "arp-timeout"
            case .queueFull: "arp-queue-full"
            case .tableFull: "arp-table-full"
            case .otherHost: "other-host"
            case .malformed: "malformed"
            case .passedUp: "passed-up"
            case .noMetadata: "no-metadata"
            }
        }
    }

    private let storage: ARPStorage
    private let table: ARPTable
    private let counters: EngineCounterSlots
    private let engineCount: Int
    /// The current sources by engine, for the data path (see `makeSources`).
    private let sources: UnsafeMutablePointer<Unmanaged<ARPPendingSource>?>
    /// Owns them (control thread only).
    private let ownedSources = Mutex<[ARPPendingSource]>([])

    init(engineCount: Int) {
        self.engineCount = engineCount
        storage = ARPStorage(engineCount: engineCount)
        table = storage.table
        counters = storage.counters
        sources = .allocate(capacity: engineCount)
        sources.initialize(repeating: nil, count: engineCount)
    }

    deinit { sources.deallocate() }

    /// A new queue per engine. Called before the block can be reached
    /// (added, or about to replace another, unbound until then), so no
    /// engine reads `sources` meanwhile.
    public override func makeSources(entry: IDP) -> [PacketSource] {
        let made = (0..<engineCount).map { ARPPendingSource(storage: storage, entry: entry, engine: $0) }
        for (e, s) in made.enumerated() { sources[e] = Unmanaged.passUnretained(s) }
        ownedSources.withLock { $0 = made }
        return made
    }

    /// The current queues, by engine (tests look at their timers).
    var pendingSources: [ARPPendingSource] { ownedSources.withLock { $0 } }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        context.withConfiguration(ARPConfiguration.self) { configuration in
            // The common burst: data frames from the link for this host,
            // all going up. One look at each, then the whole burst moves on.
            if burst.uniformDirection == .ingress && !context.ports.up.isNone && allPassUp(burst, configuration.ownMAC) {
                counters.add(context.engine.index, Counter.passedUp.rawValue, UInt64(burst.count))
                burst.forwardAll(context.ports)
                return
            }
            burst.forwardEach(context.ports) { p in
                p.direction == .ingress ? receive(p, configuration, context) : send(p, configuration, context)
            }
        }
    }

    // MARK: Ingress

    /// Whether every frame of `burst` is one that ``receive(_:_:_:)``
    /// passes up unchanged: for `own` (or multicast, or any when the MAC is
    /// not known yet) and not an ARP message.
    @inline(__always)
    private func allPassUp(_ burst: Burst, _ own: MACAddress) -> Bool {
        // The MAC as its wire bytes read little-endian: two loads and two
        // compares per frame, no byte swaps.
        let known = own.rawValue != 0
        let ownHigh = UInt32(truncatingIfNeeded: own.rawValue >> 16).byteSwapped
        let ownLow = UInt16(truncatingIfNeeded: own.rawValue).byteSwapped
        var i = 0
        while i < burst.count {
            let frame = burst[i].bytes
            guard frame.count >= 14, let base = frame.baseAddress else { return false }
            if known {
                let high = base.loadUnaligned(as: UInt32.self)
                // Not for this MAC, and not multicast (the first byte's low bit).
                if (high != ownHigh || base.loadUnaligned(fromByteOffset: 4, as: UInt16.self) != ownLow) && high & 1 == 0 {
                    return false
                }
            }
            if base.loadUnaligned(fromByteOffset: 12, as: UInt16.self) == Self.etherType.bigEndian { return false }
            i &+= 1
        }
        return true
    }

    @inline(__always)
    private func receive(_ p: Packet, _ c: ARPConfiguration, _ context: BlockContext) -> Verdict {
        let engine = context.engine.index
        let frame = p.bytes
        guard frame.count >= 14, let base = frame.baseAddress else { return count(engine, .malformed, .malformed) }
        let own = c.ownMAC
        if own.rawValue != 0 {
            let destination = MACAddress(at: base)
            if destination != own && !destination.isMulticast { return count(engine, .otherHost, .otherHost) }
        }
        let etherType = UInt16(base.load(fromByteOffset: 12, as: UInt8.self)) << 8 | UInt16(base.load(fromByteOffset: 13, as: UInt8.self))
        let body = UnsafeMutableRawBufferPointer(start: base + 14, count: frame.count &- 14)
        if etherType == Self.etherType {
            return handleMessage(p, body, MACAddress(at: base + 6), c, context)
        }
        counters.add(engine, Counter.passedUp.rawValue)
        return context.ports.up.isNone ? .end : .forward(context.ports.up)
    }

    /// docs/flip.md §10.6 a and §10.7: learn, answer, end. Out of line:
    /// ARP messages are few beside data, and inlined, their code made every
    /// data packet's call pay a larger frame.
    @inline(never)
    private func handleMessage(_ p: Packet, _ body: UnsafeMutableRawBufferPointer, _ linkSource: MACAddress,
                               _ c: ARPConfiguration, _ context: BlockContext) -> Verdict {
        let engine = context.engine.index
        guard case .message(let m) = ARPMessage.parse(UnsafeRawBufferPointer(body), ethernetSource: linkSource) else {
            return count(engine, .malformed, .malformed)
        }
        counters.add(engine, (m.isRequest ? Counter.requestsReceived : Counter.repliesReceived).rawValue)
        let targetIsLocal = c.isLocal(m.targetAddress)
        let sender = m.senderAddress
        if !sender.isBroadcast && !sender.isZero && c.staticMAC(sender) == nil {
            learned(targetIsLocal ? table.learn(sender, m.senderMAC) : table.refresh(sender, m.senderMAC), engine)
        }
        guard m.isRequest && targetIsLocal && c.ownMAC.rawValue != 0 && !context.ports.down.isNone else { return .end }
        let length = m.writeReply(responderMAC: c.ownMAC, into: body)
        let frame = p.bytes.baseAddress.unsafelyUnwrapped
        m.senderMAC.write(to: frame)
        c.ownMAC.write(to: frame + 6)
        p.truncate(to: 14 &+ length)
        p.direction = .egress
        counters.add(engine, Counter.repliesSent.rawValue)
        return .forward(context.ports.down)
    }

    /// docs/flip.md §10.6 b: a FLIP data packet delivered locally with a
    /// 4-byte Source teaches its sender's MAC. Called by the `flip` block
    /// bound above, which parses the packet and alone knows whether it
    /// delivers it (see ``FLIPConfiguration``). The common case — the table
    /// already says so — costs one lock-free lookup.
    /// `true` when the table already said so (until ``tableGeneration``
    /// changes, the same pair needs no new look).
    @inline(__always)
    func learnFromDelivered(_ source: FLIPAddress, _ linkSource: MACAddress, _ c: ARPConfiguration, engine: Int) -> Bool {
        if case .learned(let known) = table.lookup(source), known == linkSource { return true }
        learnChanged(source, linkSource, c, engine: engine)
        return false
    }

    /// Changes whenever the table is written.
    @inline(__always)
    var tableGeneration: UInt64 { table.generation }

    /// The rest of ``learnFromDelivered(_:_:_:engine:)`` when the table would change.
    @inline(never)
    private func learnChanged(_ source: FLIPAddress, _ linkSource: MACAddress, _ c: ARPConfiguration, engine: Int) {
        guard !source.isBroadcast, !source.isZero, c.staticMAC(source) == nil else { return }
        learned(table.learn(source, linkSource), engine)
    }

    @inline(__always)
    private func learned(_ result: ARPTable.LearnResult, _ engine: Int) {
        switch result {
        case .unchanged: return
        case .full: counters.add(engine, Counter.tableFull.rawValue)
        case .updated: counters.add(engine, Counter.learned.rawValue)
        case .resolved:
            counters.add(engine, Counter.learned.rawValue)
            // Other engines may hold packets for it; this one looks at
            // its queue at the next burst anyway.
            for e in 0..<engineCount where e != engine {
                sources[e]?._withUnsafeGuaranteedRef { $0.kick() }
            }
        }
    }

    // MARK: Egress

    @inline(__always)
    private func send(_ p: Packet, _ c: ARPConfiguration, _ context: BlockContext) -> Verdict {
        let engine = context.engine.index
        guard let m = p.flipMetadata else { return count(engine, .noMetadata, .malformed) }
        let down = context.ports.down
        if down.isNone { return .drop(.unboundPort) }
        var mac = MACAddress.broadcast
        if let hop = m.pointee.nextHop, !hop.isBroadcast {
            if let fixed = c.staticMAC(hop) {
                mac = fixed
            } else if case .learned(let known) = table.lookup(hop) {
                mac = known
            } else {
                return wait(p, for: hop, c, context)
            }
        }
        counters.add(engine, Counter.resolved.rawValue)
        if m.pointee.linkHeaderLength == 14 {
            p.restoreFront(14)
        } else if !p.prependFront(14) {
            return .drop(.oversize)
        }
        let frame = p.bytes.baseAddress.unsafelyUnwrapped
        mac.write(to: frame)
        c.ownMAC.write(to: frame + 6)
        let type = m.pointee.etherType
        frame.storeBytes(of: UInt8(truncatingIfNeeded: type >> 8), toByteOffset: 12, as: UInt8.self)
        frame.storeBytes(of: UInt8(truncatingIfNeeded: type), toByteOffset: 13, as: UInt8.self)
        return .forward(down)
    }

    /// docs/flip.md §10.7: queue the packet, and ask if nobody has.
    @inline(never)
    private func wait(_ p: Packet, for hop: FLIPAddress, _ c: ARPConfiguration, _ context: BlockContext) -> Verdict {
        let engine = context.engine.index
        let now = MonotonicClock.now()
        let (start, full) = table.startResolving(hop, now: now, deadline: now &+ Self.resolveTimeout)
        if full { return count(engine, .tableFull, .arpTableFull) }
        var deadline = now &+ Self.resolveTimeout
        if !start {
            switch table.lookup(hop) {
            case .incomplete(let d): deadline = d
            // Learned in between: the packet can go at once.
            case .learned: return send(p, c, context)
            case .missing: break
            }
        }
        if start { request(hop, c, context) }
        guard let source = sources[engine] else { return .drop(.unboundPort) }
        switch source._withUnsafeGuaranteedRef({ $0.enqueue(p, for: hop, deadline: deadline, now: now, engine: context.engine) }) {
        case .queued:
            counters.add(engine, Counter.queued.rawValue)
            return .consumed
        case .full:
            return count(engine, .queueFull, .arpQueueFull)
        case .tooLong:
            return .drop(.oversize)
        }
    }

    /// Broadcasts one request for `hop` in the encoding its size calls for.
    @inline(never)
    private func request(_ hop: FLIPAddress, _ c: ARPConfiguration, _ context: BlockContext) {
        guard let r = context.engine.allocate() else { return }
        let encoding: ARPEncoding = hop.kind == .ipv4 ? c.ipv4Encoding : .flip
        let frame = UnsafeMutableRawBufferPointer(start: r.bytes.baseAddress, count: 14 + ARPMessage.maximumBodyLength)
        let base = frame.baseAddress.unsafelyUnwrapped
        MACAddress.broadcast.write(to: base)
        c.ownMAC.write(to: base + 6)
        base.storeBytes(of: UInt8(0x08), toByteOffset: 12, as: UInt8.self)
        base.storeBytes(of: UInt8(0x06), toByteOffset: 13, as: UInt8.self)
        let length = ARPMessage.writeRequest(encoding: encoding, sender: c.requesterAddress(for: hop.kind), senderMAC: c.ownMAC,
                                             target: hop, into: UnsafeMutableRawBufferPointer(rebasing: frame[14...]))
        _ = r.setLength(14 &+ length)
        r.direction = .egress
        counters.add(context.engine.index, Counter.requestsSent.rawValue)
        context.engine.enqueue(r, to: context.ports.down, from: context.idp)
    }

    @inline(__always)
    private func count(_ engine: Int, _ counter: Counter, _ reason: DropReason) -> Verdict {
        counters.add(engine, counter.rawValue)
        return .drop(reason)
    }

    // MARK: Control

    public override func adoptState(from old: FunctionalBlock) {
        guard let old = old as? ARPBlock else { return }
        for (address, lookup) in old.table.entries(now: MonotonicClock.now()) {
            if case .learned(let mac) = lookup { _ = table.learn(address, mac) }
        }
    }

    /// The status file: one line per entry, `<address> <mac>
    /// <learned|static|incomplete> <packets queued>`.
    public func tableLines(_ configuration: ARPConfiguration?) -> [String] {
        let queues = ownedSources.withLock { $0 }
        func queued(_ a: FLIPAddress) -> UInt64 { queues.reduce(0) { $0 + $1.queued(for: a) } }
        var lines = (configuration?.statics ?? []).map { "\($0.address) \($0.mac) static 0" }
        for (address, lookup) in table.entries(now: MonotonicClock.now()) {
            switch lookup {
            case .learned(let mac): lines.append("\(address) \(mac) learned \(queued(address))")
            case .incomplete, .missing: lines.append("\(address) - incomplete \(queued(address))")
            }
        }
        return lines
    }

    public override func statusText(configuration: BlockConfiguration?) -> String? {
        tableLines(configuration as? ARPConfiguration).map { $0 + "\n" }.joined()
    }

    public override func detailLines() -> [String] {
        (0..<engineCount).map { e in
            "engine \(e) " + Counter.allCases.map { "\($0.name)=\(counters.value(e, $0.rawValue))" }.joined(separator: " ")
        }
    }
}
