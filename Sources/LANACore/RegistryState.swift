import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One block in the registry: everything the control plane knows about it.
struct RegistryNode {
    var name: String
    let type: BlockType
    let block: FunctionalBlock
    var ports: BoundPorts
    /// The block's options, parsed; published in the snapshot with it.
    var configuration: BlockConfiguration?
    /// The device the block stands for, if it is a device's block.
    var device: (any Device)? = nil
    /// Who receives this block's events, newest first.
    var subscribers: [Subscription]
}

/// `b` receives `a`'s events because of an explicit `subscribe`, of binds,
/// or both; the entry goes when neither holds any more.
struct Subscription: Equatable {
    let idp: IDP
    var explicit: Bool
    var binds: Int
    var isLive: Bool { explicit || binds > 0 }
}

/// What an operation leaves for the registry to do once the new state is
/// committed: events to deliver, state to move, option actions to run.
struct RegistryEffects {
    var events: [BlockEvent] = []
    /// (new, old) pairs of a same-type replace: new adopts old's state after
    /// the grace period.
    var adoptions: [(FunctionalBlock, FunctionalBlock)] = []
    var removed: [FunctionalBlock] = []
    var actions: [(FunctionalBlock, @Sendable (FunctionalBlock) -> Void)] = []
    /// Devices this operation opened: closed again if it is refused.
    var opened: [any Device] = []
    /// Devices whose blocks left: closed once the snapshot without them
    /// is published (after the grace period).
    var closing: [any Device] = []
    /// Sources of blocks that left, told so once the snapshot without the
    /// blocks is published (see ``PacketSource/retire()``).
    var retiring: [PacketSource] = []
    var graphChanged = false
}

/// The registry's state as a value. Operations mutate a *copy* and the
/// registry commits it only if the whole operation (or the whole batch of
/// `fbctl apply`) succeeded, so a refused request changes nothing by
/// construction.
struct RegistryState {
    var types = CritBitTree<BlockType>()
    /// Registered device kinds, by name (`ethernet`).
    var deviceKinds: [DeviceKind] = []
    var names = CritBitTree<IDP>()
    /// IDP → node; index 0 unused. Removed IDPs stay `nil` (never reused).
    var nodes: [RegistryNode?] = [nil]
    var sources: [[(owner: IDP, source: PacketSource)]]
    let environment: BlockType.Environment
    /// Bumped by every committed change, so that readers can tell that
    /// nothing changed without comparing what they render.
    var version: UInt64 = 0

    init(environment: BlockType.Environment) {
        self.environment = environment
        sources = Array(repeating: [], count: environment.engineCount)
    }

    // MARK: Lookup

    func idp(_ name: String) throws(RegistryError) -> IDP {
        guard let idp = names.lookup(name) else {
            throw RegistryError(Errno(rawValue: ENOENT), "no block named \(Self.quoted(name))")
        }
        return idp
    }

    func node(_ idp: IDP) -> RegistryNode { nodes[Int(idp.rawValue)]! }

    /// `key=value` for messages and events. A value of several lines or
    /// more than 200 bytes (a BPF program) is shown by its size, so that
    /// messages stay one readable line.
    static func shownOption(_ key: String, _ value: String) -> String {
        value.utf8.count <= 200 && !value.contains("\n") ? "\(key)=\(value)" : "\(key)=<\(value.utf8.count) bytes>"
    }

    static func quoted(_ s: String) -> String {
        s.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "'" } && !s.isEmpty ? s : "'\(s)'"
    }

    /// docs/design.md §1: 1–15 bytes of `[A-Za-z0-9._:-]`, first byte not `-`.
    static func validateName(_ name: String) throws(RegistryError) {
        let bytes = Array(name.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 15 && bytes[0] != UInt8(ascii: "-") && bytes.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-")
        }
        if !ok {
            throw RegistryError(Errno(rawValue: EINVAL),
                "invalid block name \(quoted(name)): expected 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -")
        }
    }

    // MARK: Add / remove

    mutating func add(name: String, typeName: String, fx: inout RegistryEffects,
                      device: (any Device)? = nil) throws(RegistryError) -> IDP {
        // A device's name was checked by its kind.
        if device == nil { try Self.validateName(name) }
        if names.contains(name) {
            throw RegistryError(Errno(rawValue: EEXIST), "a block named \(name) already exists")
        }
        guard let type = types.lookup(typeName) else {
            let known = types.map { String(decoding: $0.key, as: UTF8.self) }.joined(separator: ", ")
            throw RegistryError(Errno(rawValue: ENOENT), "unknown block type \(Self.quoted(typeName)) (known types: \(known))")
        }
        if type.isDevice && device == nil {
            throw RegistryError(Errno(rawValue: EINVAL),
                "\(typeName) blocks stand for devices: create them with 'vlink \(deviceKindName(of: type)) hook <name>'")
        }
        guard nodes.count <= Int(IDP.maximum.rawValue) else {
            throw RegistryError(Errno(rawValue: ENOSPC), "no IDPs left")
        }
        let idp = IDP(UInt32(nodes.count))
        let block = device?.block ?? type.make(environment)
        nodes.append(RegistryNode(name: name, type: type, block: block, ports: .unbound,
                                  configuration: type.configurator?.initial(), device: device, subscribers: []))
        names.updateValue(idp, forKey: name)
        if device == nil { addSources(of: block, entry: idp) }
        fx.events.append(BlockEvent(.added, block: name, idp: idp, detail: type.name))
        fx.graphChanged = true
        return idp
    }

    mutating func remove(name: String, fx: inout RegistryEffects, device: Bool = false) throws(RegistryError) {
        let idp = try idp(name)
        let n = node(idp)
        if (n.device != nil) != device {
            throw RegistryError(Errno(rawValue: EINVAL), n.device != nil
                ? "\(name) stands for a device: remove it with 'vlink \(deviceKindName(of: n.type)) unhook \(name)'"
                : "\(name) is not a device's block")
        }
        if !n.ports.isUnbound {
            let others = n.ports.bindings.map { "\(node($0.idp).name) (\($0.name))" }.joined(separator: ", ")
            throw RegistryError(Errno(rawValue: EBUSY), "\(name) is still bound to \(others): unbind it first")
        }
        if let s = n.subscribers.first(where: \.isLive) {
            throw RegistryError(Errno(rawValue: EBUSY), "\(node(s.idp).name) is subscribed to \(name): unsubscribe it first")
        }
        for (i, other) in nodes.enumerated() where other != nil && i != Int(idp.rawValue) {
            if other!.subscribers.contains(where: { $0.idp == idp && $0.isLive }) {
                throw RegistryError(Errno(rawValue: EBUSY), "\(name) is subscribed to \(other!.name): unsubscribe it first")
            }
        }
        fx.events.append(BlockEvent(.removed, block: name, idp: idp, detail: n.type.name))
        fx.removed.append(n.block)
        if let d = n.device { fx.closing.append(d) }
        names.remove(name)
        nodes[Int(idp.rawValue)] = nil
        retireSources(of: idp, fx: &fx)
        fx.graphChanged = true
    }

    /// Lists a block's own sources (``FunctionalBlock/makeSources(entry:)``).
    mutating func addSources(of block: FunctionalBlock, entry: IDP) {
        for (e, source) in block.makeSources(entry: entry).enumerated() {
            sources[e % sources.count].append((entry, source))
        }
    }

    /// Takes the sources of the block at `idp` out of the snapshot, but for
    /// those that hold packets: they stay, under ``IDP/retiredSource``,
    /// until their engine has freed what they hold (``purgeDrainedSources()``).
    mutating func retireSources(of idp: IDP, fx: inout RegistryEffects) {
        for e in sources.indices {
            for entry in sources[e] where entry.owner == idp && entry.source.holdsPackets {
                fx.retiring.append(entry.source)
            }
            sources[e] = sources[e].map { $0.owner == idp && $0.source.holdsPackets ? (.retiredSource, $0.source) : $0 }
            sources[e].removeAll { $0.owner == idp }
        }
    }

    /// Drops retired sources that hold nothing any more. `true` if any went.
    mutating func purgeDrainedSources() -> Bool {
        var changed = false
        for e in sources.indices where sources[e].contains(where: { $0.owner == .retiredSource && $0.source.isDrained }) {
            sources[e].removeAll { $0.owner == .retiredSource && $0.source.isDrained }
            changed = true
        }
        return changed
    }

    // MARK: Options

    mutating func set(name: String, option: String, fx: inout RegistryEffects) throws(RegistryError) {
        let idp = try idp(name)
        let n = node(idp)
        guard let eq = option.firstIndex(of: "="), eq != option.startIndex else {
            throw RegistryError(Errno(rawValue: EINVAL), "option \(Self.quoted(option)) of \(name): expected key=value")
        }
        let key = String(option[..<eq])
        let value = String(option[option.index(after: eq)...])
        guard n.type.option(key) != nil else {
            let keys = n.type.options.map(\.key)
            throw RegistryError(Errno(rawValue: EINVAL), keys.isEmpty
                ? "unknown option \(Self.quoted(key)) for \(name): \(n.type.name) blocks take no options"
                : "unknown option \(Self.quoted(key)) for \(name): \(n.type.name) blocks take \(keys.joined(separator: ", "))")
        }
        // Parsed once, by the type, without touching the block: a batch is
        // checked completely before anything reaches a block.
        let effect: OptionEffect
        do {
            effect = try n.type.configurator!.apply(n.configuration!, key, value)
        } catch {
            throw RegistryError(Errno(rawValue: EINVAL), "\(name): \(Self.shownOption(key, value)): \(error.message)")
        }
        switch effect {
        case .configure(let configuration):
            nodes[Int(idp.rawValue)]!.configuration = configuration
            fx.graphChanged = true
        case .act(let action):
            fx.actions.append((n.block, action))
        }
        fx.events.append(BlockEvent(.optionChanged, block: n.name, idp: idp, detail: Self.shownOption(key, value)))
    }
}
