import Glibc

/// A run directory whose `lanad` died without cleaning up (SIGKILL, a
/// crash): `lanad.lock` names a pid but no process holds the lock, so the
/// state files there describe a graph that no longer exists.
public struct StaleRunDirectory: CustomStringConvertible {
    public let runDirectory: String
    /// The pid `lanad.lock` names, as written there.
    public let pid: String

    /// `nil` when there is no lock file or a process holds its lock.
    public init?(runDirectory: String) {
        let path = runDirectory + "/lanad.lock"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // lanad holds an exclusive flock for as long as it runs; if a shared
        // one is granted at once, nobody does.
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else { return nil }
        flock(fd, LOCK_UN)
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
        self.runDirectory = runDirectory
        self.pid = text.filter(\.isNumber).isEmpty ? "?" : text.filter(\.isNumber)
    }

    public var description: String {
        "lanad (pid \(pid) in \(runDirectory)/lanad.lock) is not running and did not clean up: the state files in \(runDirectory) are stale"
    }
}
