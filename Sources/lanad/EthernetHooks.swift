import Glibc
import LANABlocks
import LANACore
import LANAPosix
import Logging
import Synchronization
import SystemPackage

/// `vlink ethernet hook/unhook`: creates an `eth` block per interface with
/// one receive ring and one transmit ring per engine, and removes it again.
/// Runs on the control thread.
final class EthernetHooks: InterfaceHooking {
    struct Hooked {
        let block: EthBlock
        let sources: [EthSource]
    }

    let registry: Registry
    let engineCount: Int
    let log: Logger
    private var hooked: [String: Hooked] = [:]
    private var nextGroup = UInt16(truncatingIfNeeded: getpid() &* 131)

    init(registry: Registry, engineCount: Int, log: Logger) {
        self.registry = registry
        self.engineCount = engineCount
        self.log = log
        registry.register(EthBlock.type)
    }

    func hook(_ ifname: String) throws(RegistryError) {
        if hooked[ifname] != nil {
            throw RegistryError(Errno(rawValue: EEXIST), "\(ifname) is already hooked")
        }
        try registry.checkInterfaceName(ifname)
        let prepared = try prepare(ifname)
        try registry.addInterface(ifname, type: prepared.typeName, block: prepared.block, sources: prepared.makeSources)
        adopt(prepared)
    }

    /// Opens what hooking `ifname` takes — one receive and one transmit
    /// ring per engine — and makes its block, without adding it to the
    /// registry (`adopt` records it once the registry has it). Dropped
    /// unused, it closes its sockets again.
    func prepare(_ ifname: String) throws(RegistryError) -> PreparedHook {
        if hooked[ifname] != nil {
            throw RegistryError(Errno(rawValue: EEXIST), "\(ifname) is already hooked")
        }
        let index: Int32
        do { index = try Interface.index(named: ifname) } catch {
            throw RegistryError(Errno(rawValue: ENODEV), "no interface named \(ifname)")
        }
        var sockets: [PacketSocket] = []
        var transmitters: [PacketTransmitter] = []
        var lastError: Errno?
        // Fanout group ids are shared by the whole network namespace; try a
        // few in case another process uses ours.
        for _ in 0..<8 {
            nextGroup &+= 1
            sockets = []
            transmitters = []
            do throws(Errno) {
                for _ in 0..<engineCount {
                    let config = PacketSocket.Configuration(
                        promiscuous: true, ignoreOutgoing: true,
                        fanout: .init(group: nextGroup, mode: .hash))
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
                                "cannot open packet sockets on \(ifname): \(lastError)")
        }
        let block = EthBlock(interfaceName: ifname, interfaceIndex: index, transmitters: transmitters, engineCount: engineCount)
        return PreparedHook(name: ifname, index: index, group: nextGroup, block: block, sockets: sockets)
    }

    /// Records a hook the registry now has.
    func adopt(_ prepared: PreparedHook) {
        hooked[prepared.name] = Hooked(block: prepared.block, sources: prepared.sources)
        log.info("hooked \(prepared.name) (ifindex \(prepared.index)) with \(engineCount) receive ring(s), fanout group \(prepared.group)")
    }

    func unhook(_ ifname: String) throws(RegistryError) {
        guard hooked[ifname] != nil else {
            throw RegistryError(Errno(rawValue: ENOENT), "\(ifname) is not hooked")
        }
        try registry.removeInterface(ifname)
        hooked[ifname] = nil
        log.info("unhooked \(ifname)")
    }

    /// Unhooks everything (clean shutdown), forcing through binds.
    func unhookAll() {
        for name in hooked.keys.sorted() {
            try? registry.removeInterface(name, force: true)
            hooked[name] = nil
        }
    }

    /// Reads the ring drops the kernel counted since the last call into the
    /// eth blocks' counters (`fbctl show` calls it, so they are current).
    func collectRingDrops() {
        for h in hooked.values {
            var drops: UInt64 = 0
            for s in h.sources { drops &+= (try? s.socket.statistics().drops) ?? 0 }
            h.block.ringDrops = drops
        }
    }

    /// Collects ring drops from the kernel and unhooks interfaces that
    /// disappeared (control thread). Returns whether anything changed.
    /// - Parameter reason: What prompted the look, for the log.
    @discardableResult
    func poll(reason: String) -> Bool {
        collectRingDrops()
        var changed = false
        for (name, h) in hooked {
            if case .gone = Interface.linkState(index: h.block.interfaceIndex) {
                do {
                    try registry.removeInterface(name, force: true)
                    log.warning("interface \(name) disappeared (\(reason)): unhooked it (and unbound its blocks)")
                } catch {
                    log.error("interface \(name) disappeared but could not be unhooked: \(error)")
                }
                hooked[name] = nil
                changed = true
            }
        }
        return changed
    }

    var stateLines: [String] {
        hooked.keys.sorted().map { name in
            let h = hooked[name]!
            let state: String
            switch Interface.linkState(index: h.block.interfaceIndex) {
            case .gone: state = "gone"
            case .down: state = "down"
            default: state = "up"
            }
            return "\(name) ethernet \(h.block.interfaceIndex) \(state)"
        }
    }
}

/// An interface opened for hooking but not yet in the registry (see
/// `EthernetHooks.prepare`).
final class PreparedHook {
    let name: String
    let index: Int32
    let group: UInt16
    let block: EthBlock
    let sockets: [PacketSocket]
    /// The engines' sources, made when the registry hands out the IDP.
    private(set) var sources: [EthSource] = []
    var typeName: String { EthBlock.type.name }

    init(name: String, index: Int32, group: UInt16, block: EthBlock, sockets: [PacketSocket]) {
        self.name = name
        self.index = index
        self.group = group
        self.block = block
        self.sockets = sockets
    }

    /// One source per engine, feeding the block's IDP.
    func makeSources(_ idp: IDP) -> [PacketSource] {
        sources = sockets.enumerated().map { EthSource(socket: $1, block: block, entry: idp, engine: $0) }
        return sources
    }
}
