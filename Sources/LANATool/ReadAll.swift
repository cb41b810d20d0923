import Glibc
import LANAControl
import SystemPackage

/// The contents of `path`, or of standard input for `nil` (a tool's `-`),
/// for every subcommand that reads a file (`fbctl apply`, `@file`
/// arguments). `nil` with `errno` set when it cannot be read, so callers
/// can report `strerror(errno)`.
public func readAll(_ path: String?) -> String? {
    do throws(Errno) {
        return try CommandFile.read(path)
    } catch {
        errno = error.rawValue
        return nil
    }
}
