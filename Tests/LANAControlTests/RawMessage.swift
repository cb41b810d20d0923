import LANAControl

/// Builds netlink messages byte by byte, independently of the library, so
/// tests can produce exactly the malformed input they need.
enum RawMessage {
    static func attribute(_ type: UInt16, _ payload: [UInt8], padded: Bool = true) -> [UInt8] {
        var bytes = le16(UInt16(4 + payload.count)) + le16(type) + payload
        if padded { while bytes.count % 4 != 0 { bytes.append(0) } }
        return bytes
    }

    static func string(_ type: UInt16, _ text: String) -> [UInt8] {
        attribute(type, Array(text.utf8) + [0])
    }

    static func u32(_ type: UInt16, _ value: UInt32) -> [UInt8] {
        attribute(type, le32(value))
    }

    static func message(
        command: UInt8,
        attributes: [UInt8] = [],
        type: UInt16 = ControlProtocol.familyID,
        flags: UInt16 = 0x5,
        sequence: UInt32 = 77,
        version: UInt8 = 1,
        length: UInt32? = nil
    ) -> [UInt8] {
        let total = 20 + attributes.count
        return le32(length ?? UInt32(total)) + le16(type) + le16(flags) + le32(sequence) + le32(1234)
            + [command, version, 0, 0] + attributes
    }

    static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xff) } }
}
