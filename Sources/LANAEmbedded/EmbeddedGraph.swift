import LANACore
import Synchronization

/// Runs a graph of blocks synchronously, without threads or sockets — the
/// `EmbeddedChannel` of LANA.
///
/// ```swift
/// let g = EmbeddedGraph(types: BuiltinBlocks.types)
/// try g.registry.add("c", type: "counter")
/// try g.registry.add("out", type: "capture")
/// try g.registry.bind("out", "c")
/// try g.send(frame, to: "c")          // enters c in ingress direction
/// g.run()                               // drives it through the graph
/// g.captured("out")                     // what reached `out`
/// ```
/// It uses the real registry, dispatch table and engine burst loop; only the
/// engine's thread is replaced by the caller's.
public final class EmbeddedGraph: @unchecked Sendable {
    public let registry: Registry
    public let engines: EngineGroup
    /// One per engine.
    private let injectors: [InjectionSource]

    public init(types: [BlockType] = [], engineCount: Int = 1, poolCapacity: Int = 1024, backlogCapacity: Int = 256) {
        registry = Registry(engineCount: engineCount)
        for t in types { registry.register(t) }
        registry.register(CaptureBlock.type)
        engines = EngineGroup(registry: registry, cpus: Array(repeating: nil, count: engineCount),
                              poolCapacity: poolCapacity, backlogCapacity: backlogCapacity)
        injectors = (0..<engineCount).map { _ in InjectionSource() }
        for (e, injector) in injectors.enumerated() { registry.attachSource(injector, engine: e) }
    }

    /// Queues `frame` to enter the graph at block `name`, going `direction`,
    /// on engine `engine`.
    public func send(_ frame: [UInt8], to name: String, direction: Direction = .ingress, engine: Int = 0) throws(RegistryError) {
        guard let idp = registry.idp(of: name) else {
            throw RegistryError(.noSuchFileOrDirectory, "no block named \(name)")
        }
        injectors[engine].queue(frame, entry: idp, direction: direction)
    }

    /// Drives every queued packet of engine `engine` through the graph
    /// until none is left.
    @discardableResult
    public func run(engine: Int = 0) -> Int { engines.engines[engine].runUntilIdle() }

    /// Engine counters (received, drops by reason, …).
    public var counters: EngineCounters { engines.stats.total() }

    /// Free buffers in engine 0's pool (returns to capacity when nothing leaks).
    public var poolAvailable: Int { engines.engines[0].pool.available }
    public var poolCapacity: Int { engines.engines[0].pool.capacity }

    /// Free buffers in every engine's pool, summed.
    public var allPoolsAvailable: Int { engines.engines.reduce(0) { $0 + $1.pool.available } }
    public var allPoolsCapacity: Int { engines.engines.reduce(0) { $0 + $1.pool.capacity } }

    /// Packets that reached the `capture` block `name`.
    public func captured(_ name: String) -> [CapturedPacket] {
        (registry.block(named: name) as? CaptureBlock)?.packets ?? []
    }
}

/// A packet a ``CaptureBlock`` received.
public struct CapturedPacket: Sendable, Equatable {
    public let bytes: [UInt8]
    public let direction: Direction
    /// IDP of the block that forwarded it to the capture block.
    public let source: IDP
    public let hops: Int
}

/// `capture`: records every packet it receives and consumes it. For tests
/// and harnesses only (it allocates per packet).
public final class CaptureBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(name: "capture", summary: "records and consumes packets (tests only)") { _ in
        CaptureBlock()
    }

    private let store = Mutex<[CapturedPacket]>([])

    public var packets: [CapturedPacket] { store.withLock { $0 } }

    /// It records each packet's source and hop count.
    public override var readsPacketHistory: Bool { true }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        for i in 0..<burst.count {
            let p = burst[i]
            let c = CapturedPacket(bytes: Array(p.bytes), direction: p.direction, source: p.source, hops: p.hops)
            store.withLock { $0.append(c) }
            p.verdict = .consumed
            context.engine.free(p)
            context.engine.countDelivered(1)
        }
    }

    public override func statusText() -> String? { "\(packets.count)\n" }
}

/// Feeds frames queued from any thread into engine 0.
final class InjectionSource: PacketSource, @unchecked Sendable {
    private let pending = Mutex<[(frame: [UInt8], entry: IDP, direction: Direction)]>([])

    /// Whether the last batch entered at one IDP. Engine thread only.
    private var oneEntry = false

    override var entersAtOneIDP: Bool { oneEntry }

    func queue(_ frame: [UInt8], entry: IDP, direction: Direction) {
        pending.withLock { $0.append((frame, entry, direction)) }
    }

    override func receive(into out: UnsafeMutablePointer<PacketHandle>, max: Int, engine: EngineContext) -> Int {
        let batch = pending.withLock { p -> [(frame: [UInt8], entry: IDP, direction: Direction)] in
            let n = Swift.min(max, p.count)
            let b = Array(p.prefix(n))
            p.removeFirst(n)
            return b
        }
        // One entry point for the batch: the engine then drives it as it
        // drives an interface's burst (one group, its direction known).
        oneEntry = batch.allSatisfy { $0.entry == batch.first?.entry }
        var n = 0
        for item in batch {
            let h = item.frame.withUnsafeBytes { engine.pool.allocate(copying: $0) }
            guard let h else { continue }
            let m = engine.pool.meta(h)
            m.pointee.next = item.entry.rawValue
            m.pointee.direction = item.direction
            out[n] = h
            n += 1
        }
        return n
    }
}
