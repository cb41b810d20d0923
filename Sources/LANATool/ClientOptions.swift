import ArgumentParser
import Glibc
import LANAControl

/// Options every LANA client tool takes.
public struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The daemon's run directory (default: $LANA_RUN_DIR, else /run/lana).", valueName: "dir"))
    public var runDir: String?

    @Flag(name: .long, help: "Print replies as JSON (one object per line).")
    public var json = false

    public init() {}

    public var resolvedRunDir: String { RunDirectoryPath.resolve(runDir) }

    public var socketPath: String { resolvedRunDir + "/control" }
}
