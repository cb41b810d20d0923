import LANAPosix
/// The two encodings that share EtherType 0x0806 (docs/flip.md §10).
public enum ARPEncoding: String, Sendable {
    /// RFC 826, Ethernet and IPv4: what Linux hosts speak.
    case rfc826
    /// A FLIP header with the Q or P flag and no payload: any address size.
    case flip
}

/// Why an EtherType 0x0806 body was refused (docs/flip.md §10.4), in the
/// order the checks run.
public enum ARPDropReason: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Neither `00 01` (RFC 826) nor a first byte with bit 7 set (ARP-over-FLIP).
    case unknownEncoding
    /// An RFC 826 body under 28 bytes.
    case short
    /// RFC 826 field checks. The classification already requires hardware
    /// type 1, so `parse` reports another hardware type as `unknownEncoding`.
    case hardwareType, protocolType, hardwareLength, protocolLength, operation
    /// The FLIP parser refused the header; `ParseResult.drop` carries its reason.
    case flipHeader
    /// ARP-over-FLIP without a Destination or a Source (an ESP has neither).
    case missingAddress
    /// ARP-over-FLIP with both or neither of Q and P.
    case flags

    public var description: String {
        switch self {
        case .unknownEncoding:
            "ARP body of unknown encoding, expected 00 01 (RFC 826) or a first byte with bit 7 set (ARP-over-FLIP)"
        case .short: "RFC 826 body shorter than 28 bytes"
        case .hardwareType: "RFC 826 hardware type not 1, expected Ethernet (1)"
        case .protocolType: "RFC 826 protocol type not 0x0800, expected IPv4 (0x0800)"
        case .hardwareLength: "RFC 826 hardware address length not 6, expected 6"
        case .protocolLength: "RFC 826 protocol address length not 4, expected 4"
        case .operation: "RFC 826 operation neither 1 (request) nor 2 (reply)"
        case .flipHeader: "ARP-over-FLIP header refused by the FLIP parser"
        case .missingAddress: "ARP-over-FLIP message without Destination or Source, expected both"
        case .flags: "ARP-over-FLIP message with both or neither of Q and P, expected exactly one"
        }
    }
}

/// One ARP message of either encoding, decoded (docs/flip.md §10). The
/// sender is the pair a receiver may learn; the target is the address asked
/// for (request) or the requester (reply).
public struct ARPMessage: Equatable, Sendable {
    public var encoding: ARPEncoding
    /// false: a reply.
    public var isRequest: Bool
    /// RFC 826 spa; ARP-over-FLIP Source.
    public var senderAddress: FLIPAddress
    /// RFC 826 sha; ARP-over-FLIP: the frame's Ethernet source, which is the answer.
    public var senderMAC: MACAddress
    /// RFC 826 tpa; ARP-over-FLIP Destination.
    public var targetAddress: FLIPAddress
    /// RFC 826 tha. ARP-over-FLIP does not carry it: `.zero` when decoded;
    /// `reply(responderMAC:)` sets it to the requester's MAC for either
    /// encoding, since that is where the reply goes.
    public var targetMAC: MACAddress

    public init(
        encoding: ARPEncoding, isRequest: Bool, senderAddress: FLIPAddress, senderMAC: MACAddress,
        targetAddress: FLIPAddress, targetMAC: MACAddress
    ) {
        self.encoding = encoding
        self.isRequest = isRequest
        self.senderAddress = senderAddress
        self.senderMAC = senderMAC
        self.targetAddress = targetAddress
        self.targetMAC = targetMAC
    }

    public enum ParseResult: Equatable, Sendable {
        case message(ARPMessage)
        /// The reason, and the FLIP parser's own when the reason is `flipHeader`.
        case drop(ARPDropReason, FLIPDropReason?)
    }

    /// The RFC 826 body for Ethernet and IPv4.
    static let rfc826Length = 28

    /// The longest body either encoding writes: ARP-over-FLIP with two object
    /// ids (2 meta bytes + 16 + 16), above RFC 826's 28.
    public static let maximumBodyLength = max(2 + 16 + 16, rfc826Length)

    /// Classifies and decodes an EtherType 0x0806 body (docs/flip.md §10.1–
    /// §10.4). Bytes past the message (link padding, an ARP-over-FLIP
    /// payload) are ignored. ARP-over-FLIP goes through
    /// `FLIPHeader.parse(_:arp:)`, so a checksum, if present, is verified.
    /// `ethernetSource` is the frame's source MAC, which is ARP-over-FLIP's
    /// sender MAC.
    public static func parse(_ body: UnsafeRawBufferPointer, ethernetSource: MACAddress) -> ParseResult {
        let count = body.count
        guard count > 0, let base = body.baseAddress else { return .drop(.unknownEncoding, nil) }
        let first = base.load(as: UInt8.self)
        if first & 0x80 != 0 { return parseFLIP(body, ethernetSource: ethernetSource) }
        guard count >= 2, first == 0, base.load(fromByteOffset: 1, as: UInt8.self) == 1 else {
            return .drop(.unknownEncoding, nil)
        }
        guard count >= rfc826Length else { return .drop(.short, nil) }

        @inline(__always) func word(_ at: Int) -> UInt16 {
            UInt16(bigEndian: base.loadUnaligned(fromByteOffset: at, as: UInt16.self))
        }
        guard word(0) == 1 else { return .drop(.hardwareType, nil) }
        guard word(2) == 0x0800 else { return .drop(.protocolType, nil) }
        guard base.load(fromByteOffset: 4, as: UInt8.self) == 6 else { return .drop(.hardwareLength, nil) }
        guard base.load(fromByteOffset: 5, as: UInt8.self) == 4 else { return .drop(.protocolLength, nil) }
        let operation = word(6)
        guard operation == 1 || operation == 2 else { return .drop(.operation, nil) }
        return .message(
            ARPMessage(
                encoding: .rfc826, isRequest: operation == 1,
                senderAddress: FLIPAddress(kind: .ipv4, at: base + 14), senderMAC: MACAddress(at: base + 8),
                targetAddress: FLIPAddress(kind: .ipv4, at: base + 24), targetMAC: MACAddress(at: base + 18)))
    }

    /// ARP-over-FLIP: a valid FLIP header (Q/P admitted) with a Destination,
    /// a Source and exactly one of Q and P; other fields are tolerated.
    static func parseFLIP(_ body: UnsafeRawBufferPointer, ethernetSource: MACAddress) -> ParseResult {
        switch FLIPHeader.parse(body, arp: true) {
        case .drop(let reason):
            return .drop(.flipHeader, reason)
        case .esp:
            return .drop(.missingAddress, nil)
        case .packet(let header):
            let fields = header.fields
            guard let target = fields.destination, let sender = fields.source else {
                return .drop(.missingAddress, nil)
            }
            guard fields.arpRequest != fields.arpReply else { return .drop(.flags, nil) }
            return .message(
                ARPMessage(
                    encoding: .flip, isRequest: fields.arpRequest, senderAddress: sender, senderMAC: ethernetSource,
                    targetAddress: target, targetMAC: .zero))
        }
    }
}
