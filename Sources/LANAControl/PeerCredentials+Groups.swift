// Unsafe code: group database and /proc lookups for the peer policy.
//
// Invariants:
// - `getgrnam_r` writes only into the buffer passed with its length; the
//   `group` record's pointers point into that buffer and are not used after
//   the call returns (only the gid is kept).
// - `/proc/<pid>/status` is read through a descriptor opened with O_CLOEXEC
//   and closed before returning, into a fixed-size buffer; at most 64 KiB
//   are read.

import Glibc

/// Lookups in the system's group database.
enum SystemGroups {
    /// The gid of the group `name`, or `nil` if there is no such group.
    static func groupID(named name: String) -> UInt32? {
        var buffer = [CChar](repeating: 0, count: 1024)
        var record = group()
        while true {
            var result: UnsafeMutablePointer<group>?
            let status = buffer.withUnsafeMutableBufferPointer {
                getgrnam_r(name, &record, $0.baseAddress, $0.count, &result)
            }
            if status == ERANGE && buffer.count < 1 << 20 {
                buffer = [CChar](repeating: 0, count: buffer.count * 4)
                continue
            }
            guard status == 0, result != nil else { return nil }
            return record.gr_gid
        }
    }

    /// The supplementary groups of a running process, from the `Groups:`
    /// line of `/proc/<pid>/status`; `nil` if it cannot be read.
    ///
    /// A fallback for kernels without `SO_PEERGROUPS`: unlike that, it sees
    /// the process's groups now rather than at connect time.
    static func supplementaryGroups(ofProcess pid: Int32) -> [UInt32]? {
        guard pid > 0 else { return nil }
        let descriptor = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { _ = close(descriptor) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while contents.count < 65_536 {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            contents.append(contentsOf: chunk[..<count])
        }
        for line in contents.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("Groups:") else { continue }
            return text.dropFirst("Groups:".count)
                .split(whereSeparator: { $0 == " " || $0 == "\t" })
                .compactMap { UInt32($0) }
        }
        return nil
    }
}
