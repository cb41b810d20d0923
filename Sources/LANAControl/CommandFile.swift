import Glibc
import SystemPackage

/// Reading a file of command lines (`lanad --config`, `fbctl apply`) or
/// another client-side input (`@file`, `-`) whole, on either side of the
/// control channel.
public enum CommandFile {
    /// Files larger than this are refused with `EFBIG`: whatever is read
    /// must travel in one control datagram (64 KiB) anyway, so a bigger one
    /// is a mistake, not something to buffer.
    public static let maximumSize = 16 << 20

    /// The contents of `path`, or of standard input when `path` is `nil`,
    /// decoded as UTF-8 (invalid bytes become U+FFFD).
    public static func read(_ path: String?) throws(Errno) -> String {
        let fd = path.map { open($0, O_RDONLY | O_CLOEXEC) } ?? STDIN_FILENO
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        defer { if path != nil { close(fd) } }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(rawValue: errno)
            }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if data.count > maximumSize { throw Errno(rawValue: EFBIG) }
        }
        return String(decoding: data, as: UTF8.self)
    }
}
