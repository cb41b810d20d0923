import LANACore
import LANAPosix

/// An `arp` block's configuration: what the user set (extra local
/// addresses, static entries, how IPv4 is resolved) and what the block
/// learned from its neighbours when they were bound (the interface's MAC
/// from the link block below, the local addresses of the `flip` blocks
/// above; see ``BlockType/Configurator/derive``). Immutable; published in
/// the snapshot with the binds that taught it.
public final class ARPConfiguration: BlockConfiguration, @unchecked Sendable {
    public struct StaticEntry: Equatable, Sendable {
        public let address: FLIPAddress
        public let mac: MACAddress
    }

    /// `address=`: local addresses besides those of the flip blocks above.
    public let addresses: [FLIPAddress]
    /// `static=`: entries learning never overwrites.
    public let statics: [StaticEntry]
    /// `ipv4-encoding=`: how 4-byte addresses are resolved.
    public let ipv4Encoding: ARPEncoding
    /// Learned: the MAC of the link below (`nil` while unbound).
    public let linkAddress: MACAddress?
    /// Learned: the local addresses of the flip blocks bound above.
    public let upperAddresses: [FLIPAddress]

    /// `addresses + upperAddresses` and the statics, in memory the data
    /// path reads without reference counting.
    private let local: UnsafeMutablePointer<FLIPAddress>
    private let localCount: Int
    private let staticEntries: UnsafeMutablePointer<StaticEntry>
    private let staticCount: Int
    /// The link address as a word; 0 while unknown.
    let ownMAC: MACAddress

    public init(addresses: [FLIPAddress] = [], statics: [StaticEntry] = [], ipv4Encoding: ARPEncoding = .rfc826,
                linkAddress: MACAddress? = nil, upperAddresses: [FLIPAddress] = []) {
        self.addresses = addresses
        self.statics = statics
        self.ipv4Encoding = ipv4Encoding
        self.linkAddress = linkAddress
        self.upperAddresses = upperAddresses
        ownMAC = linkAddress ?? MACAddress(rawValue: 0)
        let all = addresses + upperAddresses
        localCount = all.count
        local = .allocate(capacity: Swift.max(all.count, 1))
        local.initialize(from: all, count: all.count)
        staticCount = statics.count
        staticEntries = .allocate(capacity: Swift.max(statics.count, 1))
        staticEntries.initialize(from: statics, count: statics.count)
        super.init()
    }

    deinit {
        local.deallocate()
        staticEntries.deallocate()
    }

    private func with(addresses: [FLIPAddress]? = nil, statics: [StaticEntry]? = nil, ipv4Encoding: ARPEncoding? = nil,
                      linkAddress: MACAddress?? = nil, upperAddresses: [FLIPAddress]? = nil) -> ARPConfiguration {
        ARPConfiguration(addresses: addresses ?? self.addresses, statics: statics ?? self.statics,
                         ipv4Encoding: ipv4Encoding ?? self.ipv4Encoding, linkAddress: linkAddress ?? self.linkAddress,
                         upperAddresses: upperAddresses ?? self.upperAddresses)
    }

    /// Whether `address` is local (answered, learned from).
    @inline(__always)
    func isLocal(_ address: FLIPAddress) -> Bool {
        var i = 0
        while i < localCount {
            if local[i] == address { return true }
            i &+= 1
        }
        return false
    }

    @inline(__always)
    func staticMAC(_ address: FLIPAddress) -> MACAddress? {
        var i = 0
        while i < staticCount {
            if staticEntries[i].address == address { return staticEntries[i].mac }
            i &+= 1
        }
        return nil
    }

    /// The Source a request for an address of `kind` carries (docs/flip.md
    /// §10.2): a local address of the same size, else a 4-byte one, else
    /// 0.0.0.0 (which peers answer but do not learn).
    @inline(__always)
    func requesterAddress(for kind: FLIPAddress.Kind) -> FLIPAddress {
        var fallback: FLIPAddress?
        var i = 0
        while i < localCount {
            if local[i].kind == kind { return local[i] }
            if fallback == nil && local[i].kind == .ipv4 { fallback = local[i] }
            i &+= 1
        }
        return fallback ?? FLIPAddress(kind: .ipv4, high: 0, low: 0)
    }

    public override var values: [(key: String, value: String)] {
        [("address", addresses.map(\.description).joined(separator: ",")),
         ("static", statics.map { "\($0.address)@\($0.mac)" }.joined(separator: ",")),
         ("ipv4-encoding", ipv4Encoding.rawValue),
         ("link-address", linkAddress.map(\.description) ?? "-"),
         ("flip-addresses", upperAddresses.map(\.description).joined(separator: ","))]
    }

    static func parseStatics(_ value: String) throws(BlockOptionError) -> [StaticEntry] {
        var out: [StaticEntry] = []
        for item in value.split(separator: ",", omittingEmptySubsequences: false) where !(value.isEmpty) {
            guard let at = item.firstIndex(of: "@") else {
                throw BlockOptionError("static entry '\(item)': expected <address>@<mac>, as 10.0.0.3@02:00:00:00:00:03")
            }
            let address: FLIPAddress, mac: MACAddress
            do throws(BlockOptionError) {
                address = try FLIPAddress.parse(item[..<at])
                mac = try MACAddress.parse(item[item.index(after: at)...])
            } catch {
                throw BlockOptionError("static entry '\(item)': \(error.message)")
            }
            out.removeAll { $0.address == address }
            out.append(StaticEntry(address: address, mac: mac))
        }
        return out
    }

    static let configurator = BlockType.Configurator(
        initial: { ARPConfiguration() },
        derive: { current, neighbours in
            let c = current as! ARPConfiguration
            let link = neighbours.first { $0.side == .lower && $0.block is any LinkBlock }.map { ($0.block as! any LinkBlock).linkAddress }
            var upper: [FLIPAddress] = []
            for n in neighbours where n.side == .upper {
                for a in (n.configuration as? FLIPConfiguration)?.addresses ?? [] where !upper.contains(a) { upper.append(a) }
            }
            if link == c.linkAddress && upper == c.upperAddresses { return nil }
            return c.with(linkAddress: .some(link), upperAddresses: upper)
        }
    ) { current, key, value throws(BlockOptionError) in
        let c = current as! ARPConfiguration
        switch key {
        case "address":
            return .configure(c.with(addresses: try FLIPAddress.parseList(value)))
        case "static":
            return .configure(c.with(statics: try parseStatics(value)))
        case "ipv4-encoding":
            guard let e = ARPEncoding(rawValue: value) else {
                throw BlockOptionError("ipv4-encoding takes rfc826 or flip, not '\(value)'")
            }
            return .configure(c.with(ipv4Encoding: e))
        default:
            throw BlockOptionError("unknown option \(key)")
        }
    }
}

/// A block that stands for a link and knows its hardware address (`eth`):
/// the `arp` block above learns its MAC from it when they are bound.
public protocol LinkBlock: AnyObject {
    var linkAddress: MACAddress { get }
}
