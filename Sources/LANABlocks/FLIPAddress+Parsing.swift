import LANACore

extension FLIPAddress {
    /// The accepted text forms, for error messages.
    static let textForms =
        "expected an IPv4 address (10.0.0.2), a 2-byte address as 0x and 4 hex digits (0xabcd) "
        + "or an object id as 32 hex digits, with or without 0x"

    init(kind: Kind, high: UInt64, low: UInt64) {
        self.kind = kind
        self.high = high
        self.low = low
    }

    /// Reads the three forms that `description` prints, so values round-trip:
    /// dotted IPv4 (`10.0.0.2`, 4 bytes), `0x` and exactly 4 hex digits
    /// (`0xabcd`, 2 bytes), and 32 hex digits with or without `0x` (an object
    /// id). Hex digits may be of either case; nil for anything else.
    public init?(parsing text: Substring) {
        let utf8 = text.utf8
        if utf8.contains(UInt8(ascii: ".")) {
            guard let ipv4 = Self.parseIPv4(utf8) else { return nil }
            self.init(kind: .ipv4, high: UInt64(ipv4) << 32, low: 0)
            return
        }
        var digits = utf8[...]
        let prefixed = digits.starts(with: "0x".utf8) || digits.starts(with: "0X".utf8)
        if prefixed { digits = digits.dropFirst(2) }
        switch digits.count {
        case 4 where prefixed:
            guard let value = Self.parseHex(digits) else { return nil }
            self.init(kind: .short, high: value << 48, low: 0)
        case 32:
            let middle = digits.index(digits.startIndex, offsetBy: 16)
            guard let high = Self.parseHex(digits[..<middle]), let low = Self.parseHex(digits[middle...]) else {
                return nil
            }
            self.init(kind: .objectID, high: high, low: low)
        default:
            return nil
        }
    }

    /// `init?(parsing:)` with an error that names the text and the accepted
    /// forms, for option values.
    public static func parse(_ text: Substring) throws(BlockOptionError) -> FLIPAddress {
        guard let address = FLIPAddress(parsing: text) else {
            throw BlockOptionError("'\(text)' is not a FLIP address, \(textForms)")
        }
        return address
    }

    /// A comma-separated list of addresses in the forms of
    /// `init?(parsing:)`, spaces around an item allowed; the empty string is
    /// the empty list. The error names the first bad item (an empty one
    /// included) and the accepted forms.
    public static func parseList(_ text: String) throws(BlockOptionError) -> [FLIPAddress] {
        if text.isEmpty { return [] }
        var addresses: [FLIPAddress] = []
        for (index, item) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            var word = item
            while word.first == " " { word.removeFirst() }
            while word.last == " " { word.removeLast() }
            guard let address = FLIPAddress(parsing: word) else {
                let what = word.isEmpty ? "empty item" : "'\(word)'"
                throw BlockOptionError("\(what) (item \(index + 1) of '\(text)') is not a FLIP address, \(textForms)")
            }
            addresses.append(address)
        }
        return addresses
    }

    /// Four decimal numbers 0–255 joined by dots, without leading zeros
    /// (which some parsers read as octal).
    static func parseIPv4(_ utf8: Substring.UTF8View) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var parts = 0
        var leadingZero = false
        for c in utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                part = 0
                digits = 0
            } else if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                guard !leadingZero || digits == 0 else { return nil }
                if digits == 0 { leadingZero = c == UInt8(ascii: "0") }
                part = part * 10 + UInt32(c - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, part <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    /// The value of up to 16 hex digits, the first one most significant.
    static func parseHex(_ digits: Substring.UTF8View) -> UInt64? {
        var value: UInt64 = 0
        for c in digits {
            guard let digit = hexDigitValue(c) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
