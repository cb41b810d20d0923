import Glibc
import LANAPosix
import SystemPackage

/// The capabilities lanad cannot work without, checked at start so that a
/// daemon without them says so at once instead of failing at the first
/// `vlink ethernet hook`.
///
/// Only CAP_NET_RAW: packet sockets (receive and transmit rings, fanout,
/// promiscuous membership) need nothing else — a lanad holding CAP_NET_RAW
/// alone hooks, relays and unhooks interfaces (SecurityTests).
enum RequiredCapabilities {
    static let required: [(capability: Capability, use: String)] = [
        (.netRaw, "its packet sockets"),
    ]

    /// Why lanad cannot start, or nil if it holds every capability it needs.
    static func missingMessage() -> String? {
        let effective: UInt64
        do throws(Errno) { effective = try Capability.effectiveSet() } catch {
            return "cannot read lanad's capabilities (capget): \(error)"
        }
        let missing = required.filter { effective & (1 << UInt64($0.capability.number)) == 0 }
        guard !missing.isEmpty else { return nil }
        let names = missing.map(\.capability.name)
        let uses = missing.map(\.use).joined(separator: " and ")
        let setcap = missing.map { $0.capability.name.lowercased() }.joined(separator: ",")
        return "missing capabilit\(missing.count == 1 ? "y" : "ies") \(names.joined(separator: ", ")), which lanad needs for \(uses): "
            + "run lanad as root or grant it the capabilit\(missing.count == 1 ? "y" : "ies"), e.g. setcap \(setcap)=ep \(executablePath), "
            + "or AmbientCapabilities=\(names.joined(separator: " ")) in its systemd unit"
    }

    /// This program's path, for the `setcap` example.
    private static var executablePath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return CommandLine.arguments.first ?? "lanad" }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
