import Glibc
import SystemPackage

/// A small file whose content is replaced whole and atomically: a reader
/// sees one complete version or the next, never a mix, and a version that
/// a reader has open never changes under it.
///
/// The classic way is a new temporary file per version, renamed over the
/// old one. On tmpfs most of that cost is making the new inode and freeing
/// the replaced one — measured here, 225 µs for three small files after a
/// 200 ms sleep against 96 µs when versions are reused, and 60 against 24 µs
/// when hot. So the replaced version is kept under a hidden *spare* name and
/// becomes the version after next, the two names swapped with
/// `renameat2(RENAME_EXCHANGE)`.
///
/// A spare is rewritten only under a write lease (`F_SETLEASE`), which the
/// kernel grants only while no other open file description refers to the
/// file: a reader still holding the old version makes the lease fail, and
/// that version is left to it (its name goes, a new spare is made). A
/// process that opens the spare while it is being rewritten (only by its
/// hidden name) waits until the lease is given up, microseconds later, and
/// then reads the complete new version. The lease break is signalled with
/// SIGURG, whose default action is to ignore it.
///
/// Where leases or the exchange are not available, every version is a new
/// file, as in the classic way. Not thread-safe; one owner at a time.
public final class ReplaceableFile {
    public let path: String
    /// Where the previous version waits to be reused: same file system as
    /// `path`, and a name no one else uses.
    public let sparePath: String
    /// The content last written, or nil.
    public private(set) var content: [UInt8]?
    /// Open on the inode `path` names, if we wrote it.
    private var current: FileDescriptor?
    private var currentLength = 0
    /// Open on the inode `sparePath` names, if any.
    private var spare: FileDescriptor?
    private var spareLength = 0
    private let mode: mode_t

    public init(path: String, sparePath: String, mode: mode_t = 0o644) {
        self.path = path
        self.sparePath = sparePath
        self.mode = mode
    }

    deinit {
        if let current { Syscall.close(current) }
        if let spare { Syscall.close(spare) }
    }

    /// Makes `bytes` the file's content, unless it already is.
    ///
    /// On failure the file keeps its previous content, and the next call
    /// starts afresh.
    public func replace(with bytes: [UInt8]) throws(Errno) {
        if content == bytes { return }
        let next = try writeSpare(bytes)
        if let current {
            do {
                try Syscall.exchange(sparePath, path)
                spare = current
                spareLength = currentLength
                self.current = next
                currentLength = bytes.count
                content = bytes
                return
            } catch where error == .noSuchFileOrDirectory || error == .invalidArgument
                || error == .notSupported || error == .noFunction {
                // `path` was removed by someone, or no RENAME_EXCHANGE
                // here: publish with a plain rename.
            } catch {
                discardSpare(next)
                throw error
            }
        }
        do {
            try Syscall.rename(sparePath, to: path)
        } catch {
            discardSpare(next)
            throw error
        }
        if let current { Syscall.close(current) }
        current = next
        currentLength = bytes.count
        content = bytes
    }

    /// Removes the file and its spare.
    public func remove() {
        try? Syscall.unlink(path)
        try? Syscall.unlink(sparePath)
        if let current { Syscall.close(current) }
        if let spare { Syscall.close(spare) }
        current = nil
        spare = nil
        content = nil
    }

    /// Writes `bytes` to the spare (reused if no one has it open, else
    /// new) and returns it; `spare` is nil afterwards.
    private func writeSpare(_ bytes: [UInt8]) throws(Errno) -> FileDescriptor {
        if let reused = spare {
            spare = nil
            if (try? Syscall.takeWriteLease(reused)) != nil {
                defer { Syscall.releaseLease(reused) }
                do {
                    try Self.write(bytes, to: reused)
                    if bytes.count < spareLength { try Syscall.truncate(reused, length: bytes.count) }
                    return reused
                } catch {
                    // Whatever it holds now, it is not a version: drop it.
                    Syscall.close(reused)
                    try? Syscall.unlink(sparePath)
                    throw error
                }
            }
            // Someone reads it (or no leases here): it stays theirs.
            Syscall.close(reused)
        }
        // Free the name (a reader keeps the inode), then a new inode.
        do { try Syscall.unlink(sparePath) } catch where error == .noSuchFileOrDirectory {}
        let fd = try Syscall.create(sparePath, flags: O_RDWR | O_EXCL, mode: mode)
        do {
            // Without leases this fails too, and every version stays new.
            try? Syscall.setLeaseSignal(fd)
            try Self.write(bytes, to: fd)
        } catch {
            discardSpare(fd)
            throw error
        }
        return fd
    }

    private static func write(_ bytes: [UInt8], to fd: FileDescriptor) throws(Errno) {
        let result = bytes.withUnsafeBytes { raw -> Result<Void, Errno> in
            do throws(Errno) {
                try Syscall.writeAll(fd, raw, at: 0)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    private func discardSpare(_ fd: FileDescriptor) {
        Syscall.close(fd)
        try? Syscall.unlink(sparePath)
    }
}
