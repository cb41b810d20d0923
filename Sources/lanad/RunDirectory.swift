import Glibc
import LANAPosix
import SystemPackage

/// The daemon's state directory (default `/run/lana`): created on start,
/// guarded by a lock file so one daemon owns it, emptied on clean exit.
final class RunDirectory: @unchecked Sendable {
    let path: String
    private let lockFD: Int32
    private let created: Bool

    var controlSocket: String { path + "/control" }
    var blockDirectory: String { path + "/fblock" }
    /// Where the state writer prepares a file before renaming it into
    /// place; a dot file, so that a listing shows only state files, at
    /// the top, since a block's name may start with a dot.
    var temporaryFile: String { path + "/.writing" }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(path: String) throws {
        self.path = path
        var st = stat()
        if stat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw Failure(description: "run directory \(path) exists and is not a directory")
            }
            created = false
        } else {
            guard mkdir(path, 0o755) == 0 else {
                throw Failure(description: "cannot create run directory \(path): \(Errno(rawValue: errno))")
            }
            created = true
        }
        let lockPath = path + "/lanad.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw Failure(description: "cannot open lock file \(lockPath): \(Errno(rawValue: errno))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buf, 31)
            let pid = n > 0 ? String(decoding: buf[0..<n], as: UTF8.self).trimmingWhitespace : "?"
            close(fd)
            throw Failure(description: "another lanad (pid \(pid)) is running with run directory \(path)")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
        lockFD = fd
        // A daemon that was killed left its state files behind; none of
        // them describes this daemon's (empty) registry. The control socket
        // is left to the control server, which replaces it only if it is
        // stale.
        removeStateFiles()
        mkdir(blockDirectory, 0o755)
    }

    /// Removes everything the daemon wrote, then the lock, then the
    /// directory if the daemon created it.
    func cleanUp() {
        unlink(controlSocket)
        removeStateFiles()
        rmdir(blockDirectory)
        unlink(path + "/lanad.lock")
        close(lockFD)
        if created { rmdir(path) }
    }

    /// The state files of docs/design.md §2, everything in `fblock/`, and a
    /// file being prepared.
    private func removeStateFiles() {
        for f in ["fblocks", "ppe", "drops", "vlink", "stalls", "version"] {
            unlink(path + "/" + f)
        }
        unlink(temporaryFile)
        Self.removeFiles(in: blockDirectory)
    }

    private static func removeFiles(in directory: String) {
        guard let dir = opendir(directory) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink(directory + "/" + name) }
        }
        closedir(dir)
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
