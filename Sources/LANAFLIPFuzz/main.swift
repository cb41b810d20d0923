// A libFuzzer target for the FLIP and ARP decoders and blocks: every input
// is a FLIP body (data frame and ARP), an ARP body and address text, and
// whatever is accepted must satisfy the codec's invariants; and it is cut
// into frames that the `arp` and `flip` blocks must deliver as the parser
// says (BlockCheck.swift).
//
// Built for fuzzing (libFuzzer supplies the driver):
//   swift build -c debug --product LANAFLIPFuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLANA_LIBFUZZER
// Built plainly, the same binary replays inputs (a corpus, or a crash file
// libFuzzer left behind): `LANAFLIPFuzz FILE...`, or writes a seed corpus
// of the docs/flip.md vectors: `LANAFLIPFuzz --seeds DIR`.
//
// Unsafe code: the input buffer is libFuzzer's, valid for the call and of
// exactly the input's size; the copies made here are allocated at their
// exact size too, so AddressSanitizer sees any read past a body.

#if canImport(Glibc)
import Glibc
#endif
import LANABlocks
import LANACore
import LANAFuzzSupport
import LANAPosix

/// Feeds one input to `FLIPHeader.parse` (as a data frame and as ARP),
/// `ARPMessage.parse` and the address parsers, and checks:
/// - an accepted FLIP packet has header length ≤ packet length ≤ body
///   length and a header length that its fields and meta bytes account for;
///   its fields, rebuilt around its payload, parse to the same fields and
///   payload; `forward` on a copy changes nothing but TTL and checksum, and
///   the result parses with TTL one lower;
/// - an ESP's value fits its width and re-encodes to the input's bytes;
/// - an accepted ARP message re-encodes to a body that decodes to the same
///   message (for RFC 826, to the input's 28 bytes exactly), and so does
///   its reply; a refusal agrees with the classification and, for ARP-over-
///   FLIP, with the FLIP parser;
/// - address text that parses prints as text that parses to the same value;
/// - the `arp` and `flip` blocks deliver the input's frames as the parser
///   says (see BlockCheck.swift).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFLIPDecoders(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let body = UnsafeRawBufferPointer(start: size > 0 ? data : nil, count: size)
    checkFLIP(body, arp: false)
    checkFLIP(body, arp: true)
    checkARP(body)
    if size <= 256 { checkText(String(decoding: body, as: UTF8.self)) }
    checkBlocks(body)
    return 0
}

func fail(_ what: String, _ body: UnsafeRawBufferPointer) -> Never {
    fatalError("\(what); body \(body.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())")
}

/// A copy of `bytes` in a buffer of exactly their size; the caller deallocates.
func exactCopy(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutableRawBufferPointer {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    if bytes.count > 0 { copy.copyMemory(from: bytes) }
    return copy
}

func checkFLIP(_ body: UnsafeRawBufferPointer, arp: Bool) {
    switch FLIPHeader.parse(body, arp: arp) {
    case .drop(let reason):
        if arp && reason == .arpFlagInData { fail("ARP flags refused under the ARP EtherType", body) }
        _ = reason.description
        _ = reason.counterName
    case .esp(let esp):
        guard (esp.width == 6 && esp.value < 0x40) || (esp.width == 14 && esp.value < 0x4000) else {
            fail("ESP value \(esp.value) does not fit width \(esp.width)", body)
        }
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        defer { out.deallocate() }
        guard let n = try? esp.write(into: out), n <= body.count, out[..<n].elementsEqual(body[..<n]) else {
            fail("ESP \(esp) does not re-encode to its bytes", body)
        }
    case .packet(let header):
        checkPacket(header, body, arp: arp)
    }
}

func checkPacket(_ header: FLIPHeader, _ body: UnsafeRawBufferPointer, arp: Bool) {
    let fields = header.fields
    guard header.metaLength >= 1 && header.metaLength <= 3, header.headerLength <= header.packetLength,
          header.packetLength <= body.count
    else {
        fail("meta \(header.metaLength), header \(header.headerLength), packet \(header.packetLength)", body)
    }
    if !arp && (fields.arpRequest || fields.arpReply) { fail("ARP flag accepted in a data frame", body) }
    // The builder counts a Length field whenever there is a checksum; a
    // received packet may carry a checksum without one.
    let checksumWithoutLength = fields.hasChecksum && !fields.hasLength ? 2 : 0
    guard header.headerLength
            == fields.headerLength - fields.metaLength + header.metaLength - checksumWithoutLength else {
        fail("header length \(header.headerLength) not what the fields \(fields) account for", body)
    }
    if let checksum = header.checksum,
       FLIPChecksum.compute(body.baseAddress!, count: header.packetLength, skipping: header.checksumOffset)
           != checksum {
        fail("accepted checksum \(checksum) does not verify", body)
    }

    // Rebuild: the same fields around the same payload.
    let payload = UnsafeRawBufferPointer(rebasing: body[header.payloadRange])
    let total = fields.headerLength + payload.count
    if total <= Int(UInt16.max) {
        let rebuilt = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 1)
        defer { rebuilt.deallocate() }
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: rebuilt[fields.headerLength...]).copyMemory(from: payload)
        }
        guard (try? fields.write(into: rebuilt, payloadLength: payload.count)) == total else {
            fail("fields \(fields) could not be rebuilt", body)
        }
        var expected = fields
        expected.hasLength = fields.hasLength || fields.hasChecksum
        guard case .packet(let again) = FLIPHeader.parse(UnsafeRawBufferPointer(rebuilt), arp: arp),
              again.fields == expected, rebuilt[again.payloadRange].elementsEqual(payload)
        else {
            fail("rebuilt fields \(fields) do not parse back", body)
        }
    }

    // Forward a copy: only TTL and checksum may change.
    let copy = exactCopy(body)
    defer { copy.deallocate() }
    let result = header.forward(copy)
    for i in 0..<body.count where copy[i] != body[i] {
        let checksumByte = header.checksumOffset >= 0
            && (i == header.checksumOffset || i == header.checksumOffset + 1)
        guard result == .decremented, i == header.ttlOffset || checksumByte else {
            fail("forward (\(result)) changed byte \(i)", body)
        }
    }
    switch (result, fields.ttl) {
    case (.unchanged, nil), (.drop(.ttlExpired), .some(0...1)):
        break
    case (.decremented, .some(let ttl)) where ttl > 1:
        var expected = fields
        expected.ttl = ttl - 1
        guard case .packet(let forwarded) = FLIPHeader.parse(UnsafeRawBufferPointer(copy), arp: arp),
              forwarded.fields == expected, forwarded.headerLength == header.headerLength,
              forwarded.packetLength == header.packetLength
        else {
            fail("forwarded packet does not parse with TTL \(ttl - 1)", body)
        }
    default:
        fail("forward gave \(result) for TTL \(String(describing: fields.ttl))", body)
    }
}

func checkARP(_ body: UnsafeRawBufferPointer) {
    let source = MACAddress(value: 0x0200_0000_00aa)
    let flipClass = body.first.map { $0 & 0x80 != 0 } ?? false
    switch ARPMessage.parse(body, ethernetSource: source) {
    case .drop(let reason, let flipReason):
        _ = reason.description
        let flipReasons: Set<ARPDropReason> = [.flipHeader, .missingAddress, .flags]
        if flipReasons.contains(reason) != flipClass { fail("drop \(reason) against the classification", body) }
        if (reason == .flipHeader) != (flipReason != nil) { fail("drop \(reason) with FLIP reason \(String(describing: flipReason))", body) }
        if let flipReason, FLIPHeader.parse(body, arp: true) != .drop(flipReason) {
            fail("FLIP reason \(flipReason) differs from the FLIP parser's", body)
        }
    case .message(let message):
        if (message.encoding == .flip) != flipClass { fail("\(message.encoding) against the classification", body) }
        if message.encoding == .flip && (message.senderMAC != source || message.targetMAC != .zero) {
            fail("ARP-over-FLIP MACs \(message.senderMAC) \(message.targetMAC)", body)
        }
        let written = roundTrip(message, body)
        if message.encoding == .rfc826 && !written.elementsEqual(body[..<28]) {
            fail("RFC 826 message \(message) does not re-encode to its 28 bytes", body)
        }
        if message.isRequest {
            let reply = message.reply(responderMAC: MACAddress(value: 0x0200_0000_00bb))
            _ = roundTrip(reply, body)
            guard reply.senderAddress == message.targetAddress, reply.targetAddress == message.senderAddress,
                  reply.ethernetDestination == message.senderMAC
            else {
                fail("reply \(reply) does not answer \(message)", body)
            }
        }
    }
}

/// Writes `message`, checks that it decodes to itself, and returns the bytes.
func roundTrip(_ message: ARPMessage, _ body: UnsafeRawBufferPointer) -> [UInt8] {
    let length = message.bodyLength
    guard length <= ARPMessage.maximumBodyLength else { fail("body length \(length)", body) }
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 1)
    defer { out.deallocate() }
    guard message.write(into: out) == length else { fail("write length differs from bodyLength", body) }
    var expected = message
    if message.encoding == .flip { expected.targetMAC = .zero }
    guard ARPMessage.parse(UnsafeRawBufferPointer(out), ethernetSource: message.senderMAC) == .message(expected) else {
        fail("\(message) does not decode from what it writes", body)
    }
    return Array(out)
}

func checkText(_ text: String) {
    if let address = FLIPAddress(parsing: text[...]), FLIPAddress(parsing: address.description[...]) != address {
        fatalError("FLIP address '\(text)' prints as '\(address)', which does not parse back")
    }
    if let mac = MACAddress(parsing: text[...]), MACAddress(parsing: mac.description[...]) != mac {
        fatalError("MAC address '\(text)' prints as '\(mac)', which does not parse back")
    }
    do throws(BlockOptionError) {
        let list = try FLIPAddress.parseList(text)
        let printed = list.map(\.description).joined(separator: ",")
        guard (try? FLIPAddress.parseList(printed)) == list else {
            fatalError("address list '\(text)' prints as '\(printed)', which does not parse back")
        }
    } catch {
        guard error.message.contains("expected") else { fatalError("unclear refusal of '\(text)': \(error)") }
    }
}

#if LANA_LIBFUZZER
@_cdecl("LANAFLIPFuzz_main")
func fuzzerEntryPoint(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    runFuzzerDriver(argc, argv, fuzzFLIPDecoders)
}
#else
/// Seeds: the bodies of the docs/flip.md vectors and refused bodies, ARP
/// bodies of both encodings, and address text.
func seeds() -> [[UInt8]] {
    func hex(_ s: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let next = s.index(i, offsetBy: 2)
            bytes.append(UInt8(s[i..<next], radix: 16)!)
            i = next
        }
        return bytes
    }
    let bodies = [
        "006869", "94580a00000200000a000001001513bd68656c6c6f",
        "be78051112131415161718191a1b1c1d1e1f200000400102030405060708090a0b0c0d0e0f10002d59ae6f626a",
        "b7bc60000a00000288b502deadbeefabcd0018cfc9000078", "6a", "d234",
        "90460a0000020a000001", "90450a0000010a000002",
        "98661112131415161718191a1b1c1d1e1f200102030405060708090a0b0c0d0e0f10",
        "98650102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        "00010800060400010200000000010a0000010000000000000a000002",
        "00010800060400020200000000020a0000020200000000010a000001",
        "80808000", "808001", "94580a00000200000a000001001513bd68656c6c6e", "800168", "20106869",
        "94580a00000200000a000001003013bd68656c6c6f",
    ].map(hex)
    // For the blocks (BlockCheck.swift): a count byte, then bodies; 0x0f is
    // eight copies of one body (a stream), 0x01 two bodies.
    let bursts = [
        "0f94500a00000288b50a010000001401020304050607", "0f94580a00000200000a000001001513bd68656c6c6f",
        "0fb7bc60000a00000288b502deadbeefabcd0018cfc9000078", "0f6a",
        "0194580a00000200000a000001001513bd68656c6c6f90460a0000020a000001",
    ].map(hex)
    let text = ["10.0.0.2", "0xabcd", "0102030405060708090a0b0c0d0e0f10", "02:00:00:00:00:01",
                "10.0.0.1,0xabcd, 0x1112131415161718191a1b1c1d1e1f20"].map { Array($0.utf8) }
    return bodies + bursts + text
}

// main.swift's top-level code, written as a declaration: the libFuzzer build
// compiles this file with -parse-as-library (libFuzzer has the `main`), and
// the parser rejects top-level statements there even inside an inactive #if.
let replayStatus = runWithoutFuzzer(fuzzFLIPDecoders, seeds: seeds)
#endif
