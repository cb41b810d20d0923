import CBenchSupport
import LANABlocks
import LANACore
import LANAPosix

/// The three operations of `lana-bench flip`, each a graph of real `flip`
/// and `arp` blocks over a terminal link block, fed from memory, and the
/// docs/flip.md vector every packet must come out as.
extension FLIPBenchmark {
    enum Operation: String, CaseIterable {
        case deliver, forward, send

        /// Block calls per packet (the engine counts each).
        var hops: UInt64 {
            switch self {
            case .deliver: 3  // arp, flip, app
            case .forward: 4  // arp, flip, arp, link
            case .send: 3  // flip, arp, link
            }
        }

        /// The flip counter every packet must add to.
        var flipCounter: String {
            switch self {
            case .deliver: "delivered"
            case .forward: "forwarded"
            case .send: "sent"
            }
        }

        var cOperation: Int32 {
            switch self {
            case .deliver: 0
            case .forward: 1
            case .send: 2
            }
        }

        /// What the source feeds: a whole frame, or the payload of a send.
        var input: [UInt8] {
            switch self {
            case .deliver: FLIPVectors.v2
            case .forward: FLIPVectors.v4
            case .send: Array("hello".utf8)
            }
        }

        /// What the terminal block must see of every packet: V2's payload
        /// delivered, V4 forwarded (V4F), V2 built from its fields.
        var expected: [UInt8] {
            switch self {
            case .deliver: Array("hello".utf8)
            case .forward: FLIPVectors.v4f
            case .send: FLIPVectors.v2
            }
        }

        /// The name of the terminal block that receives the packets.
        var terminal: String { self == .deliver ? "app" : "link" }
    }
}

/// Frames of docs/flip.md §9 (MAC_A 02:…:01 = 10.0.0.1, MAC_B 02:…:02 =
/// 10.0.0.2), Ethernet header included.
enum FLIPVectors {
    static let macA = MACAddress(rawValue: 0x0200_0000_0001)
    static let macB = MACAddress(rawValue: 0x0200_0000_0002)
    static let macC = MACAddress(rawValue: 0x0200_0000_0003)
    /// 10.0.0.1 → 10.0.0.2, Type 0, Length, checksum, "hello": 35 bytes.
    static let v2 = hex("020000000002020000000001202094580a00000200000a000001001513bd68656c6c6f")
    /// Three meta bytes, priority, Type 0x88b5, TTL 2, flow, 2-byte source,
    /// checksum at an odd offset, fragment offset 0, "x": 38 bytes.
    static let v4 = hex("0200000000020200000000012020b7bc60000a00000288b502deadbeefabcd0018cfc9000078")
    /// V4 forwarded by MAC_B to MAC 02:…:03: TTL 1, checksum recomputed.
    static let v4f = hex("0200000000030200000000022020b7bc60000a00000288b501deadbeefabcd0018d0c9000078")

    /// V2's fields, as a sender asks for them.
    static let v2Fields = FLIPFields(destination: .ipv4(10, 0, 0, 2), type: 0, source: .ipv4(10, 0, 0, 1),
                                     hasLength: true, hasChecksum: true)

    static func hex(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = text.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            out.append(UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16)!)
        }
        return out
    }
}

extension FLIPBenchmark {
    /// A fresh registry with the operation's graph; returns it with the
    /// IDP the packets enter at.
    ///
    ///     deliver: MemorySource(V2) → arp → flip → app        arp on link
    ///     forward: MemorySource(V4) → arp → flip → arp → link  forward=on, static entry
    ///     send:    FLIPSendSource   → flip → arp → link       static entry
    static func makeGraph(_ op: Operation, check: FLIPBenchSink.Check?) throws -> (Registry, entry: IDP) {
        let registry = Registry(engineCount: 1)
        BuiltinBlocks.register(in: registry)
        let linkMAC = op == .send ? FLIPVectors.macA : FLIPVectors.macB
        registry.register(FLIPBenchSink.type(name: "flip-bench-link", mac: linkMAC, check: op == .deliver ? nil : check))
        registry.register(FLIPBenchSink.type(name: "flip-bench-app", mac: .zero, check: op == .deliver ? check : nil))
        try registry.add("link", type: "flip-bench-link")
        let arp = try registry.add("a", type: "arp")
        let flip = try registry.add("f", type: "flip")
        switch op {
        case .deliver:
            try registry.set("f", "address=10.0.0.2")
        case .forward:
            try registry.set("f", "address=10.0.0.9")
            try registry.set("f", "forward=on")
            try registry.set("a", "static=10.0.0.2@\(FLIPVectors.macC)")
        case .send:
            try registry.set("f", "address=10.0.0.1")
            try registry.set("a", "static=10.0.0.2@\(FLIPVectors.macB)")
        }
        try registry.bind("a", "link")
        try registry.bind("f", "a")
        if op == .deliver {
            try registry.add("app", type: "flip-bench-app")
            try registry.bind("app", "f")
        }
        return (registry, op == .send ? flip : arp)
    }

    static func makeSource(_ op: Operation, count: UInt64, entry: IDP) -> PacketSource {
        switch op {
        case .deliver, .forward:
            MemorySource(frame: op.input, count: count, entry: entry, direction: .ingress)
        case .send:
            FLIPSendSource(payload: op.input, fields: FLIPVectors.v2Fields, count: count, entry: entry)
        }
    }

    /// The same operation for the C reference.
    static func withCSetup<R>(_ op: Operation, _ body: (UnsafePointer<bench_flip_setup>) -> R) -> R {
        var s = bench_flip_setup()
        s.op = op.cOperation
        s.input_length = Int32(op.input.count)
        switch op {
        case .deliver:
            s.local = cAddress([10, 0, 0, 2])
            s.own_mac = FLIPVectors.macB.rawValue
        case .forward:
            s.local = cAddress([10, 0, 0, 9])
            s.own_mac = FLIPVectors.macB.rawValue
            s.next_hop = cAddress([10, 0, 0, 2])
            s.next_mac = FLIPVectors.macC.rawValue
        case .send:
            s.local = cAddress([10, 0, 0, 1])
            s.own_mac = FLIPVectors.macA.rawValue
            s.next_hop = cAddress([10, 0, 0, 2])
            s.next_mac = FLIPVectors.macB.rawValue
            s.fields.destination = cAddress([10, 0, 0, 2])
            s.fields.source = cAddress([10, 0, 0, 1])
            s.fields.type = 0
            s.fields.has_type = 1
            s.fields.has_length = 1
            s.fields.has_checksum = 1
        }
        return op.input.withUnsafeBufferPointer { input in
            s.input = input.baseAddress
            return withUnsafePointer(to: &s) { body($0) }
        }
    }

    static func cAddress(_ bytes: [UInt8]) -> bench_flip_address {
        var a = bench_flip_address()
        a.kind = bytes.count == 2 ? 1 : bytes.count == 4 ? 2 : 3
        withUnsafeMutableBytes(of: &a.bytes) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return a
    }
}

/// `send`'s source: what an application above `flip` hands down — a
/// payload in a pool buffer with the FLIP metadata saying what to send —
/// `count` times, entering at `flip` going down.
final class FLIPSendSource: PacketSource, @unchecked Sendable {
    private let payload: UnsafeMutableRawPointer
    private let payloadLength: Int
    private let fields: FLIPFields
    private let entry: IDP
    private let counter: UnsafeMutablePointer<UInt64>

    init(payload: [UInt8], fields: FLIPFields, count: UInt64, entry: IDP) {
        payloadLength = payload.count
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(payload.count, 1), alignment: 64)
        payload.withUnsafeBytes { if let b = $0.baseAddress { bytes.copyMemory(from: b, byteCount: $0.count) } }
        self.payload = bytes
        self.fields = fields
        self.entry = entry
        counter = .allocate(capacity: 1)
        counter.initialize(to: count)
    }

    deinit {
        payload.deallocate()
        counter.deallocate()
    }

    override var entersAtOneIDP: Bool { true }

    override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let left = counter.pointee
        if left == 0 { return 0 }
        let pool = engine.pool
        let n = pool.take(into: out, count: left < UInt64(max) ? Int(left) : max)
        let template = PacketMeta(receivedLength: UInt32(truncatingIfNeeded: payloadLength), address: 0, entry: entry.rawValue,
                                  direction: .egress, ifindex: 0, engine: pool.engine)
        var i = 0
        while i < n {
            let h = out[i]
            let destination = pool.buffer(h) + pool.headroom
            PacketPool.copyFrame(to: destination, from: payload, count: payloadLength)
            let m = pool.meta(h)
            template.store(to: m)
            m.pointee.address = UInt(bitPattern: destination)
            pool.packet(h).setFLIPSendRequest(fields)
            i &+= 1
        }
        counter.pointee = left &- UInt64(n)
        engine.reportReceived(bytes: n &* payloadLength, direction: .egress)
        return n
    }
}

/// The terminal block of the flip graphs: the link under `arp` (it tells
/// `arp` its MAC, as `eth` does) and the application over `flip`. It takes
/// every packet it gets as delivered (buffer back to the pool, the engine's
/// delivered count), like ``BenchSinkBlock``.
///
/// With a ``Check`` (only in the checking run before the timed ones) it
/// also compares every packet's bytes with the expected ones.
final class FLIPBenchSink: FunctionalBlock, LinkBlock, @unchecked Sendable {
    /// Expected bytes and what the comparison found; written by the engine
    /// thread, read after it stopped.
    final class Check: @unchecked Sendable {
        let expected: [UInt8]
        private(set) var seen = 0
        private(set) var mismatched = 0
        private(set) var firstMismatch: [UInt8]?

        init(expected: [UInt8]) { self.expected = expected }

        func record(_ bytes: UnsafeMutableRawBufferPointer) {
            seen += 1
            if !bytes.elementsEqual(expected) {
                mismatched += 1
                if firstMismatch == nil { firstMismatch = Array(bytes) }
            }
        }
    }

    let linkAddress: MACAddress
    private let check: Check?

    init(mac: MACAddress, check: Check?) {
        linkAddress = mac
        self.check = check
    }

    static func type(name: String, mac: MACAddress, check: Check?) -> BlockType {
        BlockType(name: name, summary: "consumes every packet (benchmark link or application)") { _ in
            FLIPBenchSink(mac: mac, check: check)
        }
    }

    override func process(_ burst: Burst, _ context: BlockContext) {
        if let check {
            for i in 0..<burst.count { check.record(burst[i].bytes) }
        }
        burst.consumeAll()
    }
}
