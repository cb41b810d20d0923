import Glibc

/// A state file that is replaced atomically (write a temporary file, rename
/// it over the old one) with the expensive half of that done off the reply
/// path.
///
/// On tmpfs, creating the temporary inode and freeing the replaced one cost
/// more than the write and the rename themselves. `fblocks` changes with
/// nearly every control operation and must be current before the reply, so
/// the control thread calls ``replace(with:)`` (write + rename into an
/// already open temporary) before replying and ``prepare()`` after: that
/// creates the next temporary and hands over the replaced inode, which the
/// file kept open so that the rename did not have to free it.
///
/// Readers see exactly what a plain write + rename gives them: every version
/// is a new inode, and one opened before a replace keeps its old content.
struct PreparedStateFile: ~Copyable {
    let path: String
    let temporaryPath: String
    /// The last content written.
    private(set) var content: [UInt8]?
    /// Open on the empty temporary file, or -1.
    private var next: Int32 = -1
    /// Open on the inode `path` names now, or -1.
    private var current: Int32 = -1
    /// Open on replaced inodes, handed to the caller by ``prepare()``.
    private var retired: [Int32] = []

    /// - Parameters:
    ///   - path: The state file.
    ///   - temporaryPath: Where the next version waits, in the same
    ///     directory (rename does not cross file systems); a dot file, so
    ///     that a listing of the run directory shows only state files.
    init(path: String, temporaryPath: String) {
        self.path = path
        self.temporaryPath = temporaryPath
    }

    deinit {
        for fd in retired + [current, next] where fd >= 0 { close(fd) }
        unlink(temporaryPath)
    }

    /// Writes `bytes` as the file's new content unless it already is.
    /// - Returns: `false` if the file could not be written (it keeps its
    ///   previous content; the next call tries again).
    @discardableResult
    mutating func replace(with bytes: [UInt8]) -> Bool {
        if content == bytes { return true }
        openNext()
        guard next >= 0 else { return false }
        guard writeAll(next, bytes), rename(temporaryPath, path) == 0 else {
            close(next)
            next = -1
            unlink(temporaryPath)
            return false
        }
        if current >= 0 { retired.append(current) }
        current = next
        next = -1
        content = bytes
        return true
    }

    /// Creates the next temporary file and hands over the descriptors of
    /// replaced inodes, for the caller to close: the work that
    /// ``replace(with:)`` leaves for after the reply. Closing the last
    /// reference of an inode frees it, which costs more than making one;
    /// the daemon does that on another thread (``DescriptorCloser``).
    mutating func prepare() -> [Int32] {
        openNext()
        defer { retired.removeAll(keepingCapacity: true) }
        return retired
    }

    private mutating func openNext() {
        if next < 0 { next = open(temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
    }
}

/// Writes all of `bytes` to `fd`, retrying after EINTR and short writes.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { buf -> Bool in
        var off = 0
        while off < buf.count {
            let n = write(fd, buf.baseAddress! + off, buf.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            off += n
        }
        return true
    }
}
