/// A request of the control protocol: a command and its arguments.
///
/// Each argument is one attribute on the wire. Which ones a command takes is
/// fixed by ``ControlCommand/requiredAttributes`` and
/// ``ControlCommand/optionalAttributes``; encoding and decoding both enforce
/// it, so a handler can rely on every required field of a decoded request
/// being set and every other field being `nil` (or empty).
///
/// Build requests with the static constructors, which take exactly the
/// arguments of their command:
///
/// ```swift
/// let reply = try client.send(.bind("a", onTopOf: "b"))
/// ```
public struct ControlRequest: Hashable, Sendable {
    /// What to do.
    public var command: ControlCommand
    /// `NAME`: the block (or virtual link) the command is about.
    public var name: String?
    /// `NAME2`: the second block of BIND, UNBIND, REPLACE, SUBSCRIBE, UNSUBSCRIBE.
    public var name2: String?
    /// `TYPE`: the block type of ADD.
    public var type: String?
    /// `OPTION`: the `key=value` of SET.
    public var option: String?
    /// `IFNAME`: the interface of HOOK/UNHOOK, the root device of VADD.
    public var interfaceName: String?
    /// `TAG`: the virtual link tag of VADD.
    public var tag: UInt32?
    /// `FLAGS`: modifiers, so far only ``ControlFlags/drop`` for REPLACE.
    public var flags: ControlFlags
    /// `LINE`, repeated: the command lines of APPLY, in order.
    public var lines: [String]
    /// `PORT`: the port a BIND names, if any.
    public var port: String?

    /// A request with the given fields; see the static constructors for the
    /// fields each command takes.
    public init(
        command: ControlCommand,
        name: String? = nil,
        name2: String? = nil,
        type: String? = nil,
        option: String? = nil,
        interfaceName: String? = nil,
        tag: UInt32? = nil,
        flags: ControlFlags = [],
        lines: [String] = [],
        port: String? = nil
    ) {
        self.command = command
        self.name = name
        self.name2 = name2
        self.type = type
        self.option = option
        self.interfaceName = interfaceName
        self.tag = tag
        self.flags = flags
        self.lines = lines
        self.port = port
    }
}

extension ControlRequest {
    /// ADD: build a block `name` of block type `type`.
    public static func add(name: String, type: String) -> ControlRequest {
        ControlRequest(command: .add, name: name, type: type)
    }

    /// RM: remove the block `name`.
    public static func remove(name: String) -> ControlRequest {
        ControlRequest(command: .remove, name: name)
    }

    /// SET: send `option` (`key=value`) to the block `name`.
    public static func set(name: String, option: String) -> ControlRequest {
        ControlRequest(command: .set, name: name, option: option)
    }

    /// BIND: `upper` on top of `lower`, through `port` if given (`up.<x>`
    /// of `lower` or `down.<x>` of `upper`).
    public static func bind(_ upper: String, onTopOf lower: String, port: String? = nil) -> ControlRequest {
        ControlRequest(command: .bind, name: upper, name2: lower, port: port)
    }

    /// UNBIND: undo a bind of `upper` on top of `lower`.
    public static func unbind(_ upper: String, from lower: String) -> ControlRequest {
        ControlRequest(command: .unbind, name: upper, name2: lower)
    }

    /// REPLACE: `new` takes over `old`'s name, IDP, ports and subscriptions;
    /// with `dropState` (`replace-drop`) the private state is not moved.
    public static func replace(_ old: String, with new: String, dropState: Bool = false) -> ControlRequest {
        ControlRequest(command: .replace, name: old, name2: new, flags: dropState ? .drop : [])
    }

    /// SUBSCRIBE: `subscriber` receives the events of `publisher`
    /// (`fbctl subscribe <publisher> <subscriber>`).
    public static func subscribe(publisher: String, subscriber: String) -> ControlRequest {
        ControlRequest(command: .subscribe, name: publisher, name2: subscriber)
    }

    /// UNSUBSCRIBE: undo a subscription of `subscriber` to `publisher`
    /// (`fbctl unsubscribe <publisher> <subscriber>`).
    public static func unsubscribe(publisher: String, subscriber: String) -> ControlRequest {
        ControlRequest(command: .unsubscribe, name: publisher, name2: subscriber)
    }

    /// LIST: dump all blocks.
    public static var list: ControlRequest { ControlRequest(command: .list) }

    /// TYPES: dump the registered block types.
    public static var types: ControlRequest { ControlRequest(command: .types) }

    /// SHOW: describe the block `name`.
    public static func show(name: String) -> ControlRequest {
        ControlRequest(command: .show, name: name)
    }

    /// HOOK: create the `eth` block of `interface`.
    public static func hook(interface: String) -> ControlRequest {
        ControlRequest(command: .hook, interfaceName: interface)
    }

    /// UNHOOK: remove the `eth` block of `interface`.
    public static func unhook(interface: String) -> ControlRequest {
        ControlRequest(command: .unhook, interfaceName: interface)
    }

    /// VADD: a virtual link `name` on `rootDevice` with `tag`.
    public static func addVirtualLink(name: String, rootDevice: String, tag: UInt32) -> ControlRequest {
        ControlRequest(command: .addVirtualLink, name: name, interfaceName: rootDevice, tag: tag)
    }

    /// VRM: remove the virtual link `name`.
    public static func removeVirtualLink(name: String) -> ControlRequest {
        ControlRequest(command: .removeVirtualLink, name: name)
    }

    /// WATCH: stream events on this connection.
    public static var watch: ControlRequest { ControlRequest(command: .watch) }

    /// APPLY: check `lines` and run them as one unit.
    public static func apply(lines: [String]) -> ControlRequest {
        ControlRequest(command: .apply, lines: lines)
    }
}

extension ControlRequest {
    /// The request's attributes in wire order: the command's required
    /// attributes, then optional ones. `FLAGS` is sent only when non-empty.
    var attributeValues: [(ControlAttribute, NetlinkMessage.Value)] {
        var values: [(ControlAttribute, NetlinkMessage.Value)] = []
        if let name { values.append((.name, .string(name))) }
        if let name2 { values.append((.name2, .string(name2))) }
        if let type { values.append((.type, .string(type))) }
        if let option { values.append((.option, .string(option))) }
        if let interfaceName { values.append((.interfaceName, .string(interfaceName))) }
        if let tag { values.append((.tag, .u32(tag))) }
        if !flags.isEmpty { values.append((.flags, .u32(flags.rawValue))) }
        for line in lines { values.append((.line, .string(line))) }
        if let port { values.append((.port, .string(port))) }
        return values
    }

    /// Checks that the fields match the command: required ones present,
    /// others absent, flags known.
    public func validate() throws(ControlProtocolError) {
        // The daemon validates every request it decodes: the common case
        // (all is well) is checked on bit masks, without allocating.
        let required = command.requiredAttributeSet
        let present = presentAttributes
        if required.isSubset(of: present), present.isSubset(of: command.allowedAttributeSet),
            flags.subtracting(.known).isEmpty
        {
            return
        }
        try explainInvalid(present)
    }

    /// The attributes the fields would be encoded as.
    private var presentAttributes: ControlAttributeSet {
        var set = ControlAttributeSet()
        if name != nil { set.insert(.name) }
        if name2 != nil { set.insert(.name2) }
        if type != nil { set.insert(.type) }
        if option != nil { set.insert(.option) }
        if interfaceName != nil { set.insert(.interfaceName) }
        if tag != nil { set.insert(.tag) }
        if !flags.isEmpty { set.insert(.flags) }
        if !lines.isEmpty { set.insert(.line) }
        if port != nil { set.insert(.port) }
        return set
    }

    /// Throws the error naming what ``validate()`` found wrong.
    private func explainInvalid(_ presentSet: ControlAttributeSet) throws(ControlProtocolError) {
        let present = Set(presentSet.members)
        let allowed = Set(command.requiredAttributes + command.optionalAttributes)
        for attribute in command.requiredAttributes where !present.contains(attribute) {
            throw .malformed("\(command.wireName) requires attribute \(attribute.wireName)")
        }
        for attribute in ControlAttribute.allCases where present.contains(attribute) && !allowed.contains(attribute) {
            let expected = allowed.isEmpty ? "none" : allowed.sorted { $0.rawValue < $1.rawValue }
                .map(\.wireName).joined(separator: ", ")
            throw .malformed(
                "attribute \(attribute.wireName) is not valid in \(command.wireName) (expected: \(expected))")
        }
        let unknownFlags = flags.subtracting(.known)
        guard unknownFlags.isEmpty else {
            throw .malformed(
                "FLAGS has unknown bits 0x\(String(unknownFlags.rawValue, radix: 16)); "
                    + "known: 0x\(String(ControlFlags.known.rawValue, radix: 16)) (DROP)")
        }
    }
}
