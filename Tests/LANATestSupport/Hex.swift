/// The bytes a string of hex digit pairs spells (`"0a1b"` → `[0x0a, 0x1b]`);
/// for test data only: it traps on anything else.
public func hexBytes(_ hex: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}
