// A libFuzzer target for the control protocol's decoders.
//
// Built for fuzzing (libFuzzer supplies `main`):
//   swift build -c debug --product LANAControlFuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLANA_LIBFUZZER
// Built plainly, the same binary replays inputs (a corpus, or a crash file
// libFuzzer left behind) through the target: `LANAControlFuzz FILE...`, or
// writes a seed corpus of valid messages: `LANAControlFuzz --seeds DIR`.

#if canImport(Glibc)
import Glibc
#endif
import LANAControl
import LANAFuzzSupport

/// Feeds one input to every decoder that reads bytes from a peer.
///
/// Besides "does not crash", it checks that whatever the request decoder
/// accepts (APPLY's nested commands included) re-encodes and decodes to the
/// same command.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlDecoders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    if let request = try? Command(decoding: bytes) {
        let header = NetlinkHeader(parsing: bytes)!
        guard let encoded = try? request.encode(sequence: header.sequence, port: header.port),
            let again = try? Command(decoding: encoded), again == request
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

#if LANA_LIBFUZZER
@_cdecl("LANAControlFuzz_main")
func fuzzerEntryPoint(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    runFuzzerDriver(argc, argv, fuzzControlDecoders)
}
#else
/// Seeds: one valid request per command, replies and an event.
func seeds() -> [[UInt8]] {
    let requests: [Command] = [
        .add(name: "c1", type: "counter"), .remove(name: "c1"), .set(name: "f", option: "bpf=ret #0"),
        .bind("a", onTopOf: "b"), .unbind("a", from: "b"), .replace("a", with: "b", dropState: true),
        .subscribe(publisher: "a", subscriber: "b"), .unsubscribe(publisher: "a", subscriber: "b"), .list,
        .show(name: "c1"), .hook(interface: "eth0"), .unhook(interface: "eth0"),
        .addVirtualLink(name: "v", rootDevice: "eth0", tag: 7), .removeVirtualLink(name: "v"), .watch,
        .types,
        .apply([.graph(.add(name: "a", type: "dummy")), .graph(.bind(upper: "a", lower: "b", port: "up.clone")),
                .hook(interface: "eth0"), .graph(.replace(old: "a", new: "c", dropState: true))]),
    ]
    var seeds = requests.map { try! $0.encode(sequence: 77, port: 1) }
    let header = NetlinkHeader(length: 20, type: ControlProtocol.familyID, flags: 5, sequence: 77, port: 1)
    seeds += try! ControlReply.ok(items: [.init(text: "a dummy 1 0\n", json: "{}")]).encode(replyingTo: header, command: .list)
    seeds += try! ControlReply.failure(.invalidArgument, "bad", command: 1).encode(replyingTo: header, command: .apply)
    seeds.append(try! ControlProtocol.encodeEvent("bound a b"))
    return seeds
}

// main.swift's top-level code, written as a declaration: the libFuzzer build
// compiles this file with -parse-as-library (libFuzzer has the `main`), and
// the parser rejects top-level statements there even inside an inactive #if.
let replayStatus = runWithoutFuzzer(fuzzControlDecoders, seeds: seeds)
#endif
