import LANABlocks
import LANACore
import LANAEmbedded
import LANAPosix
import Synchronization

/// A link for tests: stands where `eth` would (an `arp` block above learns
/// its MAC) and records the frames sent down to it.
final class TestLink: FunctionalBlock, LinkBlock, @unchecked Sendable {
    let linkAddress: MACAddress
    private let store = Mutex<[[UInt8]]>([])
    var frames: [[UInt8]] { store.withLock { $0 } }

    init(_ mac: MACAddress) { linkAddress = mac }

    static func type(_ mac: MACAddress) -> BlockType {
        BlockType(name: "testlink", summary: "records frames (tests)") { _ in TestLink(mac) }
    }

    override func process(_ burst: Burst, _ context: BlockContext) {
        for i in 0..<burst.count {
            let p = burst[i]
            let bytes = Array(p.bytes)
            store.withLock { $0.append(bytes) }
            p.verdict = .consumed
            context.engine.free(p)
            context.engine.countDelivered(1)
        }
    }
}

/// An application for tests: records what flip delivers (bytes and
/// metadata) and sends packets down with the metadata queued for them.
final class TestApp: FunctionalBlock, @unchecked Sendable {
    struct Delivery {
        let payload: [UInt8]
        let fields: FLIPFields
        let esp: FLIPESP?
        let linkSource: MACAddress
    }

    private let received = Mutex<[Delivery]>([])
    private let toSend = Mutex<[FLIPMetadata]>([])
    var deliveries: [Delivery] { received.withLock { $0 } }

    static let type = BlockType(name: "testapp", summary: "records deliveries, sends with metadata (tests)") { _ in TestApp() }

    func queueSend(_ metadata: FLIPMetadata) { toSend.withLock { $0.append(metadata) } }

    override func process(_ burst: Burst, _ context: BlockContext) {
        for i in 0..<burst.count {
            let p = burst[i]
            if p.direction == .egress {
                let m = toSend.withLock { $0.removeFirst() }
                p.setFLIPMetadata(m)
                p.verdict = .forward(context.ports.down)
                continue
            }
            let m = p.flipMetadata!.pointee
            let d = Delivery(payload: Array(p.bytes), fields: m.fields, esp: m.esp, linkSource: m.linkSource)
            received.withLock { $0.append(d) }
            p.verdict = .consumed
            context.engine.free(p)
            context.engine.countDelivered(1)
        }
    }
}

/// One FLIP node in an ``EmbeddedGraph``: `app` over `f` (flip) over `a`
/// (arp) over `wire` (a ``TestLink`` with the node's MAC).
struct FLIPTestNode {
    let graph: EmbeddedGraph
    var registry: Registry { graph.registry }

    init(mac: MACAddress, flipAddresses: String, options: [String] = [], arpOptions: [String] = [], engines: Int = 1) throws {
        graph = EmbeddedGraph(types: BuiltinBlocks.types + [TestLink.type(mac), TestApp.type], engineCount: engines)
        let r = graph.registry
        _ = try r.add("wire", type: "testlink")
        _ = try r.add("a", type: "arp")
        _ = try r.add("f", type: "flip")
        _ = try r.add("app", type: "testapp")
        try r.set("f", "address=\(flipAddresses)")
        for o in options { try r.set("f", o) }
        for o in arpOptions { try r.set("a", o) }
        try r.bind("f", "a")
        try r.bind("a", "wire")
        try r.bind("app", "f")
    }

    var wire: TestLink { registry.block(named: "wire") as! TestLink }
    var app: TestApp { registry.block(named: "app") as! TestApp }
    var arp: ARPBlock { registry.block(named: "a") as! ARPBlock }
    var arpStatus: String { (try? registry.show("a").status) ?? nil ?? "" }

    /// A frame arriving from the link, on engine `engine`.
    func receive(_ frame: [UInt8], engine: Int = 0) throws {
        try receive(burst: [frame], engine: engine)
    }

    /// Frames arriving from the link together: one burst (up to 32).
    func receive(burst frames: [[UInt8]], engine: Int = 0) throws {
        for f in frames { try graph.send(f, to: "a", direction: .ingress, engine: engine) }
        graph.run(engine: engine)
    }

    /// `payload` sent by the application with `metadata`, on engine `engine`.
    func send(_ payload: [UInt8], _ metadata: FLIPMetadata, engine: Int = 0) throws {
        app.queueSend(metadata)
        try graph.send(payload, to: "app", direction: .egress, engine: engine)
        graph.run(engine: engine)
    }

    func drops(_ reason: DropReason) -> UInt64 { graph.counters.drops[Int(reason.rawValue)] }
}
