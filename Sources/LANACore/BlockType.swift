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
    /// Whether a second bind on a side fills that side's secondary port
    /// (tee's clone port, bpf's no-match port) instead of failing with EBUSY.
    public let hasSecondaryPorts: Bool
    /// Blocks of this type stand for an interface (eth): `replace` refuses
    /// them with `EINVAL` and `fbctl add` cannot create them.
    public let isInterface: Bool
    public let make: @Sendable (Environment) -> FunctionalBlock

    public init(name: String, summary: String, options: [Option] = [],
                hasSecondaryPorts: Bool = false, isInterface: Bool = false,
                make: @escaping @Sendable (Environment) -> FunctionalBlock) {
        self.name = name; self.summary = summary; self.options = options
        self.hasSecondaryPorts = hasSecondaryPorts; self.isInterface = isInterface
        self.make = make
    }

    public func option(_ key: String) -> Option? { options.first { $0.key == key } }
}
