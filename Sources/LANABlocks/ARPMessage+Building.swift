import LANAPosix
extension ARPMessage {
    /// The request for `target` from `sender` at `senderMAC`; its target MAC
    /// is unknown, zero.
    public static func request(
        encoding: ARPEncoding, sender: FLIPAddress, senderMAC: MACAddress, target: FLIPAddress
    ) -> ARPMessage {
        ARPMessage(
            encoding: encoding, isRequest: true, senderAddress: sender, senderMAC: senderMAC,
            targetAddress: target, targetMAC: .zero)
    }

    /// The reply to this request from `responderMAC`, in the request's
    /// encoding (docs/flip.md §10.2, §10.3): the resolved address becomes the
    /// sender, the requester the target.
    public func reply(responderMAC: MACAddress) -> ARPMessage {
        precondition(isRequest, "only a request has a reply")
        return ARPMessage(
            encoding: encoding, isRequest: false, senderAddress: targetAddress, senderMAC: responderMAC,
            targetAddress: senderAddress, targetMAC: senderMAC)
    }

    /// Where the frame carrying this message goes: broadcast for a request,
    /// the requester (`targetMAC`) for a reply.
    public var ethernetDestination: MACAddress { isRequest ? .broadcast : targetMAC }

    /// The length of the body `write(into:)` produces.
    public var bodyLength: Int {
        switch encoding {
        case .rfc826: Self.rfc826Length
        case .flip: 2 + targetAddress.size + senderAddress.size
        }
    }

    /// Writes the body of this message in its minimal form (docs/flip.md
    /// §10.2, §10.3) and returns its length. RFC 826 carries only 4-byte
    /// addresses, and `body` must hold `bodyLength` bytes (preconditions).
    @discardableResult
    public func write(into body: UnsafeMutableRawBufferPointer) -> Int {
        let length = bodyLength
        guard let base = body.baseAddress, body.count >= length else {
            preconditionFailure("ARP body needs \(length) bytes, the buffer has \(body.count)")
        }
        switch encoding {
        case .flip:
            // Meta byte 1: C1 and the target's size code; byte 2: the
            // sender's size code, N (as the thesis sends it), Q or P.
            base.storeBytes(of: FLIPMeta.more | targetAddress.kind.rawValue << FLIPMeta.destinationShift, as: UInt8.self)
            let flag = isRequest ? FLIPMeta.arpRequest : FLIPMeta.arpReply
            let meta2 = senderAddress.kind.rawValue << FLIPMeta.sourceShift | FLIPMeta.dontFragment | flag
            base.storeBytes(of: meta2, toByteOffset: 1, as: UInt8.self)
            targetAddress.write(to: base + 2)
            senderAddress.write(to: base + 2 + targetAddress.size)
        case .rfc826:
            precondition(
                senderAddress.kind == .ipv4 && targetAddress.kind == .ipv4,
                "RFC 826 carries 4-byte addresses, not \(senderAddress) and \(targetAddress)")
            // htype 1, ptype 0x0800, hlen 6, plen 4.
            base.storeBytes(of: UInt64(0x0001_0800_0604_0000).bigEndian, as: UInt64.self)
            base.storeBytes(of: UInt16(isRequest ? 1 : 2).bigEndian, toByteOffset: 6, as: UInt16.self)
            senderMAC.write(to: base + 8)
            senderAddress.write(to: base + 14)
            targetMAC.write(to: base + 18)
            targetAddress.write(to: base + 24)
        }
        return length
    }

    /// Writes the body of a request for `target` from `sender` at
    /// `senderMAC` (ARP-over-FLIP `90 46 <target> <sender>` for IPv4, RFC 826
    /// with a zero tha) and returns its length. The frame goes to broadcast.
    public static func writeRequest(
        encoding: ARPEncoding, sender: FLIPAddress, senderMAC: MACAddress, target: FLIPAddress,
        into body: UnsafeMutableRawBufferPointer
    ) -> Int {
        request(encoding: encoding, sender: sender, senderMAC: senderMAC, target: target).write(into: body)
    }

    /// Writes the body of the reply to this request, answering with
    /// `responderMAC`, in the request's encoding, and returns its length. The
    /// frame goes to the requester, `senderMAC`.
    public func writeReply(responderMAC: MACAddress, into body: UnsafeMutableRawBufferPointer) -> Int {
        reply(responderMAC: responderMAC).write(into: body)
    }
}
