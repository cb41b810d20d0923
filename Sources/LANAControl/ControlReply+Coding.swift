import SystemPackage

extension ControlReply {
    /// The longest extended-ack text sent. Longer messages are cut at a
    /// character boundary: the text is diagnostic, and keeping it short
    /// keeps the acknowledgement well inside one datagram.
    public static let maximumMessageLength = 4_096

    /// Encodes the reply to the request with header `request` as datagrams,
    /// in the order they must be sent.
    ///
    /// - Parameters:
    ///   - request: The request's header; its sequence number and port are
    ///     echoed in every datagram and the whole header in the
    ///     acknowledgement.
    ///   - command: The request's command, echoed in data messages. `nil`
    ///     when the request could not be decoded; data is then not sent.
    /// - Throws: ``ControlProtocolError`` when an item does not fit the
    ///   policy (too long, or contains a NUL byte).
    public func encode(replyingTo request: NetlinkHeader, command: ControlCommand?) throws(ControlProtocolError) -> [[UInt8]] {
        var datagrams: [[UInt8]] = []
        if let command {
            var data: [[(ControlAttribute, NetlinkMessage.Value)]] = items.map { item in
                var values: [(ControlAttribute, NetlinkMessage.Value)] = []
                if let text = item.text { values.append((.text, .string(text))) }
                if let json = item.json { values.append((.json, .string(json))) }
                return values
            }
            if let failedCommand { data.append([(.commandIndex, .u32(failedCommand))]) }
            if let registryVersion { data.append([(.version, .string(String(registryVersion)))]) }
            for values in data {
                let message = try NetlinkMessage(
                    capacity: NetlinkMessage.size(genericPayloads: values.map { $0.1.encodedSize }))
                try message.putGenericHeader(
                    type: ControlProtocol.familyID, flags: NetlinkConstant.flagMulti,
                    sequence: request.sequence, port: request.port, command: command.rawValue)
                try message.put(values)
                datagrams.append(message.bytes)
            }
            if !datagrams.isEmpty {
                let done = try NetlinkMessage(capacity: NetlinkConstant.headerSize + 4)
                try done.putDone(sequence: request.sequence, port: request.port)
                datagrams.append(done.bytes)
            }
        }
        datagrams.append(try Self.acknowledgement(of: request, error: error.map(Self.wireErrno) ?? 0, message: message))
        return datagrams
    }

    /// The errno a failure is sent with. An errno outside Linux's 1…4095
    /// (a handler bug) would read as success or fail to negate; it goes out
    /// as `EINVAL` instead.
    static func wireErrno(_ error: Errno) -> Int32 {
        (1...4095).contains(error.rawValue) ? error.rawValue : Errno.invalidArgument.rawValue
    }

    /// Encodes an `NLMSG_ERROR` for `request`.
    static func acknowledgement(of request: NetlinkHeader, error: Int32, message: String?) throws(ControlProtocolError) -> [UInt8] {
        let text = message.map(Self.sanitizedMessage)
        var size = NetlinkConstant.headerSize + NetlinkConstant.errorPayloadSize
        if let text { size += NetlinkConstant.align(NetlinkConstant.attributeHeaderSize + text.utf8.count + 1) }
        let acknowledgement = try NetlinkMessage(capacity: size)
        try acknowledgement.putError(acknowledging: request, error: error, extendedAck: text)
        return acknowledgement.bytes
    }

    /// The message as it can travel: no NUL bytes, at most
    /// ``maximumMessageLength`` bytes.
    static func sanitizedMessage(_ message: String) -> String {
        var text = message.contains("\0") ? message.replacingNUL() : message
        if text.utf8.count > maximumMessageLength {
            var cut = ""
            for character in text {
                if cut.utf8.count + character.utf8.count + 3 > maximumMessageLength { break }
                cut.append(character)
            }
            text = cut + "…"
        }
        return text
    }
}

extension String {
    fileprivate func replacingNUL() -> String {
        String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
    }
}

extension ControlProtocol {
    /// Encodes an event message for watchers: command ``eventCommand``,
    /// sequence number 0, one `EVENT` attribute.
    public static func encodeEvent(_ event: String) throws(ControlProtocolError) -> [UInt8] {
        let message = try NetlinkMessage(
            capacity: NetlinkMessage.size(genericPayloads: [event.utf8.count + 1]))
        try message.putGenericHeader(type: familyID, flags: 0, sequence: 0, port: 0, command: eventCommand)
        try message.put(.event, string: event)
        return message.bytes
    }
}
