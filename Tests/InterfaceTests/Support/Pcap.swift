import Foundation
import Glibc
import LANAPosix

/// Reads a classic pcap file as `tcpdump -w` writes it (microsecond or
/// nanosecond timestamps, either byte order).
enum Pcap {
    struct Record {
        let seconds: UInt32
        let fraction: UInt32
        let originalLength: Int
        let bytes: [UInt8]
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    static func read(_ path: String) throws -> (linkType: UInt32, records: [Record]) {
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

private protocol Runnable: AnyObject { func run() }

private final class NamespaceTask<T>: Runnable, @unchecked Sendable {
    let name: String
    let body: () throws -> T
    var result: Result<T, any Error>?
    init(name: String, body: @escaping () throws -> T) { self.name = name; self.body = body }
    func run() {
        do {
            try NetworkNamespace.enter(name: name)
            result = Result { try body() }
        } catch {
            result = .failure(error)
        }
    }
}

/// Runs `body` on a new thread that first moves into network namespace
/// `name`, and returns its result. Sockets opened there stay in that
/// namespace and can be used from any thread; the test's own threads
/// never change namespace (the thread ends right after `body`).
func inNamespace<T>(_ name: String, _ body: @escaping () throws -> T) throws -> T {
    let task = NamespaceTask(name: name, body: body)
    var tid = pthread_t()
    let arg = Unmanaged.passRetained(task as AnyObject).toOpaque()
    let rc = pthread_create(&tid, nil, { arg in
        let object = Unmanaged<AnyObject>.fromOpaque(arg!).takeRetainedValue()
        (object as! any Runnable).run()
        return nil
    }, arg)
    precondition(rc == 0, "pthread_create: \(rc)")
    pthread_join(tid, nil)
    return try task.result!.get()
}
