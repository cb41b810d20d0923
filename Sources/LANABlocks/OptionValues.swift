import LANACore

/// Values that several block types accept in options and port names.

/// A 16-bit key (a FLIP Type, an EtherType) as written in a port name or an
/// option: `0x` and 1-4 hex digits, or decimal; `nil` otherwise.
func parseUInt16Key(_ text: Substring) -> UInt16? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
        let digits = text.dropFirst(2)
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        return UInt16(digits, radix: 16)
    }
    return UInt16(text, radix: 10)
}

/// `on`/`off` option values.
enum OnOff {
    static func parse(_ value: String, option: String) throws(BlockOptionError) -> Bool {
        switch value {
        case "on": return true
        case "off": return false
        default: throw BlockOptionError("\(option) takes on or off, not '\(value)'")
        }
    }
}
