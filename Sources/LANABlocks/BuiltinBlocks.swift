import LANACore

/// The block types this package provides, for registering them at once.
public enum BuiltinBlocks {
    public static let types: [BlockType] = [
        DummyBlock.type,
        CounterBlock.type,
        TeeBlock.type,
        BpfBlock.type,
        FLIPBlock.type,
        ARPBlock.type,
        EchoBlock.type,
    ]

    /// Registers every built-in type with `registry`.
    public static func register(in registry: Registry) {
        for t in types { registry.register(t) }
    }
}
