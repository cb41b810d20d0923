import LANACore

/// A `flip` block's options: its local addresses and whether it forwards.
/// Immutable; published in the snapshot (see ``BlockConfiguration``).
public final class FLIPConfiguration: BlockConfiguration, @unchecked Sendable {
    /// Local addresses, in the order given.
    public let addresses: [FLIPAddress]
    /// Act as a forwarding node (docs/flip.md §7).
    public let forward: Bool
    /// `addresses` in memory the data path reads without reference counting.
    private let local: UnsafeMutablePointer<FLIPAddress>
    private let localCount: Int

    public init(addresses: [FLIPAddress] = [], forward: Bool = false) {
        self.addresses = addresses
        self.forward = forward
        localCount = addresses.count
        local = .allocate(capacity: Swift.max(addresses.count, 1))
        local.initialize(from: addresses, count: addresses.count)
        super.init()
    }

    deinit { local.deallocate() }

    /// Whether `address` is one of the block's own (same size and bytes).
    @inline(__always)
    public func isLocal(_ address: FLIPAddress) -> Bool {
        var i = 0
        while i < localCount {
            if local[i] == address { return true }
            i &+= 1
        }
        return false
    }

    public override var values: [(key: String, value: String)] {
        [("address", addresses.map(\.description).joined(separator: ",")), ("forward", forward ? "on" : "off")]
    }

    static let configurator = BlockType.Configurator(initial: { FLIPConfiguration() }) { current, key, value throws(BlockOptionError) in
        let c = current as! FLIPConfiguration
        switch key {
        case "address":
            let list = try FLIPAddress.parseList(value)
            return .configure(FLIPConfiguration(addresses: list, forward: c.forward))
        case "forward":
            return .configure(FLIPConfiguration(addresses: c.addresses, forward: try OnOff.parse(value, option: key)))
        default:
            throw BlockOptionError("unknown option \(key)")
        }
    }
}
