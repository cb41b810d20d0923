extension ControlRequest {
    /// Encodes the request as one datagram.
    ///
    /// The message carries `NLM_F_REQUEST | NLM_F_ACK` (and `NLM_F_DUMP`
    /// for LIST), `sequence` and `port` in its header.
    ///
    /// - Throws: ``ControlProtocolError`` if the fields do not match the
    ///   command (see ``validate()``), a string contains a NUL byte or is too
    ///   long, or the message would exceed ``ControlProtocol/maximumDatagramSize``.
    public func encode(sequence: UInt32, port: UInt32 = 0) throws(ControlProtocolError) -> [UInt8] {
        try validate()
        let values = attributeValues
        let message = try NetlinkMessage(
            capacity: NetlinkMessage.size(genericPayloads: values.map { $0.1.encodedSize }))
        var flags = NetlinkConstant.flagRequest | NetlinkConstant.flagAck
        if command.isDump { flags |= NetlinkConstant.flagDump }
        try message.putGenericHeader(
            type: ControlProtocol.familyID, flags: flags, sequence: sequence, port: port,
            command: command.rawValue)
        try message.put(values)
        return message.bytes
    }

    /// Decodes a request from a received datagram.
    ///
    /// The datagram is checked completely before libnl parses it: lengths,
    /// message type, version and command, then every attribute against the
    /// policy and the command's attribute list.
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
                throw .unsupported(
                    "unknown command \(raw); this version knows commands "
                        + "\(ControlCommand.allCases.first!.rawValue)…\(ControlCommand.allCases.last!.rawValue)")
            }
            return command.allowedAttributeSet
        }
        guard view.header.flags & NetlinkConstant.flagRequest != 0 else {
            throw .malformed(
                "nlmsg_flags 0x\(String(view.header.flags, radix: 16)) lack NLM_F_REQUEST; "
                    + "expected a request")
        }
        let message = try NetlinkMessage.converting(datagram, view: view)
        var request = ControlRequest(command: ControlCommand(rawValue: view.command)!)
        for (attribute, value) in try message.parsedAttributes() {
            switch (attribute, value) {
            case (.name, .string(let string)): request.name = string
            case (.name2, .string(let string)): request.name2 = string
            case (.type, .string(let string)): request.type = string
            case (.option, .string(let string)): request.option = string
            case (.interfaceName, .string(let string)): request.interfaceName = string
            case (.line, .string(let string)): request.lines.append(string)
            case (.port, .string(let string)): request.port = string
            case (.tag, .u32(let value)): request.tag = value
            case (.flags, .u32(let value)): request.flags = ControlFlags(rawValue: value)
            default:
                // The walk only lets through the command's own attributes.
                throw .malformed("attribute \(attribute.wireName) is not valid in a request")
            }
        }
        try request.validate()
        self = request
    }

    /// Decodes a request from a received datagram; see
    /// ``init(decoding:)-(UnsafeRawBufferPointer)``.
    public init(decoding datagram: [UInt8]) throws(ControlProtocolError) {
        let result = datagram.withUnsafeBytes { bytes in
            Result { () throws(ControlProtocolError) in try ControlRequest(decoding: bytes) }
        }
        self = try result.get()
    }
}

extension NetlinkMessage.Value {
    /// The attribute payload size: a string's bytes and its NUL, or 4.
    var encodedSize: Int {
        switch self {
        case .string(let string): string.utf8.count + 1
        case .u32: 4
        }
    }
}

extension NetlinkMessage {
    /// Appends attributes in order.
    func put(_ values: [(ControlAttribute, Value)]) throws(ControlProtocolError) {
        for (attribute, value) in values {
            switch value {
            case .string(let string): try put(attribute, string: string)
            case .u32(let number): try put(attribute, u32: number)
            }
        }
    }
}
