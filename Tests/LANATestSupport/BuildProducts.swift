import Foundation
import Glibc

/// Where the binaries under test live: beside the test bundle
/// (`swift build --build-tests` builds `lanad`, `fbctl` and `vlink` there),
/// or in `LANA_E2E_BIN_DIR` when that is set.
public enum BuildProducts {
    public static let directory: String = {
        if let override = ProcessInfo.processInfo.environment["LANA_E2E_BIN_DIR"], !override.isEmpty {
            return override
        }
        // On Linux the test bundle is itself the executable XCTest runs.
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let exe = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : CommandLine.arguments[0]
        let start = (exe as NSString).deletingLastPathComponent
        var dir = start
        // `…/debug/lanaPackageTests.xctest` (a file on Linux; a directory
        // with the binary inside elsewhere): walk up to the directory that
        // holds `lanad`; if none does, the bundle's own, for the tests'
        // "missing" message to name.
        while !FileManager.default.isExecutableFile(atPath: dir + "/lanad") {
            if dir.isEmpty || dir == "/" { return start }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }()

    public static func path(_ tool: String) -> String { directory + "/" + tool }

    public static var available: Bool {
        ["lanad", "fbctl", "vlink"].allSatisfy { FileManager.default.isExecutableFile(atPath: path($0)) }
    }
}

/// The text of a file (bytes that are not UTF-8 replaced), or `nil` if it
/// cannot be read.
public func readTextFile(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}
