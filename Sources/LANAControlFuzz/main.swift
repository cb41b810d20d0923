// A libFuzzer target for the control protocol's decoders.
//
// Built for fuzzing (libFuzzer supplies `main`):
//   swift build -c debug --product LANAControlFuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLANA_LIBFUZZER
// Built plainly, the same binary replays inputs (a corpus, or a crash file
// libFuzzer left behind) through the target: `LANAControlFuzz FILE...`.

#if canImport(Glibc)
import Glibc
#endif
import LANAControl

/// Feeds one input to every decoder that reads bytes from a peer.
///
/// Besides "does not crash", it checks that whatever the request decoder
/// accepts re-encodes and decodes to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlDecoders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    if let request = try? ControlRequest(decoding: bytes) {
        let header = NetlinkHeader(parsing: bytes)!
        guard let encoded = try? request.encode(sequence: header.sequence, port: header.port),
            let again = try? ControlRequest(decoding: encoded), again == request
        else {
            fatalError("accepted request does not round-trip: \(request)")
        }
    }
    for command in [ControlCommand.list, .apply] {
        var decoder = ControlReplyDecoder(sequence: NetlinkHeader(parsing: bytes)?.sequence ?? 0, command: command)
        _ = try? decoder.decode(bytes)
    }
    return 0
}

#if !LANA_LIBFUZZER
/// Replays files through the target.
func replay(_ paths: ArraySlice<String>) -> Int32 {
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
        _ = contents.withUnsafeBufferPointer { fuzzControlDecoders($0.baseAddress, $0.count) }
    }
    print("replayed \(paths.count) inputs")
    return 0
}

// main.swift's top-level code, written as a declaration: the libFuzzer build
// compiles this file with -parse-as-library (libFuzzer has the `main`), and
// the parser rejects top-level statements there even inside an inactive #if.
let replayStatus: Int32 = {
    let status = replay(CommandLine.arguments.dropFirst())
    if status != 0 { exit(status) }
    return status
}()
#endif
