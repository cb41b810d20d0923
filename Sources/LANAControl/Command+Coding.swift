import LANACore

// The codec of ``Command``: libnl builds every request (`genlmsg_put`,
// `nla_put_*`, `nla_nest_start`/`nla_nest_end` for APPLY's commands); one
// bounds-checked walk (`GenericNetlinkView`) is the only validation of a
// received one, and the decoder below reads the values the walk checked
// straight into a `Command`. libnl's own parser would be a second pass with
// gaps of its own (it skips unknown types and keeps the last duplicate), so
// the decoder does not use it.

extension Command {
    /// Encodes the command as one request datagram.
    ///
    /// The message carries `NLM_F_REQUEST | NLM_F_ACK` (and `NLM_F_DUMP`
    /// for LIST and TYPES), `sequence` and `port` in its header. APPLY
    /// carries one nested `COMMAND` attribute per command: `CMD`, then the
    /// attributes a request of that command would carry.
    ///
    /// - Throws: ``ControlProtocolError`` if a string contains a NUL byte or
    ///   is too long, a tag is above ``maximumTag``, or the message would
    ///   exceed ``ControlProtocol/maximumDatagramSize``.
    public func encode(sequence: UInt32, port: UInt32 = 0) throws(ControlProtocolError) -> [UInt8] {
        let attributes = try wireAttributes()
        let size = attributes.reduce(NetlinkConstant.headerSize + NetlinkConstant.genericHeaderSize) { $0 + $1.encodedSize }
        let message = try NetlinkMessage(capacity: size)
        let command = wireCommand
        var flags = NetlinkConstant.flagRequest | NetlinkConstant.flagAck
        if command.isDump { flags |= NetlinkConstant.flagDump }
        try message.putGenericHeader(
            type: ControlProtocol.familyID, flags: flags, sequence: sequence, port: port, command: command.rawValue)
        try message.put(attributes)
        return message.bytes
    }

    /// The attributes of the command, in wire order.
    func wireAttributes() throws(ControlProtocolError) -> [WireAttribute] {
        switch self {
        case .graph(let graph):
            switch graph {
            case let .add(name, type): return [.string(.name, name), .string(.type, type)]
            case let .remove(name): return [.string(.name, name)]
            case let .set(name, option): return [.string(.name, name), .string(.option, option)]
            case let .bind(upper, lower, port):
                return [.string(.name, upper), .string(.name2, lower)] + (port.map { [.string(.port, $0)] } ?? [])
            case let .unbind(upper, lower): return [.string(.name, upper), .string(.name2, lower)]
            case let .replace(old, new, dropState):
                // FLAGS only when set: a plain REPLACE is two names.
                return [.string(.name, old), .string(.name2, new)]
                    + (dropState ? [.u32(.flags, ControlFlags.drop.rawValue)] : [])
            case let .subscribe(publisher, subscriber), let .unsubscribe(publisher, subscriber):
                return [.string(.name, publisher), .string(.name2, subscriber)]
            }
        case .list, .types, .watch: return []
        case .show(let name), .removeVirtualLink(let name): return [.string(.name, name)]
        case .hook(let interface), .unhook(let interface): return [.string(.interfaceName, interface)]
        case let .addVirtualLink(name, rootDevice, tag):
            guard tag <= Self.maximumTag else {
                throw .malformed("TAG \(tag) is out of range; expected 0…\(Self.maximumTag)")
            }
            return [.string(.name, name), .string(.interfaceName, rootDevice), .u32(.tag, tag)]
        case .apply(let commands):
            var attributes: [WireAttribute] = []
            attributes.reserveCapacity(commands.count)
            for batch in commands {
                let command = batch.command
                attributes.append(.nested(.command,
                    [.u32(.commandNumber, UInt32(command.wireCommand.rawValue))] + (try command.wireAttributes())))
            }
            return attributes
        }
    }

    /// Decodes a request from a received datagram.
    ///
    /// The datagram is checked once, completely, before anything is read
    /// from it: lengths, message type, the request flag, version and
    /// command, then every attribute against the policy and the command's
    /// attribute list, nested commands of APPLY with the same rules.
    ///
    /// - Throws: ``ControlProtocolError`` with `EOPNOTSUPP` for an unknown
    ///   command or version, `EINVAL` for anything else that is wrong; the
    ///   message names the offending field.
    public init(decoding datagram: UnsafeRawBufferPointer) throws(ControlProtocolError) {
        let view = try GenericNetlinkView.parse(datagram) { (raw: UInt8) throws(ControlProtocolError) in
            guard let command = ControlCommand(rawValue: raw) else {
                if raw == ControlProtocol.eventCommand {
                    throw .unsupported("command \(raw) (EVENT) is sent by the daemon only, never in a request")
                }
                throw .unsupported(Self.unknownCommand(UInt32(raw)))
            }
            return command.allowedAttributeSet
        }
        guard view.header.flags & NetlinkConstant.flagRequest != 0 else {
            throw .malformed(
                "nlmsg_flags 0x\(String(view.header.flags, radix: 16)) lack NLM_F_REQUEST; "
                    + "expected a request")
        }
        // The walk accepted the byte, so it is a known command.
        guard let command = ControlCommand(rawValue: view.command) else { throw .unsupported(Self.unknownCommand(UInt32(view.command))) }
        self = try Command(command, DecodedAttributes(command: command, attributes: view.attributes, bytes: datagram))
    }

    /// Decodes a request from a received datagram; see
    /// ``init(decoding:)-(UnsafeRawBufferPointer)``.
    public init(decoding datagram: [UInt8]) throws(ControlProtocolError) {
        let result = datagram.withUnsafeBytes { bytes in
            Result { () throws(ControlProtocolError) in try Command(decoding: bytes) }
        }
        self = try result.get()
    }

    private static func unknownCommand(_ raw: UInt32) -> String {
        "unknown command \(raw); this version knows commands "
            + "\(ControlCommand.allCases.first!.rawValue)…\(ControlCommand.allCases.last!.rawValue)"
    }

    /// Builds the command from attributes the walk checked against its
    /// attribute list; what is left to find out is a missing one.
    private init(_ command: ControlCommand, _ a: DecodedAttributes) throws(ControlProtocolError) {
        switch command {
        case .add: self = .graph(.add(name: try a.string(.name), type: try a.string(.type)))
        case .remove: self = .graph(.remove(name: try a.string(.name)))
        case .set: self = .graph(.set(name: try a.string(.name), option: try a.string(.option)))
        case .bind:
            self = .graph(.bind(upper: try a.string(.name), lower: try a.string(.name2), port: a.optionalString(.port)))
        case .unbind: self = .graph(.unbind(upper: try a.string(.name), lower: try a.string(.name2)))
        case .replace:
            let old = try a.string(.name), new = try a.string(.name2)
            let flags = ControlFlags(rawValue: a.optionalU32(.flags) ?? 0)
            let unknown = flags.subtracting(.known)
            guard unknown.isEmpty else {
                throw .malformed(
                    "FLAGS has unknown bits 0x\(String(unknown.rawValue, radix: 16)); "
                        + "known: 0x\(String(ControlFlags.known.rawValue, radix: 16)) (DROP)")
            }
            self = .graph(.replace(old: old, new: new, dropState: flags.contains(.drop)))
        case .subscribe: self = .graph(.subscribe(publisher: try a.string(.name), subscriber: try a.string(.name2)))
        case .unsubscribe: self = .graph(.unsubscribe(publisher: try a.string(.name), subscriber: try a.string(.name2)))
        case .list: self = .list
        case .types: self = .types
        case .show: self = .show(name: try a.string(.name))
        case .watch: self = .watch
        case .hook: self = .hook(interface: try a.string(.interfaceName))
        case .unhook: self = .unhook(interface: try a.string(.interfaceName))
        case .addVirtualLink:
            let name = try a.string(.name), root = try a.string(.interfaceName), tag = try a.u32(.tag)
            guard tag <= Self.maximumTag else {
                throw .malformed("TAG \(tag) is out of range; expected 0…\(Self.maximumTag)")
            }
            self = .addVirtualLink(name: name, rootDevice: root, tag: tag)
        case .removeVirtualLink: self = .removeVirtualLink(name: try a.string(.name))
        case .apply:
            var commands: [BatchCommand] = []
            for attribute in a.attributes where attribute.attribute == .command {
                commands.append(try Self.batchCommand(attribute, index: commands.count, bytes: a.bytes))
            }
            self = .apply(commands)
        }
    }

    /// Decodes the `index`-th `COMMAND` of an APPLY with the rules of a
    /// top-level request of its command.
    private static func batchCommand(
        _ nest: GenericNetlinkView.Attribute, index: Int, bytes: UnsafeRawBufferPointer
    ) throws(ControlProtocolError) -> BatchCommand {
        let start = nest.offset + NetlinkConstant.attributeHeaderSize
        let end = start + nest.payloadLength
        do throws(ControlProtocolError) {
            let first = NetlinkConstant.attributeHeaderSize + 4
            guard end - start >= first,
                  bytes.loadUnaligned(fromByteOffset: start, as: UInt16.self) == UInt16(first),
                  bytes.loadUnaligned(fromByteOffset: start + 2, as: UInt16.self) == ControlAttribute.commandNumber.rawValue
            else {
                throw .malformed("expected CMD (a 4-byte u32) as its first attribute")
            }
            let raw = bytes.loadUnaligned(fromByteOffset: start + NetlinkConstant.attributeHeaderSize, as: UInt32.self)
            guard raw <= UInt8.max, let command = ControlCommand(rawValue: UInt8(raw)) else {
                throw .malformed(unknownCommand(raw))
            }
            guard command != .apply else { throw .malformed("APPLY cannot be nested in APPLY") }
            let attributes = try GenericNetlinkView.walkAttributes(
                bytes, from: start + first, to: end, allowed: command.allowedAttributeSet, command: command.rawValue)
            let decoded = try Command(command, DecodedAttributes(command: command, attributes: attributes, bytes: bytes))
            guard let batch = BatchCommand(decoded) else {
                throw .malformed("\(command.wireName) cannot be applied; APPLY takes graph commands and HOOK")
            }
            return batch
        } catch {
            throw ControlProtocolError(errno: error.errno, message: "COMMAND \(index) of APPLY: \(error.message)")
        }
    }
}

/// The attributes of one (possibly nested) request, as the walk found and
/// checked them; read without checking again.
private struct DecodedAttributes {
    let command: ControlCommand
    let attributes: [GenericNetlinkView.Attribute]
    let bytes: UnsafeRawBufferPointer

    private func find(_ attribute: ControlAttribute) -> GenericNetlinkView.Attribute? {
        // A handful of attributes: a linear search beats building a table.
        attributes.first { $0.attribute == attribute }
    }

    private func payload(_ found: GenericNetlinkView.Attribute) -> UnsafeRawBufferPointer {
        let start = found.offset + NetlinkConstant.attributeHeaderSize
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + found.payloadLength)])
    }

    func optionalString(_ attribute: ControlAttribute) -> String? {
        // The walk checked the terminating NUL and the UTF-8.
        find(attribute).map { String(decoding: payload($0).dropLast(), as: UTF8.self) }
    }

    func string(_ attribute: ControlAttribute) throws(ControlProtocolError) -> String {
        guard let string = optionalString(attribute) else { throw missing(attribute) }
        return string
    }

    func optionalU32(_ attribute: ControlAttribute) -> UInt32? {
        find(attribute).map { payload($0).loadUnaligned(as: UInt32.self) }
    }

    func u32(_ attribute: ControlAttribute) throws(ControlProtocolError) -> UInt32 {
        guard let value = optionalU32(attribute) else { throw missing(attribute) }
        return value
    }

    private func missing(_ attribute: ControlAttribute) -> ControlProtocolError {
        .malformed("\(command.wireName) requires attribute \(attribute.wireName)")
    }
}

/// An attribute to encode; APPLY's commands nest.
indirect enum WireAttribute {
    case string(ControlAttribute, String)
    case u32(ControlAttribute, UInt32)
    case nested(ControlAttribute, [WireAttribute])

    /// Header, payload and padding.
    var encodedSize: Int {
        let payload = switch self {
        case .string(_, let string): string.utf8.count + 1
        case .u32: 4
        case .nested(_, let inner): inner.reduce(0) { $0 + $1.encodedSize }
        }
        return NetlinkConstant.align(NetlinkConstant.attributeHeaderSize + payload)
    }
}

extension NetlinkMessage {
    /// Appends attributes in order, nested ones with
    /// `nla_nest_start`/`nla_nest_end`.
    func put(_ attributes: [WireAttribute]) throws(ControlProtocolError) {
        for attribute in attributes {
            switch attribute {
            case .string(let type, let string): try put(type, string: string)
            case .u32(let type, let number): try put(type, u32: number)
            case .nested(let type, let inner): try putNested(type) { () throws(ControlProtocolError) in try put(inner) }
            }
        }
    }
}
