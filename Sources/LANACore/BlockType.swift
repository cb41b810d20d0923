/// A kind of functional block: its name (`dummy`, `tee`, …), what it does,
/// the options it accepts, and the factory that builds instances.
///
/// Registered with ``Registry/register(_:)`` under its name in a crit-bit
/// tree; `fbctl add <name> <type>` looks it up there.
public final class BlockType: Sendable {
    /// One `set key=value` option: its key and a line of help.
    public struct Option: Sendable, Equatable {
        public let key: String
        public let help: String
        public init(_ key: String, _ help: String) { self.key = key; self.help = help }
    }

    /// What a factory gets to know when building a block.
    public struct Environment: Sendable {
        /// Number of engines; sizes per-engine state.
        public let engineCount: Int
        public init(engineCount: Int) { self.engineCount = engineCount }
    }

    public let name: String
    public let summary: String
    public let options: [Option]
    /// Ports besides `up` and `down`, in the order the block reads them
    /// with ``BlockPorts/extra(_:)``.
    public let extraPorts: [PortDeclaration]
    /// Families of ports named by a key (one upper port per protocol type).
    public let portFamilies: [PortFamily]
    /// How `set key=value` is parsed; `nil` for a type without options.
    public let configurator: Configurator?
    /// Blocks of this type stand for a ``Device`` (eth): only a device kind
    /// makes them; `fbctl add` and `replace` refuse them with `EINVAL`.
    public let isDevice: Bool
    public let make: @Sendable (Environment) -> FunctionalBlock

    public init(name: String, summary: String, options: [Option] = [],
                extraPorts: [PortDeclaration] = [], portFamilies: [PortFamily] = [],
                configurator: Configurator? = nil, isDevice: Bool = false,
                make: @escaping @Sendable (Environment) -> FunctionalBlock) {
        for p in extraPorts {
            precondition(PortSide(portName: p.name) != nil && p.name.contains("."),
                         "port \(p.name) of \(name): extra ports are named up.<x> or down.<x>")
        }
        for f in portFamilies {
            precondition(PortSide(portName: f.prefix) != nil && f.prefix.hasSuffix("."),
                         "port family \(f.prefix) of \(name): a prefix is up.<x>. or down.<x>.")
        }
        self.name = name; self.summary = summary; self.options = options
        self.extraPorts = extraPorts; self.portFamilies = portFamilies
        precondition(options.isEmpty || configurator != nil, "block type \(name): options need a configurator")
        precondition(configurator == nil || !options.isEmpty || configurator!.derive != nil,
                     "block type \(name): a configurator without options must derive its configuration")
        self.configurator = configurator
        self.isDevice = isDevice
        self.make = make
    }

    public func option(_ key: String) -> Option? { options.first { $0.key == key } }

    /// What a port name means for blocks of this type, or `nil` if they
    /// have no such port.
    public func port(named name: String) -> PortReference? {
        guard let side = PortSide(portName: name) else { return nil }
        if name == side.defaultPort { return PortReference(name: name, side: side, slot: .standard) }
        if let i = extraPorts.firstIndex(where: { $0.name == name }) {
            return PortReference(name: name, side: side, slot: .extra(i))
        }
        for (i, f) in portFamilies.enumerated() where name.hasPrefix(f.prefix) {
            if let key = f.key(name.dropFirst(f.prefix.count)) {
                return PortReference(name: name, side: side, slot: .member(family: i, key: key))
            }
        }
        return nil
    }

    /// The port a bind without a port name fills on `side` when the default
    /// port is taken (tee's clone port, bpf's no-match port), if any.
    public func secondBindPort(_ side: PortSide) -> String? {
        extraPorts.first { $0.takesSecondBind && PortSide(portName: $0.name) == side }?.name
    }

    /// Every port name a user can give for this type (families as
    /// `<prefix><help>`), for messages and `fbctl show`.
    public var portNames: [String] {
        ["up", "down"] + extraPorts.map(\.name) + portFamilies.map { $0.prefix + $0.placeholder }
    }
}

/// A port a block type declares besides `up` and `down`.
public struct PortDeclaration: Sendable {
    /// `up.<x>` or `down.<x>`: the prefix names the side.
    public let name: String
    public let help: String
    /// A second bind on this port's side that names no port fills this one
    /// instead of failing with `EBUSY` (tee's clone port, bpf's no-match port).
    public let takesSecondBind: Bool

    public init(_ name: String, _ help: String, takesSecondBind: Bool = false) {
        self.name = name; self.help = help; self.takesSecondBind = takesSecondBind
    }
}

/// A family of ports named `<prefix><suffix>`, where the type turns the
/// suffix into a 32-bit key once, at bind time; the block finds a member
/// with ``BlockPorts/member(_:)``.
public struct PortFamily: Sendable {
    /// `up.<x>.` or `down.<x>.`.
    public let prefix: String
    /// How the suffix is written, for messages (`<type>`).
    public let placeholder: String
    public let help: String
    /// The key for a suffix, or `nil` if the suffix is not one.
    public let key: @Sendable (Substring) -> UInt32?

    public init(prefix: String, placeholder: String, help: String, key: @escaping @Sendable (Substring) -> UInt32?) {
        self.prefix = prefix; self.placeholder = placeholder; self.help = help; self.key = key
    }
}

/// A port name resolved against a block type.
public struct PortReference: Sendable, Equatable {
    public enum Slot: Sendable, Equatable {
        /// `up` or `down`.
        case standard
        /// A fixed extra port, by index in ``BlockType/extraPorts``.
        case extra(Int)
        /// A member of the family at `family` under `key`.
        case member(family: Int, key: UInt32)
    }
    public let name: String
    public let side: PortSide
    public let slot: Slot
}
