// Unsafe code: FLIP's layout over a packet's annotation area.
//
// Invariants
// - `FLIPMetadata` is a plain value (no references), at most
//   `PacketPool.annotationSize` bytes (checked when the flip type loads),
//   and the area is 64-byte aligned, so binding it to this type is sound.
// - The area is undefined unless the packet's `annotationKind` is
//   `FLIPMetadata.annotationKind`: only `setFLIPMetadata` sets it, with a
//   whole value, and the pool clears it for every buffer taken or frame
//   received. Readers check it before they read the typed value.
// - `storage` holds a FLIPFields value when `rawHeaderLength` is 0, and
//   otherwise the first `rawHeaderLength` bytes of a header that `flip`
//   validated, as received (at most `FLIPMetadata.rawHeaderCapacity`
//   bytes, which fit within the FLIPFields value's size). Every write of
//   `storage` as FLIPFields clears `rawHeaderLength` first or with it.
// - `fillReceived` writes the first 8 bytes as one word; the offsets of the
//   fields in them are checked when the flip type loads.

import LANACore
import LANAPosix

/// What travels with a FLIP packet beside its bytes (``Packet/annotation``).
///
/// Up the graph, `flip` fills it for the blocks above: the header it parsed
/// (`fields`), the Ethernet source, an ESP's value. Down the graph, whoever
/// sends (an application block, `echo`) fills `fields` with what to send
/// and `flip` builds the header from them (docs/flip.md §8), then sets the
/// link part for the block below (`arp`): the EtherType, the next-hop
/// address to resolve, and whether the bytes still begin with the old link
/// header (a forwarded frame, rewritten in place).
public struct FLIPMetadata: Sendable {
    /// The packet's ``Packet/annotationKind`` when it carries FLIP metadata.
    public static let annotationKind: UInt8 = 1

    /// Received: the parsed header. To send: the fields to put in it.
    /// A received header is kept as its bytes and decoded when read
    /// (most blocks above need only the Type and the payload, which `flip`
    /// has already used).
    public var fields: FLIPFields {
        get { rawHeaderLength == 0 ? storage : decodedFields }
        set {
            rawHeaderLength = 0
            storage = newValue
        }
    }

    // What a received packet's path writes comes first, so that with a
    // short header it all lies in the area's first cache line: the small
    // fields (one store, ``fillReceived(linkSource:headerLength:)``), the
    // link source, the next hop, then `storage`.
    /// The EtherType the link block writes (0x2020).
    public var etherType: UInt16
    /// Bytes in front of the packet that are its old link header, which the
    /// link block may rewrite in place: 14 for a forwarded frame, else 0.
    public internal(set) var linkHeaderLength: UInt8
    /// 0 for a FLIP packet; 6 or 14 for an ESP (value in `espValue`).
    public var espWidth: UInt8
    public var espValue: UInt16
    /// Bytes of a received header in `storage`; 0 when it holds fields.
    var rawHeaderLength: UInt8
    /// The Ethernet source a received packet came from.
    public var linkSource: MACAddress {
        get { MACAddress(wireWord: linkSourceWire) }
        set { linkSourceWire = newValue.wireWord }
    }
    /// `linkSource` as its bytes lie in the frame (``MACAddress/wireWord(ofSourceIn:)``).
    var linkSourceWire: UInt64
    /// The address the link block resolves to a MAC; `nil` = broadcast.
    public var nextHop: FLIPAddress?
    /// `fields`, or the received header's bytes (see the invariants);
    /// `flip` parses a header straight into it (``storagePointer``).
    var storage: FLIPFields

    /// The longest header kept as bytes; a FLIP header is at most 49.
    static let rawHeaderCapacity = 64

    /// Metadata for sending `fields` (an application's request).
    public init(sending fields: FLIPFields) {
        etherType = FLIPBlock.etherType
        linkHeaderLength = 0
        espWidth = 0
        linkSourceWire = 0
        nextHop = nil
        espValue = 0
        rawHeaderLength = 0
        storage = fields
    }

    /// Metadata for sending an ESP (docs/flip.md §5).
    public init(sendingESP esp: FLIPESP) {
        self.init(sending: FLIPFields())
        espWidth = esp.width
        espValue = esp.value
    }

    /// Sets everything but `storage` for a packet just received from the
    /// MAC whose wire word is `linkSource` (no ESP, no next hop) whose
    /// header of `headerLength` bytes is kept as bytes
    /// (``keepReceivedHeader(_:count:sixteenReadable:)``), or 0 when
    /// `storage` is set as fields.
    @inline(__always)
    mutating func fillReceived(linkSource: UInt64, headerLength: Int) {
        // The small fields as one word (their offsets are checked when the
        // flip type loads, ``smallFieldsWord(rawHeaderLength:)``).
        let word = Self.smallFieldsWord(rawHeaderLength: UInt8(truncatingIfNeeded: headerLength))
        withUnsafeMutableBytes(of: &self) { $0.storeBytes(of: word, as: UInt64.self) }
        linkSourceWire = linkSource
        nextHop = nil
    }

    /// The first 8 bytes of a received packet's metadata: `etherType`
    /// 0x2020 at offset 0, `linkHeaderLength`, `espWidth` and `espValue` 0
    /// (offsets 2, 3, 4), `rawHeaderLength` at offset 6.
    @inline(__always)
    static func smallFieldsWord(rawHeaderLength: UInt8) -> UInt64 {
        (UInt64(FLIPBlock.etherType) | UInt64(rawHeaderLength) << 48).littleEndian
    }

    /// Whether the small fields lie where ``smallFieldsWord(rawHeaderLength:)``
    /// writes them (checked once, when the flip type loads).
    static var smallFieldsLayoutHolds: Bool {
        MemoryLayout<FLIPMetadata>.offset(of: \.etherType) == 0
            && MemoryLayout<FLIPMetadata>.offset(of: \.linkHeaderLength) == 2
            && MemoryLayout<FLIPMetadata>.offset(of: \.espWidth) == 3
            && MemoryLayout<FLIPMetadata>.offset(of: \.espValue) == 4
            && MemoryLayout<FLIPMetadata>.offset(of: \.rawHeaderLength) == 6
            && MemoryLayout<FLIPMetadata>.offset(of: \.linkSourceWire) == 8
    }

    /// Keeps the validated header of `count` bytes at `header` as the
    /// received fields, decoded when read (with `rawHeaderLength` =
    /// `count`, see ``fillReceived(linkSource:headerLength:)``).
    /// `sixteenReadable`: `count` is at most 16 and 16 bytes may be read at
    /// `header` (one move; the bytes past `count` mean nothing).
    @inline(__always)
    mutating func keepReceivedHeader(_ header: UnsafeRawPointer, count: Int, sixteenReadable: Bool = false) {
        withUnsafeMutableBytes(of: &storage) {
            let to = $0.baseAddress.unsafelyUnwrapped
            if sixteenReadable {
                to.storeBytes(of: header.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
            } else {
                FLIPMetadata.copyHeader(header, count: count, to: to)
            }
        }
    }

    /// Copies 1…64 bytes in a few overlapping word moves (a header's
    /// length varies per packet stream; `memcpy` costs a call).
    @inline(__always)
    static func copyHeader(_ from: UnsafeRawPointer, count n: Int, to: UnsafeMutableRawPointer) {
        @inline(__always) func move<T>(_ type: T.Type, _ at: Int) {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: at, as: T.self), toByteOffset: at, as: T.self)
        }
        if n >= 16 {
            var i = 0
            while i &+ 16 < n {
                move(SIMD16<UInt8>.self, i)
                i &+= 16
            }
            move(SIMD16<UInt8>.self, n &- 16)
        } else if n >= 8 {
            move(UInt64.self, 0)
            move(UInt64.self, n &- 8)
        } else if n >= 4 {
            move(UInt32.self, 0)
            move(UInt32.self, n &- 4)
        } else {
            for i in 0..<n { move(UInt8.self, i) }
        }
    }

    /// The fields of the received header kept in `storage`.
    private var decodedFields: FLIPFields {
        var copy = storage
        return withUnsafeBytes(of: &copy) { FLIPFields(validatedHeader: $0.baseAddress.unsafelyUnwrapped) }
    }

    /// The ESP a received packet carried, if it was one.
    public var esp: FLIPESP? { espWidth == 0 ? nil : FLIPESP(value: espValue, width: espWidth) }
}

extension UnsafeMutablePointer where Pointee == FLIPMetadata {
    /// The metadata's `storage`, for the parser and builder to work on in place.
    @inline(__always)
    var storagePointer: UnsafeMutablePointer<FLIPFields> {
        pointer(to: \.storage).unsafelyUnwrapped
    }
}

extension Packet {
    /// The packet's FLIP metadata, if a block stored one.
    @inline(__always)
    public var flipMetadata: UnsafeMutablePointer<FLIPMetadata>? {
        guard annotationKind == FLIPMetadata.annotationKind else { return nil }
        return annotation.assumingMemoryBound(to: FLIPMetadata.self)
    }

    /// The annotation area as FLIP metadata about to be written in full
    /// (the receive path; it sets the kind when it is done).
    @inline(__always)
    var flipMetadataStorage: UnsafeMutablePointer<FLIPMetadata> {
        annotation.bindMemory(to: FLIPMetadata.self, capacity: 1)
    }

    /// Asks `flip` to send the packet's bytes as the payload of a packet
    /// with `fields` (what an application block does before it passes a
    /// packet down): the fields and the words `flip` checks, without
    /// writing the whole metadata.
    @inline(__always)
    public func setFLIPSendRequest(_ fields: FLIPFields) {
        let m = flipMetadataStorage
        m.storagePointer.pointee = fields
        m.pointee.rawHeaderLength = 0
        m.pointee.linkHeaderLength = 0
        m.pointee.espWidth = 0
        annotationKind = FLIPMetadata.annotationKind
    }

    /// Stores `metadata` in the packet's annotation area.
    @inline(__always)
    public func setFLIPMetadata(_ metadata: FLIPMetadata) {
        annotation.bindMemory(to: FLIPMetadata.self, capacity: 1).initialize(to: metadata)
        annotationKind = FLIPMetadata.annotationKind
    }
}
