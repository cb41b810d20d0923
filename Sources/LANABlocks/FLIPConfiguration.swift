import LANACore
import Synchronization

/// Numbers every `flip` configuration made, so that an engine can tell a
/// new one from the one it last saw (an address can be reused; a number is not).
private let configurationSerials = Atomic<UInt64>(1)

/// A `flip` block's options: its local addresses and whether it forwards;
/// and, derived from its binds, the `arp` block below it, whose table
/// learns from the packets this block delivers (docs/flip.md §10.6 b).
/// Immutable; published in the snapshot (see ``BlockConfiguration``).
public final class FLIPConfiguration: BlockConfiguration, @unchecked Sendable {
    /// Local addresses, in the order given.
    public let addresses: [FLIPAddress]
    /// Act as a forwarding node (docs/flip.md §7).
    public let forward: Bool
    /// `addresses` in memory the data path reads without reference counting.
    private let local: UnsafeMutablePointer<FLIPAddress>
    private let localCount: Int
    /// The `arp` block bound below and its configuration when this was
    /// derived (for its static entries, which learning leaves alone).
    /// Owned here; the data path reads them through `learner`.
    let arp: ARPBlock?
    let arpConfiguration: ARPConfiguration?
    /// The same, without reference counting.
    let learner: Learner?
    typealias Learner = (block: Unmanaged<ARPBlock>, configuration: Unmanaged<ARPConfiguration>)
    /// This configuration's number, never reused.
    let serial: UInt64

    public convenience init(addresses: [FLIPAddress] = [], forward: Bool = false) {
        self.init(addresses: addresses, forward: forward, arp: nil)
    }

    init(addresses: [FLIPAddress], forward: Bool, arp: (ARPBlock, ARPConfiguration)?) {
        self.addresses = addresses
        self.forward = forward
        localCount = addresses.count
        local = .allocate(capacity: Swift.max(addresses.count, 1))
        local.initialize(from: addresses, count: addresses.count)
        self.arp = arp?.0
        arpConfiguration = arp?.1
        learner = arp.map { (Unmanaged.passUnretained($0.0), Unmanaged.passUnretained($0.1)) }
        serial = configurationSerials.add(1, ordering: .relaxed).oldValue
        super.init()
    }

    private func with(addresses: [FLIPAddress]? = nil, forward: Bool? = nil) -> FLIPConfiguration {
        FLIPConfiguration(addresses: addresses ?? self.addresses, forward: forward ?? self.forward,
                          arp: arp.flatMap { a in arpConfiguration.map { (a, $0) } })
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

    static let configurator = BlockType.Configurator(
        initial: { FLIPConfiguration() },
        derive: { current, neighbours in
            let c = current as! FLIPConfiguration
            let below = neighbours.first { $0.side == .lower && $0.block is ARPBlock }
            let block = below?.block as? ARPBlock
            let configuration = below?.configuration as? ARPConfiguration
            if block === c.arp && configuration?.statics == c.arpConfiguration?.statics { return nil }
            return FLIPConfiguration(addresses: c.addresses, forward: c.forward,
                                     arp: block.flatMap { b in configuration.map { (b, $0) } })
        }
    ) { current, key, value throws(BlockOptionError) in
        let c = current as! FLIPConfiguration
        switch key {
        case "address":
            return .configure(c.with(addresses: try FLIPAddress.parseList(value)))
        case "forward":
            return .configure(c.with(forward: try OnOff.parse(value, option: key)))
        default:
            throw BlockOptionError("unknown option \(key)")
        }
    }
}
