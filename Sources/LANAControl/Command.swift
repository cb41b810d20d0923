import LANACore

/// A request of the control protocol: the one model of a command that the
/// tools build, the codec sends and reads, the configuration-file parser
/// produces and `lanad`'s handler executes (docs/design.md §3).
///
/// Each case carries exactly its command's arguments, so nothing downstream
/// checks for a missing one. The graph operations are the registry's own
/// ``GraphCommand`` (in `LANACore`, which must not know the control
/// protocol; `LANAControl` depends on `LANACore`, not the other way round),
/// carried as ``graph(_:)``; everything else the daemon answers itself.
///
/// Adding a command means adding a case (here or to ``GraphCommand``) and
/// its wire number (``ControlCommand``); every switch that must handle it —
/// ``wireCommand``, the encoder's attributes, the decoder, the handler —
/// is exhaustive, so the compiler names each place.
public indirect enum Command: Sendable, Hashable {
    /// ADD, RM, SET, BIND, UNBIND, REPLACE, SUBSCRIBE, UNSUBSCRIBE.
    case graph(GraphCommand)
    /// LIST: dump all blocks.
    case list
    /// TYPES: dump the registered block types.
    case types
    /// SHOW: describe the block `name`.
    case show(name: String)
    /// WATCH: stream events on this connection.
    case watch
    /// HOOK: create the `eth` block of `interface`.
    case hook(interface: String)
    /// UNHOOK: remove the `eth` block of `interface`.
    case unhook(interface: String)
    /// VADD: a virtual link `name` on `rootDevice` with `tag`
    /// (0…``maximumTag``).
    case addVirtualLink(name: String, rootDevice: String, tag: UInt32)
    /// VRM: remove the virtual link `name`.
    case removeVirtualLink(name: String)
    /// APPLY: run `commands` as one unit, all or nothing (docs/design.md §8).
    case apply([BatchCommand])

    /// The largest tag of a virtual link (VADD), 10 bits.
    public static let maximumTag: UInt32 = 1023

    /// The command's number on the wire (`genlmsghdr.cmd`).
    public var wireCommand: ControlCommand {
        switch self {
        case .graph(let graph):
            switch graph {
            case .add: .add
            case .remove: .remove
            case .set: .set
            case .bind: .bind
            case .unbind: .unbind
            case .replace: .replace
            case .subscribe: .subscribe
            case .unsubscribe: .unsubscribe
            }
        case .list: .list
        case .types: .types
        case .show: .show
        case .watch: .watch
        case .hook: .hook
        case .unhook: .unhook
        case .addVirtualLink: .addVirtualLink
        case .removeVirtualLink: .removeVirtualLink
        case .apply: .apply
        }
    }

    /// Whether a success may have changed the graph or the hooked
    /// interfaces (and the state files must follow).
    public var mayChangeState: Bool {
        switch self {
        case .graph, .hook, .unhook, .addVirtualLink, .removeVirtualLink, .apply: true
        case .list, .types, .show, .watch: false
        }
    }
}

/// A command that can run inside APPLY: a graph operation, or hooking an
/// interface (its block is a step of the same batch). What cannot be undone
/// with the batch, or does not change anything, is not representable here,
/// so neither the decoder's caller nor the handler has to refuse it again.
public enum BatchCommand: Sendable, Hashable {
    case graph(GraphCommand)
    case hook(interface: String)

    /// `command` as a batch step, or `nil` if it cannot be one.
    public init?(_ command: Command) {
        switch command {
        case .graph(let graph): self = .graph(graph)
        case .hook(let interface): self = .hook(interface: interface)
        case .list, .types, .show, .watch, .unhook, .addVirtualLink, .removeVirtualLink, .apply: return nil
        }
    }

    /// The same command outside a batch.
    public var command: Command {
        switch self {
        case .graph(let graph): .graph(graph)
        case .hook(let interface): .hook(interface: interface)
        }
    }
}

// The tools' spelling of the graph commands.
extension Command {
    /// ADD: build a block `name` of block type `type`.
    public static func add(name: String, type: String) -> Command { .graph(.add(name: name, type: type)) }

    /// RM: remove the block `name`.
    public static func remove(name: String) -> Command { .graph(.remove(name: name)) }

    /// SET: send `option` (`key=value`) to the block `name`.
    public static func set(name: String, option: String) -> Command { .graph(.set(name: name, option: option)) }

    /// BIND: `upper` on top of `lower`, through `port` if given.
    public static func bind(_ upper: String, onTopOf lower: String, port: String? = nil) -> Command {
        .graph(.bind(upper: upper, lower: lower, port: port))
    }

    /// UNBIND: undo a bind of `upper` on top of `lower`.
    public static func unbind(_ upper: String, from lower: String) -> Command {
        .graph(.unbind(upper: upper, lower: lower))
    }

    /// REPLACE: `new` takes over `old`; with `dropState` (`replace-drop`)
    /// the private state is not moved.
    public static func replace(_ old: String, with new: String, dropState: Bool = false) -> Command {
        .graph(.replace(old: old, new: new, dropState: dropState))
    }

    /// SUBSCRIBE: `subscriber` receives the events of `publisher`.
    public static func subscribe(publisher: String, subscriber: String) -> Command {
        .graph(.subscribe(publisher: publisher, subscriber: subscriber))
    }

    /// UNSUBSCRIBE: undo a subscription of `subscriber` to `publisher`.
    public static func unsubscribe(publisher: String, subscriber: String) -> Command {
        .graph(.unsubscribe(publisher: publisher, subscriber: subscriber))
    }
}
