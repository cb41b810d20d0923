import Glibc
import LANACore
import LANAPosix
import Synchronization
import SystemPackage

/// The `ethernet` device kind: a network interface hooked into the graph
/// (`vlink ethernet hook <ifname>`) as an `eth` block named after it, with
/// one `TPACKET_V3` receive ring (in one fanout group) and one transmit
/// ring per engine.
public final class EthernetDevice: Device, @unchecked Sendable {
    public static let kind = DeviceKind(
        name: "ethernet", blockType: EthBlock.type,
        validateName: { (name) throws(RegistryError) in try EthernetDevice.validateName(name) },
        open: { (name, engineCount) throws(RegistryError) in try EthernetDevice(opening: name, engineCount: engineCount) })

    public let name: String
    public let interfaceIndex: Int32
    public let fanoutGroup: UInt16
    private let eth: EthBlock
    private let sockets: [PacketSocket]
    /// The engines' sources, made when the registry hands out the IDP.
    private let sources = Mutex<[EthSource]>([])

    public var block: FunctionalBlock { eth }

    /// Fanout group ids are shared by the whole network namespace: start
    /// somewhere this process is unlikely to collide, then count up.
    private static let nextGroup = Atomic<UInt16>(UInt16(truncatingIfNeeded: getpid() &* 131))

    /// Opens one receive and one transmit ring per engine on `name`.
    public init(opening name: String, engineCount: Int) throws(RegistryError) {
        let index: Int32
        let linkAddress: MACAddress
        do {
            let interface = try Interface(named: name)
            index = interface.index
            linkAddress = interface.hardwareAddress
        } catch {
            throw RegistryError(Errno(rawValue: ENODEV), "no interface named \(name)")
        }
        var sockets: [PacketSocket] = []
        var transmitters: [PacketTransmitter] = []
        var lastError: Errno?
        var group: UInt16 = 0
        // Another process may use our group id: try a few.
        for _ in 0..<8 {
            group = Self.nextGroup.wrappingAdd(1, ordering: .relaxed).newValue
            sockets = []
            transmitters = []
            do throws(Errno) {
                for _ in 0..<engineCount {
                    let config = PacketSocket.Configuration(
                        promiscuous: true, ignoreOutgoing: true, fanout: .init(group: group, mode: .hash))
                    sockets.append(try PacketSocket(interfaceIndex: index, configuration: config))
                    transmitters.append(try PacketTransmitter(interfaceIndex: index))
                }
                lastError = nil
                break
            } catch {
                lastError = error
                if error.rawValue != EINVAL && error.rawValue != EALREADY && error.rawValue != EBUSY { break }
            }
        }
        if let lastError {
            throw RegistryError(lastError.rawValue == ENODEV || lastError.rawValue == ENXIO ? Errno(rawValue: ENODEV) : lastError,
                                "cannot open packet sockets on \(name): \(lastError)")
        }
        self.name = name
        interfaceIndex = index
        fanoutGroup = group
        self.sockets = sockets
        eth = EthBlock(interfaceName: name, interfaceIndex: index, linkAddress: linkAddress, transmitters: transmitters, engineCount: engineCount)
    }

    public func makeSources(entry: IDP) -> [PacketSource] {
        let made = sockets.enumerated().map { EthSource(socket: $1, block: eth, entry: entry, engine: $0) }
        sources.withLock { $0 = made }
        return made
    }

    public var stateLine: String {
        let state: String
        switch Interface.linkState(index: interfaceIndex) {
        case .gone: state = "gone"
        case .down: state = "down"
        default: state = "up"
        }
        return "\(name) ethernet \(interfaceIndex) \(state)"
    }

    public var isGone: Bool {
        if case .gone = Interface.linkState(index: interfaceIndex) { return true }
        return false
    }

    /// Reads the ring drops the kernel counted into the block's counters.
    public func refresh() {
        var drops: UInt64 = 0
        for s in sources.withLock({ $0 }) { drops &+= (try? s.socket.statistics().drops) ?? 0 }
        eth.ringDrops = drops
    }

    /// The sockets close with their last reference, which the published
    /// snapshots (sources, block) and this device hold; nothing to release
    /// early.
    public func close() {}

    /// The kernel's rule for interface names (`dev_valid_name` and
    /// `dev_get_valid_name` in `net/core/dev.c`), which an `eth` block's
    /// name follows since it is its interface's: 1–15 bytes, not `.` or
    /// `..`, no `/`, `:` or whitespace — the kernel's `isspace`: tab, line
    /// feed, vertical tab, form feed, carriage return, space and byte 0xA0
    /// (so a UTF-8 character ending in that byte, like `à`, is out too) —
    /// and no `%`, which makes the name a template the kernel fills in, so
    /// that no interface ever has one.
    public static func validateName(_ name: String) throws(RegistryError) {
        let bytes = Array(name.utf8)
        let ok = !bytes.isEmpty && bytes.count <= 15 && name != "." && name != ".." && !bytes.contains {
            $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "%") || $0 == 0
                || (0x09...0x0D).contains($0) || $0 == 0x20 || $0 == 0xA0
        }
        if !ok {
            throw RegistryError(Errno(rawValue: EINVAL),
                "invalid interface name \(RegistryState_quoted(name)): expected 1-15 bytes, not . or .., without / : % or whitespace (the kernel's rule)")
        }
    }

}

private func RegistryState_quoted(_ s: String) -> String {
    s.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "'" } && !s.isEmpty ? s : "'\(s)'"
}
