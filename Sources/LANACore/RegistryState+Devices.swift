import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

extension RegistryState {
    /// Opens a device of `kind` called `name` and adds its block and
    /// per-engine sources.
    mutating func attach(kind kindName: String, name: String, fx: inout RegistryEffects) throws(RegistryError) -> IDP {
        guard let kind = deviceKinds.first(where: { $0.name == kindName }) else {
            let known = deviceKinds.map(\.name).joined(separator: ", ")
            throw RegistryError(Errno(rawValue: EOPNOTSUPP),
                "no device kind \(Self.quoted(kindName)) in this lanad (known kinds: \(known.isEmpty ? "none" : known))")
        }
        try kind.validateName(name)
        if let existing = names.lookup(name) {
            throw RegistryError(Errno(rawValue: EEXIST), node(existing).device != nil
                ? "\(name) is already hooked" : "a block named \(name) already exists")
        }
        let device = try kind.open(name, environment.engineCount)
        fx.opened.append(device)
        let idp = try add(name: name, typeName: kind.blockType.name, fx: &fx, device: device)
        for (e, source) in device.makeSources(entry: idp).enumerated() {
            sources[e % sources.count].append((idp, source))
        }
        fx.events.append(BlockEvent(.hooked, block: name, idp: idp))
        return idp
    }

    /// Removes a device's block (refused while bound unless `force`).
    mutating func detachDevice(_ name: String, force: Bool, fx: inout RegistryEffects) throws(RegistryError) {
        let idp = try idp(name)
        if force { try detach(name, fx: &fx) }
        try remove(name: name, fx: &fx, device: true)
        fx.events.append(BlockEvent(.unhooked, block: name, idp: idp, detail: force ? "device gone" : ""))
    }

    /// The `vlink` word for the kind whose blocks are of `type`.
    func deviceKindName(of type: BlockType) -> String {
        deviceKinds.first { $0.blockType === type }?.name ?? type.name
    }
}
