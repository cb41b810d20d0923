import LANABlocks
import LANACore
import Logging
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// lanad's side of devices (`vlink <kind> hook/unhook <name>`): registers
/// the kinds it offers, hooks and unhooks through the registry's one entry
/// point, unhooks devices whose resource vanished, and renders the `vlink`
/// file. Runs on the control thread.
final class Devices {
    let registry: Registry
    let log: Logger

    init(registry: Registry, log: Logger) {
        self.registry = registry
        self.log = log
        registry.register(EthernetDevice.kind)
    }

    func hook(kind: String, name: String) throws(RegistryError) {
        let idp = try registry.attach(kind: kind, name: name)
        log.info("hooked \(name) (\(kind)) as IDP \(idp)")
    }

    func unhook(kind: String, name: String) throws(RegistryError) {
        guard registry.devices.contains(where: { $0.name == name }) else {
            throw RegistryError(Errno(rawValue: ENOENT), "\(name) is not hooked")
        }
        try registry.detach(device: name)
        log.info("unhooked \(name)")
    }

    /// Unhooks everything (clean shutdown), forcing through binds.
    func unhookAll() {
        for d in registry.devices { try? registry.detach(device: d.name, force: true) }
    }

    /// Brings the devices' kernel counters into their blocks (before `show`).
    func refresh() {
        for d in registry.devices { d.refresh() }
    }

    /// Refreshes counters and unhooks devices whose resource disappeared.
    /// Returns whether anything changed.
    /// - Parameter reason: What prompted the look, for the log.
    @discardableResult
    func poll(reason: String) -> Bool {
        var changed = false
        for d in registry.devices {
            d.refresh()
            guard d.isGone else { continue }
            do {
                try registry.detach(device: d.name, force: true)
                log.warning("interface \(d.name) disappeared (\(reason)): unhooked it (and unbound its blocks)")
            } catch {
                log.error("interface \(d.name) disappeared but could not be unhooked: \(error)")
            }
            changed = true
        }
        return changed
    }

    /// Lines of the `vlink` state file.
    var stateLines: [String] { registry.devices.map(\.stateLine) }
}
