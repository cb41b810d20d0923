import LANACore
import LANAPosix

/// `flip`: the FLIP network layer (docs/flip.md).
///
/// Ingress: frames from the link block below (`arp`), Ethernet header on,
/// are parsed and validated in the order of docs/flip.md §6, each fault
/// dropped with its reason. A packet for a local address (or broadcast, or
/// without a destination) goes up with its headers removed and the parsed
/// header in its ``FLIPMetadata``: to the port of its Type (`up.type.<t>`)
/// if one is bound, else to `up`. Another packet is forwarded when
/// `forward=on` (TTL down by one, checksum recomputed, nothing else
/// changed) and dropped as `no-route` otherwise.
///
/// Egress: packets from above carry a ``FLIPMetadata`` saying what to send;
/// the block writes the minimal header in front of the payload and hands
/// the packet down with its next-hop address for `arp`.
public final class FLIPBlock: FunctionalBlock, @unchecked Sendable {
    public static let etherType: UInt16 = 0x2020
    /// The largest FLIP packet (its Ethernet body): v0 never fragments.
    public static let maximumPacketLength = 1500
    static let ethernetHeaderLength = 14

    public static let type: BlockType = {
        precondition(MemoryLayout<FLIPMetadata>.size <= PacketPool.annotationSize,
                     "FLIPMetadata (\(MemoryLayout<FLIPMetadata>.size) bytes) must fit a packet's annotation area")
        precondition(FLIPMetadata.smallFieldsLayoutHolds,
                     "FLIPMetadata's small fields must lie where fillReceived writes them as one word")
        precondition(MemoryLayout<FLIPFields>.size >= FLIPMetadata.rawHeaderCapacity,
                     "FLIPFields (\(MemoryLayout<FLIPFields>.size) bytes) must hold a received header's bytes")
        return BlockType(
            name: "flip",
            summary: "FLIP network layer: delivers by Type, forwards (TTL, checksum), builds headers for senders above",
            options: [
                .init("address", "local addresses, a comma list: 10.0.0.2 (IPv4), 0xabcd (2 bytes), 32 hex digits (object id)"),
                .init("forward", "on: forward packets for other addresses (TTL, checksum); off (default): drop them as no-route"),
            ],
            portFamilies: [
                .init(prefix: "up.type.", placeholder: "<type>",
                      help: "locally delivered packets of one FLIP Type (0x88b5 or decimal); the rest go to up",
                      key: { parseUInt16Key($0).map(UInt32.init) }),
            ],
            configurator: FLIPConfiguration.configurator
        ) { env in FLIPBlock(engineCount: env.engineCount) }
    }()

    enum Counter: Int, CaseIterable {
        case delivered, esp, forwarded, sent, malformed, checksum, fragment, ttlExpired, noRoute, sendRefused, notFLIP
        var name: String {
            switch self {
            case .delivered: "delivered"
            case .esp: "esp"
            case .forwarded: "forwarded"
            case .sent: "sent"
            case .malformed: "malformed"
            case .checksum: "checksum"
            case .fragment: "fragment"
            case .ttlExpired: "ttl-expired"
            case .noRoute: "no-route"
            case .sendRefused: "send-refused"
            case .notFLIP: "not-flip"
            }
        }
    }

    let counters: EngineCounterSlots
    private let headers: FLIPHeaderCache

    init(engineCount: Int) {
        counters = EngineCounterSlots(engineCount: engineCount, words: Counter.allCases.count)
        headers = FLIPHeaderCache(engineCount: engineCount)
    }

    deinit {
        counters.deallocate()
        headers.deallocate()
    }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let ports = context.ports
        let engine = context.engine.index
        context.withConfiguration(FLIPConfiguration.self) { configuration in
            headers.adopt(configuration, engine: engine)
            // The common burst, one stream's packets all going up, in one
            // pass; packet by packet from the first that is not.
            var run = 0
            if burst.uniformDirection == .ingress && !ports.hasMembers && !ports.up.isNone {
                run = deliverStream(burst, configuration, engine)
                if run == burst.count && run > 0 {
                    counters.add(engine, Counter.delivered.rawValue, UInt64(run))
                    burst.forwardAll(ports)
                    return
                }
            }
            processEach(burst, after: run, configuration, context)
        }
    }

    /// The burst's packets from `run` on, one by one (the first `run` were
    /// delivered by ``deliverStream``). Out of line, as that pass is: each
    /// keeps its own inlining, which one function holding both lost.
    @inline(never)
    private func processEach(_ burst: Burst, after run: Int, _ configuration: FLIPConfiguration, _ context: BlockContext) {
        let ports = context.ports
        let engine = context.engine.index
        // Counted once per burst: the common case, a stream delivered.
        var delivered = run
        burst.forwardEach(ports, decided: run) { p in
            p.direction == .ingress ? receive(p, configuration, ports, engine, context, &delivered) : send(p.handle, context)
        }
        if delivered > 0 { counters.add(engine, Counter.delivered.rawValue, UInt64(delivered)) }
    }

    // MARK: Receive (docs/flip.md §6)

    @inline(__always)
    private func receive(_ p: Packet, _ configuration: FLIPConfiguration, _ ports: BlockPorts, _ engine: Int,
                         _ context: BlockContext, _ delivered: inout Int) -> Verdict {
        let frame = p.bytes
        let header = Self.ethernetHeaderLength
        guard frame.count > header, let base = frame.baseAddress else { return drop(engine, .malformed, .malformed) }
        // Only FLIP frames: what else the block below passes up (another
        // EtherType) is not for this block; bind flip where only FLIP comes.
        guard base.load(fromByteOffset: 12, as: UInt16.self) == Self.etherType.bigEndian else {
            return drop(engine, .notFLIP, .filtered)
        }
        // A stream's packets share their meta bytes and, for a local
        // address, their destination: one that continues the engine's last
        // delivered stream, or has its last shape, is taken at once.
        let count = frame.count &- header
        if count >= 8 {
            let shape = headers.shape(engine)
            let first = UInt64(littleEndian: UnsafeRawPointer(base + header).loadUnaligned(as: UInt64.self))
            if headers.continuesDelivery(first, engine: engine),
               let verdict = receiveByShape(p, shape, base, count, first, known: true, configuration, ports, engine, &delivered) {
                return verdict
            }
            if shape.pointee.matches(UInt32(truncatingIfNeeded: first)),
               let verdict = receiveByShape(p, shape, base, count, first, known: false, configuration, ports, engine, &delivered) {
                return verdict
            }
        }
        // The handle alone: a whole packet value passed out of line is built
        // in memory for every packet, taken or not.
        return receiveInFull(p.handle, base, configuration, context, &delivered)
    }

    /// A packet whose meta bytes have the shape `s`, delivered locally or
    /// forwarded: the checks of docs/flip.md §6 in their order, the header
    /// kept as bytes in the metadata (decoded when a block above reads
    /// it). `nil` for a packet to drop (or not to forward, or whose TTL
    /// runs out): the full path then says why.
    ///
    /// `known`: the packet continues the stream last delivered (its version
    /// byte and destination are those of a packet delivered under this
    /// configuration); `first` is its first 8 bytes.
    @inline(__always)
    private func receiveByShape(_ p: Packet, _ s: UnsafeMutablePointer<FLIPShape>, _ frame: UnsafeMutableRawPointer, _ count: Int,
                         _ first: UInt64, known: Bool, _ configuration: FLIPConfiguration, _ ports: BlockPorts,
                         _ engine: Int, _ delivered: inout Int) -> Verdict? {
        let body = frame + Self.ethernetHeaderLength
        @inline(__always) func word(_ i: Int8) -> UInt16 {
            UInt16(bigEndian: body.loadUnaligned(fromByteOffset: Int(i), as: UInt16.self))
        }
        let headerLength = Int(s.pointee.headerLength)
        guard count >= headerLength else { return nil }
        var destination: FLIPAddress? = nil
        var local = true
        if !known {
            let destinationKind = s.pointee.destinationKind
            if destinationKind != 0 {
                let d = FLIPAddress(kind: FLIPAddress.Kind(rawValue: destinationKind).unsafelyUnwrapped,
                                    at: body + Int(s.pointee.destinationAt))
                local = d.isBroadcast || configuration.isLocal(d)
                // Not for here and not forwarded: the full path says so.
                guard local || configuration.forward else { return nil }
                destination = d
            }
        }
        let versionAt = s.pointee.versionAt
        if !known && versionAt >= 0 && body.load(fromByteOffset: Int(versionAt), as: UInt8.self) & 0xF0 != 0 { return nil }
        guard let packetLength = s.pointee.checkedLength(body, count: count) else { return nil }
        if !local {
            return forward(p, s, frame, headerLength: headerLength, packetLength: packetLength,
                           to: destination.unsafelyUnwrapped, ports, engine)
        }
        if !known && count >= 8 {
            let prefixLength = Int(s.pointee.prefixLength)
            if prefixLength > 0 { headers.rememberDelivery(first, prefixLength: prefixLength, engine: engine) }
        }
        deliver(p, s.pointee, frame, headerLength: headerLength, packetLength: packetLength,
                learner: configuration.learner, generation: nil, engine)
        delivered &+= 1
        var typed = IDP.none
        if ports.hasMembers {
            let typeAt = s.pointee.typeAt
            typed = ports.member(UInt32(typeAt >= 0 ? word(typeAt) : 0))
        }
        let port = typed.isNone ? ports.up : typed
        return port.isNone ? .end : .forward(port)
    }

    /// The leading run of `burst`'s packets that continue the stream this
    /// engine last delivered (see ``FLIPHeaderCache``), delivered as
    /// ``receiveByShape`` delivers them, in one pass with the stream's shape
    /// and the arp table's generation read once: the common burst, with no
    /// verdict per packet. Returns the run's length; the caller sends those
    /// packets up and takes the rest one by one.
    @inline(never)
    private func deliverStream(_ burst: Burst, _ configuration: FLIPConfiguration, _ engine: Int) -> Int {
        let prefix = headers.deliveryPrefix(engine)
        guard prefix.mask != 0 else { return 0 }
        // The prefix holds the shape's meta bytes: the shape is this one.
        let s = headers.shape(engine).pointee
        let header = Self.ethernetHeaderLength
        let headerLength = Int(s.headerLength)
        let learner = configuration.learner
        let generation = learner.map { l in l.block._withUnsafeGuaranteedRef { $0.tableGeneration } }
        // Four copies of the loop, for what is known per stream: a shape
        // without Checksum or fragment offset (the common one) tests for
        // neither per packet; a header of at most 16 bytes is kept in one
        // move, from packets with 16 bytes past the Ethernet header (the
        // shortest Ethernet frame has 46).
        @inline(__always) func run(plain: Bool, short: Bool) -> Int {
            // The prefix is read as 8 bytes, even of a shorter header.
            let shortest = header &+ (short ? 16 : Swift.max(headerLength, 8))
            return burst.withHandles { handles, pool in
                var i = 0
                while i < handles.count {
                    let p = pool.packet(handles[i])
                    let length = p.length
                    let frame = p.baseAddress
                    guard length >= shortest,
                          frame.load(fromByteOffset: 12, as: UInt16.self) == Self.etherType.bigEndian else { break }
                    let body = frame + header
                    let first = UInt64(littleEndian: UnsafeRawPointer(body).loadUnaligned(as: UInt64.self))
                    guard first & prefix.mask == prefix.value,
                          let packetLength = s.checkedLength(body, count: length &- header, plain: plain) else { break }
                    deliver(p, s, frame, headerLength: headerLength, packetLength: packetLength, sixteenReadable: short,
                            learner: learner, generation: generation, engine)
                    i &+= 1
                }
                return i
            }
        }
        let plain = s.checksumAt < 0 && s.fragmentAt < 0
        return headerLength <= 16
            ? (plain ? run(plain: true, short: true) : run(plain: false, short: true))
            : (plain ? run(plain: true, short: false) : run(plain: false, short: false))
    }

    /// Delivers a checked packet of shape `s` locally: the header kept as
    /// bytes in the metadata, the packet narrowed to the payload, and the
    /// `arp` block below taught its IPv4 source (docs/flip.md §10.6 b).
    /// `generation`: the arp table's, if the caller read it for a burst.
    /// `sixteenReadable`: see ``FLIPMetadata/keepReceivedHeader(_:count:sixteenReadable:)``.
    @inline(__always)
    private func deliver(_ p: Packet, _ s: FLIPShape, _ frame: UnsafeMutableRawPointer, headerLength: Int, packetLength: Int,
                         sixteenReadable: Bool = false, learner: FLIPConfiguration.Learner?, generation: UInt64?, _ engine: Int) {
        let body = frame + Self.ethernetHeaderLength
        let m = p.flipMetadataStorage
        let linkSource = MACAddress.wireWord(ofSourceIn: frame)
        m.pointee.fillReceived(linkSource: linkSource, headerLength: headerLength)
        m.pointee.keepReceivedHeader(body, count: headerLength, sixteenReadable: sixteenReadable)
        p.annotationKind = FLIPMetadata.annotationKind
        // Checked: headerLength <= packetLength <= p.length - 14.
        p.narrow(uncheckedFrom: Self.ethernetHeaderLength &+ headerLength, count: packetLength &- headerLength)
        if s.sourceKind == FLIPAddress.Kind.ipv4.rawValue, let learner {
            let source = UInt32(bigEndian: body.loadUnaligned(fromByteOffset: Int(s.sourceAt), as: UInt32.self))
            learn(source, linkSource, learner, generation, engine)
        }
    }

    /// docs/flip.md §7 for a checked packet of shape `s`: TTL down by one
    /// and the checksum updated in place, the old Ethernet header kept for
    /// `arp` to rewrite. `nil` when the TTL runs out (the full path drops it).
    @inline(__always)
    private func forward(_ p: Packet, _ s: UnsafeMutablePointer<FLIPShape>, _ frame: UnsafeMutableRawPointer,
                         headerLength: Int, packetLength: Int, to destination: FLIPAddress,
                         _ ports: BlockPorts, _ engine: Int) -> Verdict? {
        let body = frame + Self.ethernetHeaderLength
        var layout = FLIPLayout()
        layout.ttlOffset = Int(s.pointee.ttlAt)
        layout.checksumOffset = Int(s.pointee.checksumAt)
        if layout.ttlOffset >= 0 && body.load(fromByteOffset: layout.ttlOffset, as: UInt8.self) <= 1 { return nil }
        if layout.checksumOffset >= 0 {
            layout.checksum = UInt16(bigEndian: body.loadUnaligned(fromByteOffset: layout.checksumOffset, as: UInt16.self))
        }
        let m = p.flipMetadataStorage
        m.pointee.fillReceived(linkSource: MACAddress.wireWord(ofSourceIn: frame), headerLength: headerLength)
        // The header as received (TTL included), as the full path keeps it.
        m.pointee.keepReceivedHeader(body, count: headerLength)
        _ = layout.forward(UnsafeMutableRawBufferPointer(start: body, count: packetLength))
        m.pointee.nextHop = destination
        m.pointee.linkHeaderLength = UInt8(Self.ethernetHeaderLength)
        p.annotationKind = FLIPMetadata.annotationKind
        p.truncate(to: Self.ethernetHeaderLength &+ packetLength)
        p.removeFront(Self.ethernetHeaderLength)
        p.direction = .egress
        counters.add(engine, Counter.forwarded.rawValue)
        return ports.down.isNone ? .drop(.unboundPort) : .forward(ports.down)
    }

    /// docs/flip.md §10.6 b: the `arp` block below learns the 4-byte
    /// Source of a delivered packet.
    ///
    /// A pair the table confirmed is remembered per engine until the table
    /// changes (see ``FLIPHeaderCache``), so a stream's packets need no
    /// lookup. `generation`: the table's, read before the burst's lookups,
    /// or `nil` to read it now.
    @inline(__always)
    private func learn(_ source: UInt32, _ linkSource: UInt64, _ learner: FLIPConfiguration.Learner,
                       _ generation: UInt64?, _ engine: Int) {
        learner.block._withUnsafeGuaranteedRef { arp in
            // Read before the lookup: a write after it makes the entry miss.
            let key = UInt64(source) | (generation ?? arp.tableGeneration) << 32
            let memo = headers.memo(source, engine: engine)
            if memo[0] == key && memo[1] == linkSource { return }
            let address = FLIPAddress(kind: .ipv4, high: UInt64(source) << 32, low: 0)
            let mac = MACAddress(wireWord: linkSource)
            if learner.configuration._withUnsafeGuaranteedRef({ arp.learnFromDelivered(address, mac, $0, engine: engine) }) {
                memo[0] = key
                memo[1] = linkSource
            }
        }
    }

    /// Every packet the shape path leaves: parsed in full, which checks it
    /// and names the fault of one to drop, and sets the engine's shape to
    /// its meta bytes; a valid one then takes the shape path, and what that
    /// path refuses after a valid parse is a packet not to forward here
    /// (`no-route`) or one whose TTL ran out.
    @inline(never)
    private func receiveInFull(_ handle: PacketHandle, _ base: UnsafeMutableRawPointer, _ configuration: FLIPConfiguration,
                               _ context: BlockContext, _ delivered: inout Int) -> Verdict {
        let p = context.engine.pool.packet(handle)
        let ports = context.ports
        let engine = context.engine.index
        let header = Self.ethernetHeaderLength
        let count = p.length &- header
        let m = p.flipMetadataStorage
        let fields = m.storagePointer
        var layout = FLIPLayout()
        // The shape may change here: the last stream's prefix no longer holds.
        headers.forgetPrefix(engine)
        let shape = headers.shape(engine)
        switch FLIPHeader.parse(UnsafeRawBufferPointer(start: base + header, count: count), arp: false, fields: fields,
                                layout: &layout, shape: &shape.pointee) {
        case .drop(let reason):
            return drop(reason, engine)
        case .esp(let esp):
            fields.pointee = FLIPFields()
            m.pointee.fillReceived(linkSource: MACAddress.wireWord(ofSourceIn: base), headerLength: 0)
            m.pointee.espWidth = esp.width
            m.pointee.espValue = esp.value
            p.annotationKind = FLIPMetadata.annotationKind
            p.removeFront(p.length)
            counters.add(engine, Counter.esp.rawValue)
            return ports.up.isNone ? .end : .forward(ports.up)
        case .packet:
            let first = count >= 8 ? UInt64(littleEndian: UnsafeRawPointer(base + header).loadUnaligned(as: UInt64.self)) : 0
            if let verdict = receiveByShape(p, shape, base, count, first, known: false, configuration, ports, engine, &delivered) {
                return verdict
            }
            return configuration.forward ? drop(engine, .ttlExpired, .ttlExpired) : drop(engine, .noRoute, .noRoute)
        }
    }

    // MARK: Send (docs/flip.md §8)

    /// Out of line, given the handle alone, for the receive loop's sake: a
    /// packet value passed to code that is not inlined is built in memory
    /// for every packet of the burst.
    @inline(never)
    private func send(_ handle: PacketHandle, _ context: BlockContext) -> Verdict {
        let p = context.engine.pool.packet(handle)
        let ports = context.ports
        let engine = context.engine.index
        guard let m = p.flipMetadata else { return drop(engine, .sendRefused, .malformed) }
        if m.pointee.linkHeaderLength != 0 {
            // Already a FLIP packet on its way down (forwarded by a block above).
            return ports.down.isNone ? .drop(.unboundPort) : .forward(ports.down)
        }
        let payload = p.length
        if let esp = m.pointee.esp {
            let length = esp.width == 6 ? 1 : 2
            guard payload == 0, p.prependFront(length),
                  (try? esp.write(into: p.bytes)) != nil else { return drop(engine, .sendRefused, .malformed) }
            m.pointee.nextHop = nil
        } else {
            // A received packet sent on as it is: its header bytes decoded.
            if m.pointee.rawHeaderLength != 0 { m.pointee.fields = m.pointee.fields }
            // The fields stay where they are, in the metadata.
            let fields = m.storagePointer
            // The engine's last header, if these are its fields: copied,
            // Length and Checksum written (see FLIPHeaderCache).
            var cached = 0
            if payload &+ 64 <= Self.maximumPacketLength, p.prependFront(0), p.headroom >= 64 {
                cached = headers.write(fields, payload: p.bytes.baseAddress.unsafelyUnwrapped, payloadLength: payload, engine: engine)
            }
            if cached > 0 {
                p.restoreFront(cached)
            } else {
                let headerLength = fields.pointee.headerLength
                guard headerLength &+ payload <= Self.maximumPacketLength else { return drop(engine, .sendRefused, .oversize) }
                guard p.prependFront(headerLength) else { return drop(engine, .sendRefused, .oversize) }
                do throws(FLIPBuildError) {
                    _ = try fields.pointee.write(into: p.bytes, headerLength: headerLength, payloadLength: payload)
                } catch {
                    return drop(engine, .sendRefused, .malformed)
                }
                headers.remember(fields, header: UnsafeRawPointer(p.bytes.baseAddress.unsafelyUnwrapped),
                                 headerLength: headerLength, engine: engine)
            }
            let destination = fields.pointee.destination
            m.pointee.nextHop = destination == nil || destination.unsafelyUnwrapped.isBroadcast ? nil : destination
        }
        m.pointee.etherType = Self.etherType
        counters.add(engine, Counter.sent.rawValue)
        return ports.down.isNone ? .drop(.unboundPort) : .forward(ports.down)
    }

    @inline(__always)
    private func drop(_ engine: Int, _ counter: Counter, _ reason: DropReason) -> Verdict {
        counters.add(engine, counter.rawValue)
        return .drop(reason)
    }

    @inline(__always)
    private func drop(_ reason: FLIPDropReason, _ engine: Int) -> Verdict {
        switch reason {
        case .checksum: return drop(engine, .checksum, .checksum)
        case .fragment: return drop(engine, .fragment, .fragment)
        case .ttlExpired: return drop(engine, .ttlExpired, .ttlExpired)
        default: return drop(engine, .malformed, .malformed)
        }
    }

    // MARK: Control

    /// Totals over engines, by counter name.
    public var totals: [(name: String, value: UInt64)] {
        Counter.allCases.map { ($0.name, counters.total($0.rawValue)) }
    }

    public override func detailLines() -> [String] {
        (0..<counters.engineCount).map { e in
            "engine \(e) " + Counter.allCases.map { "\($0.name)=\(counters.value(e, $0.rawValue))" }.joined(separator: " ")
        }
    }

    public override func statusText() -> String? {
        totals.map { "\($0.name) \($0.value)\n" }.joined()
    }
}
