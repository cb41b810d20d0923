// Unsafe code: this file owns every libnl `struct nl_msg` of the module.
//
// Invariants:
// - A `NetlinkMessage` owns exactly one `struct nl_msg *`, obtained from
//   `nlmsg_alloc_size` or `nlmsg_convert`, never NULL, freed once by `deinit`.
//   The type is ~Copyable, so the pointer cannot be shared or freed twice.
// - Pointers into the message (`nlmsg_hdr`, `nla_data`, …) are used only
//   inside the method that obtained them and never escape it.
// - Buffers are sized before any `nla_put_*`: `init(capacity:)` takes the
//   exact size, so a put that fails is a bug reported as an error, not a
//   truncation.
// - `converting(_:)` hands libnl only a datagram that `GenericNetlinkView`
//   has already checked (nlmsg_len within the datagram, attributes in bounds),
//   copied to 4-byte-aligned memory, so libnl's unchecked header reads stay
//   inside the copy.

import CNetlink

/// An owned libnl message (`struct nl_msg *`), freed with `nlmsg_free`.
struct NetlinkMessage: ~Copyable {
    private let message: OpaquePointer

    /// Allocates an empty message with room for exactly `capacity` bytes.
    init(capacity: Int) throws(ControlProtocolError) {
        guard capacity <= ControlProtocol.maximumDatagramSize else {
            throw ControlProtocolError(
                errno: .messageTooLong,
                message: "message of \(capacity) bytes exceeds the limit of "
                    + "\(ControlProtocol.maximumDatagramSize) bytes")
        }
        guard let message = nlmsg_alloc_size(max(capacity, NetlinkConstant.headerSize)) else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "allocating a message")
        }
        self.message = message
    }

    private init(owning message: OpaquePointer) {
        self.message = message
    }

    deinit {
        nlmsg_free(message)
    }

    /// The bytes a message needs for the given attribute payload sizes.
    static func size(genericPayloads: [Int]) -> Int {
        genericPayloads.reduce(NetlinkConstant.headerSize + NetlinkConstant.genericHeaderSize) {
            $0 + NetlinkConstant.align(NetlinkConstant.attributeHeaderSize + $1)
        }
    }

    // MARK: Building

    /// Writes `nlmsghdr` and `genlmsghdr` (`genlmsg_put`).
    func putGenericHeader(
        type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32, command: UInt8
    ) throws(ControlProtocolError) {
        guard
            genlmsg_put(
                message, port, sequence, Int32(type), 0, Int32(flags), command,
                ControlProtocol.version) != nil
        else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "writing the genl header")
        }
    }

    /// Appends a string attribute (`nla_put_string`): the bytes and a NUL.
    ///
    /// The string is checked against the policy first, because `nla_put_string`
    /// would silently cut it at an embedded NUL.
    func put(_ attribute: ControlAttribute, string: String) throws(ControlProtocolError) {
        try Self.checkEncodable(string, as: attribute)
        let result = string.withCString { nla_put_string(message, Int32(attribute.rawValue), $0) }
        guard result == 0 else {
            throw ControlProtocolError(libnl: result, while: "adding attribute \(attribute.wireName)")
        }
    }

    /// Appends a u32 attribute (`nla_put_u32`).
    func put(_ attribute: ControlAttribute, u32 value: UInt32) throws(ControlProtocolError) {
        let result = nla_put_u32(message, Int32(attribute.rawValue), value)
        guard result == 0 else {
            throw ControlProtocolError(libnl: result, while: "adding attribute \(attribute.wireName)")
        }
    }

    /// Appends a nested attribute (`nla_nest_start`, `nla_nest_end`) whose
    /// payload `body` puts.
    func putNested(
        _ attribute: ControlAttribute, _ body: () throws(ControlProtocolError) -> Void
    ) throws(ControlProtocolError) {
        guard let start = nla_nest_start(message, Int32(attribute.rawValue)) else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "opening attribute \(attribute.wireName)")
        }
        try body()
        let result = nla_nest_end(message, start)
        guard result == 0 else {
            throw ControlProtocolError(libnl: result, while: "closing attribute \(attribute.wireName)")
        }
    }

    /// Appends attributes in order.
    func put(_ values: [(ControlAttribute, Value)]) throws(ControlProtocolError) {
        for (attribute, value) in values {
            switch value {
            case .string(let string): try put(attribute, string: string)
            case .u32(let number): try put(attribute, u32: number)
            }
        }
    }

    /// Writes an `NLMSG_ERROR` acknowledging `request`, with `error` as a
    /// positive errno (0 for success) and, if given, an extended-ack text.
    ///
    /// Only the request's header is echoed (`NLM_F_CAPPED`), as the kernel
    /// does for acknowledgements of successful requests.
    func putError(
        acknowledging request: NetlinkHeader, error: Int32, extendedAck: String?
    ) throws(ControlProtocolError) {
        var flags = NetlinkConstant.flagCapped
        if extendedAck != nil { flags |= NetlinkConstant.flagAckTLVs }
        guard
            let header = nlmsg_put(
                message, request.port, request.sequence, Int32(NetlinkConstant.error),
                Int32(NetlinkConstant.errorPayloadSize), Int32(flags))
        else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "writing NLMSG_ERROR")
        }
        let payload = UnsafeMutableRawPointer(nlmsg_data(header)!)
        payload.storeBytes(of: -error, toByteOffset: 0, as: Int32.self)
        payload.storeBytes(of: request.length, toByteOffset: 4, as: UInt32.self)
        payload.storeBytes(of: request.type, toByteOffset: 8, as: UInt16.self)
        payload.storeBytes(of: request.flags, toByteOffset: 10, as: UInt16.self)
        payload.storeBytes(of: request.sequence, toByteOffset: 12, as: UInt32.self)
        payload.storeBytes(of: request.port, toByteOffset: 16, as: UInt32.self)
        if let extendedAck {
            let result = extendedAck.withCString {
                nla_put_string(message, Int32(NetlinkConstant.extAckMessage), $0)
            }
            guard result == 0 else {
                throw ControlProtocolError(libnl: result, while: "adding the extended-ack message")
            }
        }
    }

    /// Writes an `NLMSG_DONE` closing a multi-part reply.
    func putDone(sequence: UInt32, port: UInt32) throws(ControlProtocolError) {
        guard
            let header = nlmsg_put(
                message, port, sequence, Int32(NetlinkConstant.done), 4,
                Int32(NetlinkConstant.flagMulti))
        else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "writing NLMSG_DONE")
        }
        UnsafeMutableRawPointer(nlmsg_data(header)!).storeBytes(of: 0, as: Int32.self)
    }

    /// The message's bytes, `nlmsg_len` of them.
    var bytes: [UInt8] {
        let header = nlmsg_hdr(message)!
        let length = Int(header.pointee.nlmsg_len)
        return [UInt8](UnsafeRawBufferPointer(start: UnsafeRawPointer(header), count: length))
    }

    /// Refuses strings libnl would cut short or a peer would refuse.
    static func checkEncodable(_ string: String, as attribute: ControlAttribute) throws(ControlProtocolError) {
        guard case .string(let maximumLength) = attribute.kind else {
            throw .malformed("attribute \(attribute.wireName) is not a string attribute")
        }
        let length = string.utf8.count
        guard length <= maximumLength else {
            throw .malformed(
                "attribute \(attribute.wireName) is \(length) bytes long; at most \(maximumLength) allowed")
        }
        guard !string.utf8.contains(0) else {
            throw .malformed("attribute \(attribute.wireName) contains a NUL byte")
        }
    }

    // MARK: Parsing

    /// Copies a checked datagram into a libnl message (`nlmsg_convert`).
    ///
    /// - Precondition: `view` came from `GenericNetlinkView.parse` of `bytes`.
    static func converting(
        _ bytes: UnsafeRawBufferPointer, view: borrowing GenericNetlinkView
    ) throws(ControlProtocolError) -> NetlinkMessage {
        let length = Int(view.header.length)
        precondition(length <= bytes.count && length >= NetlinkConstant.headerSize)
        // Aligned scratch copy: libnl reads the header through typed pointers.
        let scratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: NetlinkConstant.align(length), alignment: 8)
        defer { scratch.deallocate() }
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        scratch.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<length]))
        let header = scratch.baseAddress!.assumingMemoryBound(to: nlmsghdr.self)
        guard let message = nlmsg_convert(header) else {
            throw ControlProtocolError(libnl: Int32(NLE_NOMEM), while: "copying the message")
        }
        return NetlinkMessage(owning: message)
    }

    /// A decoded attribute value.
    enum Value: Hashable {
        case string(String)
        case u32(UInt32)

        /// The attribute payload size: a string's bytes and its NUL, or 4.
        var encodedSize: Int {
            switch self {
            case .string(let string): string.utf8.count + 1
            case .u32: 4
            }
        }
    }

    /// Validates the attributes of a reply with the policy (`genlmsg_parse`)
    /// and reads them in message order.
    ///
    /// `genlmsg_parse` keeps only the last of repeated attributes, so the
    /// values are read by iterating with `nla_ok`/`nla_next` instead of
    /// from its table.
    func parsedAttributes() throws(ControlProtocolError) -> [(ControlAttribute, Value)] {
        let header = nlmsg_hdr(message)!
        let maximum = Int(ControlAttribute.maximum.rawValue)
        var table = [UnsafeMutablePointer<nlattr>?](repeating: nil, count: maximum + 1)
        let policy = ControlAttributePolicy.table
        let parsed = table.withUnsafeMutableBufferPointer { table in
            policy.withUnsafeBufferPointer { policy in
                genlmsg_parse(
                    header, 0, table.baseAddress, Int32(maximum),
                    UnsafeMutablePointer(mutating: policy.baseAddress))
            }
        }
        guard parsed == 0 else {
            throw ControlProtocolError(libnl: parsed, while: "checking attributes against the policy")
        }

        var values: [(ControlAttribute, Value)] = []
        let genericHeader = UnsafeMutableRawPointer(nlmsg_data(header)!)
            .assumingMemoryBound(to: genlmsghdr.self)
        var remaining = genlmsg_attrlen(genericHeader, 0)
        var attribute = genlmsg_attrdata(genericHeader, 0)
        while let current = attribute, nla_ok(current, remaining) != 0 {
            // The walk already refused unknown types, so this cannot fail
            // unless libnl and the walk disagree about the stream.
            guard let kind = ControlAttribute(rawValue: UInt16(nla_type(current))) else {
                throw .malformed("attribute type \(nla_type(current)) is unknown")
            }
            switch kind.kind {
            case .nested:
                // Only requests (APPLY) nest, and they are not read here.
                throw .malformed("attribute \(kind.wireName) is not valid here")
            case .u32:
                values.append((kind, .u32(nla_get_u32(current))))
            case .string:
                let payload = UnsafeRawBufferPointer(
                    start: nla_data(current), count: Int(nla_len(current)) - 1)
                // ASCII needs no validation pass of its own.
                let ascii = payload.allSatisfy { $0 < 0x80 }
                guard let string = ascii ? String(decoding: payload, as: UTF8.self)
                    : String(validating: payload, as: UTF8.self)
                else {
                    throw .malformed("attribute \(kind.wireName) is not valid UTF-8")
                }
                values.append((kind, .string(string)))
            }
            attribute = nla_next(current, &remaining)
        }
        return values
    }
}
