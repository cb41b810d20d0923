/// A received datagram checked as one generic netlink message of the LANA
/// family, before any byte of it reaches libnl.
///
/// libnl trusts `nlmsg_len` and `nla_len` once it has a `struct nl_msg`, and
/// its parser skips attribute types it has no policy for, keeps the last of
/// duplicate attributes and accepts over-long integers. The walk here closes
/// those gaps and produces messages that name the offending field, so that a
/// refusal tells the client exactly what to fix. Every read is bounds-checked
/// against the datagram.
struct GenericNetlinkView {
    /// One attribute found by the walk.
    struct Attribute {
        var attribute: ControlAttribute
        /// Offset of the `struct nlattr` from the start of the message.
        var offset: Int
        /// Payload length (`nla_len` minus the attribute header).
        var payloadLength: Int
    }

    var header: NetlinkHeader
    var command: UInt8
    var version: UInt8
    /// The attributes in message order.
    var attributes: [Attribute]

    /// Checks `bytes` as one message of the family.
    ///
    /// - Parameters:
    ///   - bytes: The datagram as received.
    ///   - allowedAttributes: Given the command byte, the attributes that
    ///     command may carry; throws for a command that is not known.
    static func parse(
        _ bytes: UnsafeRawBufferPointer,
        allowedAttributes: (UInt8) throws(ControlProtocolError) -> ControlAttributeSet
    ) throws(ControlProtocolError) -> GenericNetlinkView {
        let minimum = NetlinkConstant.headerSize + NetlinkConstant.genericHeaderSize
        guard let header = NetlinkHeader(parsing: bytes) else {
            throw .malformed(
                "datagram of \(bytes.count) bytes is shorter than a netlink header "
                    + "(\(NetlinkConstant.headerSize) bytes)")
        }
        let length = Int(header.length)
        guard length <= bytes.count else {
            throw .malformed(
                "nlmsg_len \(length) is larger than the datagram of \(bytes.count) bytes")
        }
        guard length >= minimum else {
            throw .malformed(
                "nlmsg_len \(length) is shorter than nlmsghdr + genlmsghdr (\(minimum) bytes)")
        }
        // One datagram is one message: anything past the aligned end would
        // be a second message this protocol does not have.
        guard bytes.count <= NetlinkConstant.align(length) else {
            throw .malformed(
                "datagram of \(bytes.count) bytes carries \(bytes.count - length) bytes "
                    + "after the message (nlmsg_len \(length)); expected one message per datagram")
        }
        guard header.type == ControlProtocol.familyID else {
            throw .malformed(
                "nlmsg_type \(header.type) is not the LANA family "
                    + "(expected \(ControlProtocol.familyID))")
        }
        let command = bytes[NetlinkConstant.headerSize]
        let version = bytes[NetlinkConstant.headerSize + 1]
        guard version == ControlProtocol.version else {
            throw .unsupported(
                "genl version \(version) is not supported (expected \(ControlProtocol.version))")
        }
        let allowed = try allowedAttributes(command)
        let attributes = try walkAttributes(
            bytes, from: minimum, to: length, allowed: allowed, command: command)
        return GenericNetlinkView(
            header: header, command: command, version: version, attributes: attributes)
    }

    /// Walks the attribute stream the way `nla_ok`/`nla_next` would, but
    /// refuses instead of skipping.
    static func walkAttributes(
        _ bytes: UnsafeRawBufferPointer,
        from start: Int,
        to end: Int,
        allowed: ControlAttributeSet,
        command: UInt8
    ) throws(ControlProtocolError) -> [Attribute] {
        var attributes: [Attribute] = []
        var seen = ControlAttributeSet()
        var offset = start
        while offset < end {
            let remaining = end - offset
            guard remaining >= NetlinkConstant.attributeHeaderSize else {
                throw .malformed(
                    "\(remaining) trailing bytes at offset \(offset) are too short for an "
                        + "attribute header (\(NetlinkConstant.attributeHeaderSize) bytes)")
            }
            let declared = Int(bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            let rawType = bytes.loadUnaligned(fromByteOffset: offset + 2, as: UInt16.self)
            guard declared >= NetlinkConstant.attributeHeaderSize, declared <= remaining else {
                throw .malformed(
                    "attribute at offset \(offset) has nla_len \(declared); expected "
                        + "\(NetlinkConstant.attributeHeaderSize)…\(remaining) bytes")
            }
            // NLA_F_NESTED (which libnl may set) only on a nested attribute.
            let flags = rawType & NetlinkConstant.attributeFlagMask
            guard let attribute = ControlAttribute(rawValue: rawType & ~NetlinkConstant.attributeFlagMask),
                flags == 0 || (flags == NetlinkConstant.attributeNestedFlag && attribute.kind == .nested)
            else {
                throw .malformed(
                    "unknown attribute type \(rawType) at offset \(offset); this version knows "
                        + "types \(ControlAttribute.knownTypes) without flag bits")
            }
            guard allowed.contains(attribute) else {
                let commandName = ControlCommand(rawValue: command)?.wireName ?? "command \(command)"
                let expected = allowed.isEmpty ? "none" : allowed.members.map(\.wireName).joined(separator: ", ")
                throw .malformed(
                    "attribute \(attribute.wireName) is not valid in \(commandName) "
                        + "(expected: \(expected))")
            }
            guard attribute.isRepeatable || !seen.contains(attribute) else {
                throw .malformed("attribute \(attribute.wireName) appears more than once")
            }
            seen.insert(attribute)
            let payloadOffset = offset + NetlinkConstant.attributeHeaderSize
            let payloadLength = declared - NetlinkConstant.attributeHeaderSize
            try checkPayload(
                attribute,
                UnsafeRawBufferPointer(rebasing: bytes[payloadOffset..<payloadOffset + payloadLength]))
            attributes.append(Attribute(attribute: attribute, offset: offset, payloadLength: payloadLength))
            // The last attribute's padding may lie past nlmsg_len; that is
            // the end of the stream, as in nla_next.
            offset += NetlinkConstant.align(declared)
        }
        return attributes
    }

    /// Checks one payload against the attribute's ``ControlAttribute/Kind``.
    private static func checkPayload(
        _ attribute: ControlAttribute, _ payload: UnsafeRawBufferPointer
    ) throws(ControlProtocolError) {
        switch attribute.kind {
        case .nested:
            // Its attributes are walked when the command they make is read.
            return
        case .u32:
            guard payload.count == 4 else {
                throw .malformed(
                    "attribute \(attribute.wireName) has \(payload.count) bytes; expected a 4-byte u32")
            }
        case .string(let maximumLength):
            guard let last = payload.last, last == 0 else {
                throw .malformed(
                    "attribute \(attribute.wireName) (\(payload.count) bytes) is not NUL-terminated; "
                        + "expected a NUL-terminated string")
            }
            let content = UnsafeRawBufferPointer(rebasing: payload[..<(payload.count - 1)])
            guard content.count <= maximumLength else {
                throw .malformed(
                    "attribute \(attribute.wireName) is \(content.count) bytes long; "
                        + "at most \(maximumLength) allowed")
            }
            if let nul = content.firstIndex(of: 0) {
                throw .malformed(
                    "attribute \(attribute.wireName) has a NUL byte at position \(nul) before its end; "
                        + "expected one NUL-terminated string")
            }
            // ASCII, as names and most options are, is valid UTF-8 without
            // building a String to find out.
            guard content.allSatisfy({ $0 < 0x80 }) || String(validating: content, as: UTF8.self) != nil else {
                throw .malformed("attribute \(attribute.wireName) is not valid UTF-8")
            }
        }
    }
}
