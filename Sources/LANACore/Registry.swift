import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A refused step of a batch (`fbctl apply`): its index and the refusal.
public struct BatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let error: RegistryError
    public var description: String { "operation \(index + 1): \(error)" }
}

/// One step of a batch (`fbctl apply`, `lanad --config`): a graph
/// operation, or a device to attach (`vlink ethernet hook`), opened only
/// when the steps before it were accepted and its name is free. If a later
/// step is refused, the devices the batch opened are closed again: the
/// batch leaves no trace, not even a consumed IDP.
public enum BatchStep: Sendable {
    case operation(GraphCommand)
    case attach(kind: String, name: String)
}

/// The registry of functional blocks: names and types in crit-bit trees,
/// IDPs handed out sequentially and never reused, and the data plane the
/// engines read.
///
/// Every operation runs on a copy of the state and is committed only if it
/// succeeds, then the new graph is published as an immutable dispatch
/// snapshot (``DataPlane/publish(_:)``): validation before mutation is a
/// property of the design, not of each check. Operations are serialized by
/// one lock; engines never take it.
public final class Registry: @unchecked Sendable {
    public let dataPlane: DataPlane
    public let environment: BlockType.Environment
    private let state: Mutex<RegistryState>
    private let generation = Atomic<UInt64>(0)
    /// Boxed: a closure held directly as a generic `Mutex` value is
    /// reabstracted on every inout access and written back wrapped in two
    /// more thunks, so each operation would make the next event call (and
    /// memory) grow.
    private let eventSink = Mutex<EventSink?>(nil)

    private final class EventSink: Sendable {
        let deliver: @Sendable (BlockEvent) -> Void
        init(_ deliver: @escaping @Sendable (BlockEvent) -> Void) { self.deliver = deliver }
    }

    public init(engineCount: Int) {
        precondition(engineCount >= 1)
        environment = BlockType.Environment(engineCount: engineCount)
        dataPlane = DataPlane(engineCount: engineCount)
        state = Mutex(RegistryState(environment: environment))
    }

    /// Registers a block type under its name (last registration wins).
    public func register(_ type: BlockType) {
        state.withLock { _ = $0.types.updateValue(type, forKey: type.name) }
    }

    /// Names of the registered block types, in order.
    public var typeNames: [String] {
        state.withLock { s in s.types.map { String(decoding: $0.key, as: UTF8.self) } }
    }

    public func type(named name: String) -> BlockType? {
        state.withLock { $0.types.lookup(name) }
    }

    /// Receives every event (for `fbctl watch`); called on the thread that
    /// made the change, after the change is published.
    public func setEventSink(_ sink: (@Sendable (BlockEvent) -> Void)?) {
        let box = sink.map(EventSink.init)
        eventSink.withLock { $0 = box }
    }

    // MARK: Operations

    @discardableResult
    public func add(_ name: String, type: String) throws(RegistryError) -> IDP {
        var idp = IDP.none
        try mutate { (s, fx) throws(RegistryError) in idp = try s.add(name: name, typeName: type, fx: &fx) }
        return idp
    }

    public func remove(_ name: String) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.remove(name: name, fx: &fx) }
    }

    public func set(_ name: String, _ option: String) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.set(name: name, option: option, fx: &fx) }
    }

    public func bind(_ a: String, _ b: String, port: String? = nil) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.bind(a, b, port: port, fx: &fx) }
    }

    public func unbind(_ a: String, _ b: String) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.unbind(a, b, fx: &fx) }
    }

    public func replace(_ old: String, with new: String, dropState: Bool = false) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.replace(old, with: new, dropState: dropState, fx: &fx) }
    }

    public func subscribe(_ a: String, _ b: String) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.subscribe(a, b, fx: &fx) }
    }

    public func unsubscribe(_ a: String, _ b: String) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.unsubscribe(a, b, fx: &fx) }
    }

    public func perform(_ command: GraphCommand) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.perform(command, fx: &fx) }
    }

    /// Applies operations as one unit: all are checked in order against the
    /// state the earlier ones produce; if any is refused nothing is applied
    /// and the error names it. Published as a single snapshot.
    public func apply(_ commands: [GraphCommand]) throws(BatchError) {
        try apply(steps: commands.map(BatchStep.operation))
    }

    /// Applies steps as one unit, in order, like ``apply(_:)``; interface
    /// steps take their IDPs in that order too.
    public func apply(steps: [BatchStep]) throws(BatchError) {
        var failed: BatchError?
        do throws(RegistryError) {
            try mutate { (s, fx) throws(RegistryError) in
                for (i, step) in steps.enumerated() {
                    do throws(RegistryError) {
                        switch step {
                        case .operation(let op):
                            try s.perform(op, fx: &fx)
                        case .attach(let kind, let name):
                            _ = try s.attach(kind: kind, name: name, fx: &fx)
                        }
                    } catch {
                        failed = BatchError(index: i, error: error)
                        throw error
                    }
                }
            }
        } catch {
            throw failed ?? BatchError(index: 0, error: error)
        }
    }

    // MARK: Devices and sources

    /// Registers a device kind and its block type.
    public func register(_ kind: DeviceKind) {
        state.withLock { s in
            s.deviceKinds.removeAll { $0.name == kind.name }
            s.deviceKinds.append(kind)
            _ = s.types.updateValue(kind.blockType, forKey: kind.blockType.name)
        }
    }

    /// Names of the registered device kinds.
    public var deviceKindNames: [String] { state.withLock { $0.deviceKinds.map(\.name) } }

    /// Opens the device `name` of `kind` and adds its block and sources in
    /// one snapshot (`vlink <kind> hook <name>`).
    @discardableResult
    public func attach(kind: String, name: String) throws(RegistryError) -> IDP {
        var idp = IDP.none
        try mutate { (s, fx) throws(RegistryError) in idp = try s.attach(kind: kind, name: name, fx: &fx) }
        return idp
    }

    /// Removes a device's block and its sources, then closes the device
    /// once no engine can see it (`vlink <kind> unhook <name>`). Refused
    /// while the block is bound, unless `force`: then it is first unbound
    /// from everything — for a device whose resource disappeared.
    public func detach(device name: String, force: Bool = false) throws(RegistryError) {
        try mutate { (s, fx) throws(RegistryError) in try s.detachDevice(name, force: force, fx: &fx) }
    }

    /// The devices whose blocks are in the graph, by name.
    public var devices: [any Device] {
        state.withLock { s in s.nodes.compactMap { $0?.device }.sorted { $0.name < $1.name } }
    }

    /// Feeds `engine` from `source` (tests, benchmarks). Packets enter at
    /// whatever IDP the source puts in their metadata.
    public func attachSource(_ source: PacketSource, engine: Int) {
        try? mutate { (s, fx) throws(RegistryError) in
            s.sources[engine].append((.none, source))
            fx.graphChanged = true
        }
    }

    /// Detaches every source not owned by a device.
    public func detachSources() {
        try? mutate { (s, fx) throws(RegistryError) in
            for e in s.sources.indices { s.sources[e].removeAll { $0.owner == .none } }
            fx.graphChanged = true
        }
    }

    // MARK: Inspection

    public func idp(of name: String) -> IDP? {
        state.withLock { $0.names.lookup(name) }
    }

    /// The configuration of the block at `name` (tests, tools).
    public func configuration(named name: String) -> BlockConfiguration? {
        state.withLock { s in s.names.lookup(name).flatMap { s.nodes[Int($0.rawValue)]?.configuration } }
    }

    /// The block instance at `name` (tests; not for the data path).
    public func block(named name: String) -> FunctionalBlock? {
        state.withLock { s in s.names.lookup(name).flatMap { s.nodes[Int($0.rawValue)]?.block } }
    }

    /// All blocks in ascending IDP order.
    public func list() -> [BlockInfo] {
        state.withLock { s in Self.infos(in: s) }
    }

    public func show(_ name: String) throws(RegistryError) -> BlockInfo {
        try state.withLock { (s) throws(RegistryError) -> BlockInfo in
            let idp = try s.idp(name)
            return Self.info(s.node(idp), in: s)
        }
    }

    /// Every block's info. One pass counts all port references: the
    /// control thread lists after each operation, so this must stay linear
    /// in the number of blocks.
    private static func infos(in s: RegistryState) -> [BlockInfo] {
        let references = s.referenceCounts()
        return s.nodes.compactMap { node in
            node.map { n in
                let idp = s.names.lookup(n.name) ?? .none
                let i = Int(idp.rawValue)
                return info(n, idp: idp, refs: 1 + (references.indices.contains(i) ? references[i] : 0))
            }
        }
    }

    private static func info(_ n: RegistryNode, in s: RegistryState) -> BlockInfo {
        let idp = s.names.lookup(n.name) ?? .none
        var refs = 1
        for case let o? in s.nodes {
            for binding in o.ports.bindings where binding.idp == idp { refs += 1 }
        }
        return info(n, idp: idp, refs: refs)
    }

    private static func info(_ n: RegistryNode, idp: IDP, refs: Int) -> BlockInfo {
        return BlockInfo(
            name: n.name, type: n.type.name, idp: idp, ports: n.ports, portNames: n.type.portNames, refs: refs,
            subscribers: n.subscribers.map(\.idp),
            options: (n.configuration?.values ?? []).map { "\($0.key)=\($0.value)" },
            optionHelp: n.type.options, status: n.block.statusText(configuration: n.configuration) ?? n.configuration?.statusText,
            details: (n.configuration?.detailLines ?? []) + n.block.detailLines())
    }

    /// Calls `body` with the registry lock held, for readers in other
    /// files of this module.
    func withLockedState<R>(_ body: (RegistryState) -> R) -> R {
        state.withLock { s in body(s) }
    }

    // MARK: Commit

    private func mutate(_ body: (inout RegistryState, inout RegistryEffects) throws(RegistryError) -> Void) throws(RegistryError) {
        var deliveries: [(FunctionalBlock, BlockEvent)] = []
        let events: [BlockEvent] = try state.withLock { (s) throws(RegistryError) -> [BlockEvent] in
            var copy = s
            var fx = RegistryEffects()
            do throws(RegistryError) { try body(&copy, &fx) } catch {
                for d in fx.opened { d.close() }
                throw error
            }
            let before = s
            copy.version &+= 1
            if copy.purgeDrainedSources() { fx.graphChanged = true }
            if copy.refreshDerivedConfigurations() { fx.graphChanged = true }
            s = copy
            if fx.graphChanged { publish(s) }
            for source in fx.retiring { source.retire() }
            // An engine asleep may not poll a retired source's descriptor
            // (see PacketSource.pollDescriptor): it must ask the source again.
            if !fx.retiring.isEmpty { dataPlane.wakeAll() }
            for (new, old) in fx.adoptions { new.adoptState(from: old) }
            for b in fx.removed { b.willRemove() }
            for (block, action) in fx.actions { action(block) }
            // Published without them, after the grace period: no engine
            // reads what closing releases.
            for d in fx.closing { d.close() }
            for e in fx.events {
                // A block added and removed within one batch exists in
                // neither picture; its events have no subscribers left.
                let subscribers = Self.subscribers(of: e.idp, in: s) ?? Self.subscribers(of: e.idp, in: before) ?? []
                for sub in subscribers {
                    if let target = Self.block(sub.idp, in: s) { deliveries.append((target, e)) }
                }
            }
            return fx.events
        }
        for (block, e) in deliveries { block.handleEvent(e) }
        if let sink = eventSink.withLock({ $0 }) { for e in events { sink.deliver(e) } }
    }

    private static func subscribers(of idp: IDP, in s: RegistryState) -> [Subscription]? {
        let i = Int(idp.rawValue)
        return s.nodes.indices.contains(i) ? s.nodes[i]?.subscribers : nil
    }

    private static func block(_ idp: IDP, in s: RegistryState) -> FunctionalBlock? {
        let i = Int(idp.rawValue)
        return s.nodes.indices.contains(i) ? s.nodes[i]?.block : nil
    }

    private func publish(_ s: RegistryState) {
        let gen = generation.wrappingAdd(1, ordering: .relaxed).newValue
        let blocks = s.nodes.map { n in n.map { DispatchTable.Row(block: $0.block, type: $0.type, ports: $0.ports, configuration: $0.configuration) } }
        let sources = s.sources.map { $0.map(\.source) }
        dataPlane.publish(DispatchTable(generation: gen, blocks: blocks, sources: sources))
    }
}

