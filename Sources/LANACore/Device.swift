/// A resource that stands in the graph as a block (docs/design.md §1): a
/// hooked interface today (`eth`), TAP links, application sockets and
/// AF_XDP queues later.
///
/// A ``DeviceKind`` opens one; the registry adds its block and the
/// per-engine sources that feed it in one snapshot
/// (``Registry/attach(kind:name:)``), lists it for the `vlink` state file,
/// and, when the block leaves, publishes the snapshot without it and only
/// then closes it — so no engine can still be reading what `close`
/// releases. The registry knows nothing of any particular kind: a new one
/// is a ``DeviceKind`` registered with ``Registry/register(_:)-(DeviceKind)``.
public protocol Device: AnyObject, Sendable {
    /// The block's name (for an interface, the interface's name).
    var name: String { get }
    /// The block that stands for the device in the graph.
    var block: FunctionalBlock { get }
    /// One source per engine (or none) feeding `entry`, the block's IDP.
    func makeSources(entry: IDP) -> [PacketSource]
    /// The device's line in the `vlink` state file:
    /// `<name> <kind> <details…>`.
    var stateLine: String { get }
    /// Whether the resource went away underneath (an interface deleted):
    /// the owner then detaches the block by force.
    var isGone: Bool { get }
    /// Brings what the device reads from the kernel (ring drops) into its
    /// block's counters, before `fbctl show` reads them.
    func refresh()
    /// Releases the resource. Called once, after no snapshot has the block
    /// any more, or when a batch that opened it was refused.
    func close()
}

/// How devices of one kind are named and opened (`vlink ethernet hook
/// <ifname>`: the kind `ethernet`).
public struct DeviceKind: Sendable {
    /// The word `vlink` uses for it.
    public let name: String
    /// The type of its blocks; `fbctl add` cannot make them.
    public let blockType: BlockType
    /// Refuses a name no device of this kind can have (`EINVAL`).
    public let validateName: @Sendable (String) throws(RegistryError) -> Void
    /// Opens the device called `name` for `engineCount` engines.
    public let open: @Sendable (_ name: String, _ engineCount: Int) throws(RegistryError) -> any Device

    public init(name: String, blockType: BlockType,
                validateName: @escaping @Sendable (String) throws(RegistryError) -> Void,
                open: @escaping @Sendable (_ name: String, _ engineCount: Int) throws(RegistryError) -> any Device) {
        precondition(blockType.isDevice, "device kind \(name): its block type must be marked isDevice")
        self.name = name; self.blockType = blockType; self.validateName = validateName; self.open = open
    }
}
