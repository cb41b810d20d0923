// What the project's libFuzzer targets share: handing over to libFuzzer's
// driver (fuzzing builds) and replaying files through a target (plain
// builds). Each target keeps only its test function, its entry point (the
// symbol name is per module) and its seeds.

#if canImport(Glibc)
import Glibc
#endif

/// A libFuzzer test function: `LLVMFuzzerTestOneInput`'s signature.
public typealias FuzzTarget = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

#if LANA_LIBFUZZER
/// libFuzzer's driver, for a program that keeps its own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzTarget
) -> CInt

/// Runs libFuzzer on `target` with the program's arguments. SwiftPM links
/// every executable with `--defsym main=<Module>_main`, which shadows
/// libFuzzer's own `main`, so each target's entry point calls this.
public func runFuzzerDriver(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ target: FuzzTarget
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, target)
}
#endif

/// Replays files (a corpus, or a crash file libFuzzer left behind) through
/// `target`. Returns the exit status.
public func replay(_ paths: ArraySlice<String>, through target: FuzzTarget) -> Int32 {
    for path in paths {
        guard let file = fopen(path, "rb") else {
            print("cannot open \(path)")
            return 1
        }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if count == 0 { break }
            contents += chunk[..<count]
        }
        fclose(file)
        _ = contents.withUnsafeBufferPointer { target($0.baseAddress, $0.count) }
    }
    print("replayed \(paths.count) inputs")
    return 0
}

/// Writes `seeds` as files `seed-<n>` into `directory`. Returns the exit
/// status.
public func writeSeeds(_ seeds: [[UInt8]], to directory: String) -> Int32 {
    for (index, seed) in seeds.enumerated() {
        guard let file = fopen("\(directory)/seed-\(index)", "wb") else {
            print("cannot write to \(directory)")
            return 1
        }
        _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
    }
    print("wrote \(seeds.count) seeds to \(directory)")
    return 0
}

/// The plain (non-fuzzing) build's command line: `--seeds DIR` writes
/// `seeds()`, anything else is a list of files to replay through `target`.
/// Exits on failure; returns 0 otherwise.
public func runWithoutFuzzer(_ target: FuzzTarget, seeds: () -> [[UInt8]]) -> Int32 {
    let arguments = CommandLine.arguments
    let status = arguments.count == 3 && arguments[1] == "--seeds"
        ? writeSeeds(seeds(), to: arguments[2]) : replay(arguments.dropFirst(), through: target)
    if status != 0 { exit(status) }
    return status
}
