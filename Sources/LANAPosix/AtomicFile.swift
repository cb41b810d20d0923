import CLANASupport
import Glibc
import SystemPackage

/// Replaces a file's content atomically: the bytes go to a temporary file
/// in the same file system, which is then renamed over the file. A reader
/// sees the old version or the new one, whole, and a version it has open
/// never changes under it.
public enum AtomicFile {
    /// Writes `bytes` to `temporary` (created or truncated, mode 0644) and
    /// renames it to `path`. On failure `path` keeps its previous content
    /// and the temporary file is removed.
    public static func replace(_ path: String, with bytes: [UInt8], temporary: String) throws(Errno) {
        let fd = try Syscall.create(temporary, flags: O_WRONLY | O_TRUNC, mode: 0o644)
        var failure = bytes.withUnsafeBytes { buffer -> Errno? in
            do throws(Errno) { try Syscall.writeAll(fd, buffer, at: 0) } catch { return error }
            return nil
        }
        Syscall.close(fd)
        if failure == nil {
            do throws(Errno) { try Syscall.rename(temporary, to: path) } catch { failure = error }
        }
        if let failure {
            try? Syscall.unlink(temporary)
            throw failure
        }
    }

    /// Removes `path`; a file that is not there is no error.
    public static func remove(_ path: String) {
        try? Syscall.unlink(path)
    }
}
