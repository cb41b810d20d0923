import LANABlocks
import LANAPosix

/// The frames of docs/flip.md §9 (Ethernet header included) and the
/// addresses they use, one copy for every suite: a suite adopts the
/// protocol and reads them as `Self.v2`, `Self.macA`.
protocol FLIPSpecVectors {}

extension FLIPSpecVectors {
    static var macA: MACAddress { MACAddress(rawValue: 0x0200_0000_0001) }
    static var macB: MACAddress { MACAddress(rawValue: 0x0200_0000_0002) }
    static var macC: MACAddress { MACAddress(rawValue: 0x0200_0000_0003) }
    static var objectA: FLIPAddress { FLIPAddress(Array(1...16))! }
    static var objectB: FLIPAddress { FLIPAddress(Array(17...32))! }

    // FLIP (§9, V1–V6 and V14; V4F is V4 forwarded by MAC_B to MAC_C).
    static var v1: String { "0200000000020200000000012020006869" }
    static var v2: String { "020000000002020000000001202094580a00000200000a000001001513bd68656c6c6f" }
    static var v3: String {
        "0200000000020200000000012020be78051112131415161718191a1b1c1d1e1f200000400102030405060708090a0b0c0d0e0f10002d59ae6f626a"
    }
    static var v4: String { "0200000000020200000000012020b7bc60000a00000288b502deadbeefabcd0018cfc9000078" }
    static var v4f: String { "0200000000030200000000022020b7bc60000a00000288b501deadbeefabcd0018d0c9000078" }
    static var v5: String { "ffffffffffff02000000000120206a" }
    static var v6: String { "ffffffffffff0200000000012020d234" }
    static var v14: String { v2 + String(repeating: "00", count: 25) }

    // ARP (§9, V7–V13): ARP-over-FLIP, then RFC 826.
    static var v7: String { "ffffffffffff020000000001080690460a0000020a000001" }
    static var v8: String { "020000000001020000000002080690450a0000010a000002" }
    static var v9: String { "ffffffffffff020000000001080698661112131415161718191a1b1c1d1e1f200102030405060708090a0b0c0d0e0f10" }
    static var v10: String { "020000000001020000000002080698650102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20" }
    static var v11: String { "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002" }
    static var v12: String { "020000000001020000000002080600010800060400020200000000020a0000020200000000010a000001" }
    static var v13: String { v11 + String(repeating: "00", count: 18) }
}
