import Glibc

/// Where lanad keeps its control socket and state files, resolved the same
/// way by the daemon and every tool (docs/design.md §2).
public enum RunDirectoryPath {
    /// Without `--run-dir` or `$LANA_RUN_DIR`.
    public static let standard = "/run/lana"

    /// `explicit` (a `--run-dir` argument), else `$LANA_RUN_DIR` if set and
    /// not empty, else ``standard``.
    public static func resolve(_ explicit: String?) -> String {
        if let explicit { return explicit }
        if let env = getenv("LANA_RUN_DIR"), env.pointee != 0 { return String(cString: env) }
        return standard
    }
}
