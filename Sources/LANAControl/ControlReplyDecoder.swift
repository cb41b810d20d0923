import SystemPackage

/// Reassembles the reply to one request from the datagrams that carry it.
///
/// Feed every datagram received after sending the request; the decoder
/// answers ``Output/pending`` until the closing `NLMSG_ERROR` arrives and
/// then ``Output/reply(_:)``. Event messages (on a watching connection) come
/// out as ``Output/event(_:)`` at any point, before or after the reply.
///
/// ```swift
/// var decoder = ControlReplyDecoder(sequence: 7, command: .list)
/// while true {
///     if case .reply(let reply) = try decoder.decode(receiveDatagram()) { return reply }
/// }
/// ```
public struct ControlReplyDecoder: Sendable {
    /// What one datagram contributed.
    public enum Output: Hashable, Sendable {
        /// Part of the reply; more is to come.
        case pending
        /// The reply is complete.
        case reply(ControlReply)
        /// An event pushed to a watching connection.
        case event(String)
    }

    /// The sequence number of the request being answered.
    public let sequence: UInt32
    /// The command of the request being answered.
    public let command: ControlCommand

    private var reply = ControlReply()
    private var sawDone = false
    private var complete = false

    public init(sequence: UInt32, command: ControlCommand) {
        self.sequence = sequence
        self.command = command
    }

    /// Decodes one datagram of the reply.
    ///
    /// - Throws: ``ControlProtocolError`` when the datagram is malformed or
    ///   does not belong to this reply (wrong sequence number or command,
    ///   data after the acknowledgement).
    public mutating func decode(_ datagram: UnsafeRawBufferPointer) throws(ControlProtocolError) -> Output {
        guard let header = NetlinkHeader(parsing: datagram) else {
            throw .malformed("reply datagram of \(datagram.count) bytes is shorter than a netlink header")
        }
        if header.type == ControlProtocol.familyID {
            return try decodeFamilyMessage(datagram, header: header)
        }
        guard !complete else {
            throw .malformed("message type \(header.type) after the reply was complete")
        }
        guard header.sequence == sequence else {
            throw .malformed("reply has sequence number \(header.sequence); expected \(sequence)")
        }
        switch header.type {
        case NetlinkConstant.done:
            try Self.checkLength(datagram, header: header, minimum: NetlinkConstant.headerSize)
            sawDone = true
            return .pending
        case NetlinkConstant.error:
            let (error, message) = try Self.parseAcknowledgement(datagram, header: header)
            reply.error = error == 0 ? nil : Errno(rawValue: -error)
            reply.message = message
            complete = true
            return .reply(reply)
        default:
            throw .malformed(
                "unexpected message type \(header.type) in a reply; expected "
                    + "\(ControlProtocol.familyID), NLMSG_DONE or NLMSG_ERROR")
        }
    }

    /// Decodes one datagram of the reply; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public mutating func decode(_ datagram: [UInt8]) throws(ControlProtocolError) -> Output {
        var copy = self
        let result = datagram.withUnsafeBytes { bytes in
            Result { () throws(ControlProtocolError) in try copy.decode(bytes) }
        }
        let output = try result.get()
        self = copy
        return output
    }

    private mutating func decodeFamilyMessage(
        _ datagram: UnsafeRawBufferPointer, header: NetlinkHeader
    ) throws(ControlProtocolError) -> Output {
        let expected = command
        let view = try GenericNetlinkView.parse(datagram) { (raw: UInt8) throws(ControlProtocolError) in
            if raw == ControlProtocol.eventCommand { return [.event] }
            guard raw == expected.rawValue else {
                throw .malformed("reply data has command \(raw); expected \(expected.rawValue) (\(expected.wireName))")
            }
            return [.text, .json, .commandIndex, .version] as ControlAttributeSet
        }
        let values = try NetlinkMessage.converting(datagram, view: view).parsedAttributes()
        if view.command == ControlProtocol.eventCommand {
            guard values.count == 1, case (.event, .string(let event)) = values[0] else {
                throw .malformed("event message must carry exactly one EVENT attribute")
            }
            return .event(event)
        }
        guard !complete, !sawDone else {
            throw .malformed("reply data after the end of the reply")
        }
        guard header.sequence == sequence else {
            throw .malformed("reply data has sequence number \(header.sequence); expected \(sequence)")
        }
        var item = ControlReply.Item()
        var isItem = false
        for (attribute, value) in values {
            switch (attribute, value) {
            case (.text, .string(let text)): item.text = text; isItem = true
            case (.json, .string(let json)): item.json = json; isItem = true
            case (.commandIndex, .u32(let index)): reply.failedCommand = index
            case (.version, .string(let text)):
                guard let version = UInt64(text) else { throw .malformed("VERSION \(text) is not a decimal number") }
                reply.registryVersion = version
            default: throw .malformed("attribute \(attribute.wireName) is not valid in reply data")
            }
        }
        if isItem { reply.items.append(item) }
        return .pending
    }

    private static func checkLength(
        _ datagram: UnsafeRawBufferPointer, header: NetlinkHeader, minimum: Int
    ) throws(ControlProtocolError) {
        let length = Int(header.length)
        guard length >= minimum, length <= datagram.count, datagram.count <= NetlinkConstant.align(length) else {
            throw .malformed(
                "reply nlmsg_len \(length) does not fit the datagram of \(datagram.count) bytes "
                    + "(at least \(minimum) expected)")
        }
    }

    /// Reads `NLMSG_ERROR`: the (negative) error and the extended-ack text.
    private static func parseAcknowledgement(
        _ datagram: UnsafeRawBufferPointer, header: NetlinkHeader
    ) throws(ControlProtocolError) -> (Int32, String?) {
        let fixed = NetlinkConstant.headerSize + NetlinkConstant.errorPayloadSize
        try checkLength(datagram, header: header, minimum: fixed)
        let end = Int(header.length)
        let error = datagram.loadUnaligned(fromByteOffset: NetlinkConstant.headerSize, as: Int32.self)
        // Linux errnos lie in 1…4095 (MAX_ERRNO); anything else, Int32.min
        // included, which has no positive counterpart, is not an errno.
        guard error <= 0, error >= -4095 else {
            throw .malformed("NLMSG_ERROR carries \(error); expected 0 or a negative errno (-4095…-1)")
        }
        guard header.flags & NetlinkConstant.flagAckTLVs != 0 else { return (error, nil) }
        var offset = fixed
        if header.flags & NetlinkConstant.flagCapped == 0 {
            // The whole request is echoed; the attributes follow it.
            let echoed = Int(datagram.loadUnaligned(fromByteOffset: NetlinkConstant.headerSize + 4, as: UInt32.self))
            guard echoed >= NetlinkConstant.headerSize else {
                throw .malformed("NLMSG_ERROR echoes a request of \(echoed) bytes")
            }
            offset = NetlinkConstant.headerSize + 4 + NetlinkConstant.align(echoed)
        }
        var message: String?
        while offset + NetlinkConstant.attributeHeaderSize <= end {
            let length = Int(datagram.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let type = datagram.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)
                & ~NetlinkConstant.attributeFlagMask
            guard length >= NetlinkConstant.attributeHeaderSize, offset + length <= end else {
                throw .malformed("extended-ack attribute at offset \(offset) has nla_len \(length)")
            }
            if type == NetlinkConstant.extAckMessage {
                let payload = datagram[(offset + NetlinkConstant.attributeHeaderSize)..<(offset + length)]
                // The kernel's text is NUL-terminated; take it up to the NUL.
                let text = payload.prefix { $0 != 0 }
                message = String(decoding: text, as: UTF8.self)
            }
            offset += NetlinkConstant.align(length)
        }
        return (error, message)
    }
}
