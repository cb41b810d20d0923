import Foundation
import Glibc

/// Reads a classic pcap file as `tcpdump -w` writes it (microsecond or
/// nanosecond timestamps, either byte order).
public enum Pcap {
    public struct Record: Sendable {
        public let seconds: UInt32
        public let fraction: UInt32
        public let originalLength: Int
        public let bytes: [UInt8]
    }

    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func read(_ path: String) throws -> (linkType: UInt32, records: [Record]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(description: "cannot read \(path)")
        }
        let b = [UInt8](data)
        guard b.count >= 24 else { throw FormatError(description: "\(path): \(b.count) bytes, no pcap header") }
        let magicLE = u32(b, 0, bigEndian: false)
        let bigEndian: Bool
        switch magicLE {
        case 0xA1B2_C3D4, 0xA1B2_3C4D: bigEndian = false
        case 0xD4C3_B2A1, 0x4D3C_B2A1: bigEndian = true
        default: throw FormatError(description: "\(path): bad magic \(String(magicLE, radix: 16))")
        }
        let linkType = u32(b, 20, bigEndian: bigEndian)
        var records: [Record] = []
        var off = 24
        while off + 16 <= b.count {
            let included = Int(u32(b, off + 8, bigEndian: bigEndian))
            let original = Int(u32(b, off + 12, bigEndian: bigEndian))
            guard off + 16 + included <= b.count else { break } // truncated last record
            records.append(Record(seconds: u32(b, off, bigEndian: bigEndian), fraction: u32(b, off + 4, bigEndian: bigEndian),
                                  originalLength: original, bytes: Array(b[(off + 16)..<(off + 16 + included)])))
            off += 16 + included
        }
        return (linkType, records)
    }

    private static func u32(_ b: [UInt8], _ o: Int, bigEndian: Bool) -> UInt32 {
        let v = UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
        return bigEndian ? v.byteSwapped : v
    }
}
