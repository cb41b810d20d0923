// The FLIP and ARP blocks under fuzzing: an input becomes bursts of frames
// through `arp` → `flip` → a recorder in an EmbeddedGraph, and what the
// blocks deliver must be what the full parser says, frame by frame.
//
// The blocks take most packets on fast paths that the parser does not
// see: a per-engine shape of the last header, the prefix of the last
// stream delivered, a pass over a whole burst. These are checked here
// against `FLIPHeader.parse` of each frame alone: a frame the parser
// refuses, or addressed elsewhere, is dropped; any other is delivered
// with the parser's payload, fields and ESP, and the frame's Ethernet
// source. Every buffer returns to the pool.

import LANABlocks
import LANACore
import LANAEmbedded
import LANAPosix
import Synchronization

/// Records what `flip` delivers: payload, decoded fields, ESP, link source.
final class DeliveryRecorder: FunctionalBlock, @unchecked Sendable {
    struct Delivery: Equatable {
        let payload: [UInt8]
        let fields: FLIPFields?
        let esp: FLIPESP?
        let linkSource: MACAddress
    }

    static let type = BlockType(name: "recorder", summary: "records flip's deliveries (fuzzing)") { _ in DeliveryRecorder() }

    private let store = Mutex<[Delivery]>([])
    var deliveries: [Delivery] { store.withLock { $0 } }

    override func process(_ burst: Burst, _ context: BlockContext) {
        for i in 0..<burst.count {
            let p = burst[i]
            let d: Delivery
            if let m = p.flipMetadata?.pointee {
                d = Delivery(payload: Array(p.bytes), fields: m.esp == nil ? m.fields : nil, esp: m.esp,
                             linkSource: m.linkSource)
            } else {
                d = Delivery(payload: Array(p.bytes), fields: nil, esp: nil, linkSource: MACAddress(rawValue: 0))
            }
            store.withLock { $0.append(d) }
            p.verdict = .consumed
            context.engine.free(p)
            context.engine.countDelivered(1)
        }
    }
}

/// The local addresses of the fuzzed `flip`: one of each size, those of
/// the docs/flip.md vectors.
let fuzzedLocalAddresses = "10.0.0.2,0xabcd,0x1112131415161718191a1b1c1d1e1f20"

/// Builds the frames of one input: its first byte says how many (1–8)
/// and whether they are copies of the first body, each with one byte
/// changed (so that they share a stream and take the burst pass); the
/// rest, cut into that many parts, are the FLIP bodies.
func fuzzedFrames(_ input: UnsafeRawBufferPointer) -> [[UInt8]] {
    guard let control = input.first else { return [] }
    let count = 1 + Int(control & 7)
    let copies = control & 8 != 0
    let rest = Array(input.dropFirst())
    var bodies: [[UInt8]] = []
    if copies {
        for k in 0..<count {
            var body = rest
            if k > 0 && !body.isEmpty {
                // One byte changed, past the first 8 (a stream's prefix) when there are more.
                let at = body.count > 8 ? 8 + (k * 7) % (body.count - 8) : k % body.count
                body[at] &+= UInt8(truncatingIfNeeded: k)
            }
            bodies.append(body)
        }
    } else {
        let part = (rest.count + count - 1) / Swift.max(count, 1)
        for k in 0..<count {
            let from = Swift.min(k * part, rest.count)
            bodies.append(Array(rest[from..<Swift.min(from + part, rest.count)]))
        }
    }
    return bodies.enumerated().map { k, body in
        // To a unicast MAC, from one per frame, EtherType 0x2020.
        [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, UInt8(k + 1), 0x20, 0x20] + body
    }
}

/// What the full parser says `flip` must deliver for `frame`, or nil
/// for a frame it must drop.
func expectedDelivery(_ frame: [UInt8], local: [FLIPAddress]) -> DeliveryRecorder.Delivery? {
    let linkSource = MACAddress(rawValue: UInt64(frame[11]) | 0x0200_0000_0000)
    return frame.withUnsafeBytes { raw -> DeliveryRecorder.Delivery? in
        let body = UnsafeRawBufferPointer(rebasing: raw[14...])
        switch FLIPHeader.parse(body, arp: false) {
        case .drop:
            return nil
        case .esp(let esp):
            return .init(payload: [], fields: nil, esp: esp, linkSource: linkSource)
        case .packet(let header):
            if let d = header.fields.destination, !d.isBroadcast, !local.contains(d) { return nil }
            return .init(payload: Array(body[header.payloadRange]), fields: header.fields, esp: nil,
                         linkSource: linkSource)
        }
    }
}

/// Runs the frames of `input` through arp → flip → recorder twice (the
/// second time with the shapes and stream the first left behind) and
/// checks each delivery against the parser.
func checkBlocks(_ input: UnsafeRawBufferPointer) {
    let frames = fuzzedFrames(input)
    guard !frames.isEmpty, frames.allSatisfy({ $0.count <= 14 + FLIPBlock.maximumPacketLength }) else { return }
    let local = (try? FLIPAddress.parseList(fuzzedLocalAddresses)) ?? []
    let expected = frames.compactMap { expectedDelivery($0, local: local) }
    let graph = EmbeddedGraph(types: BuiltinBlocks.types + [DeliveryRecorder.type], poolCapacity: 64, backlogCapacity: 32)
    let r = graph.registry
    do throws(RegistryError) {
        _ = try r.add("a", type: "arp")
        _ = try r.add("f", type: "flip")
        _ = try r.add("up", type: "recorder")
        try r.set("f", "address=\(fuzzedLocalAddresses)")
        try r.bind("f", "a")
        try r.bind("up", "f")
        for _ in 0..<2 {
            for f in frames { try graph.send(f, to: "a") }
            graph.run()
        }
    } catch {
        fatalError("the fuzzed graph could not be set up: \(error)")
    }
    let recorder = r.block(named: "up") as! DeliveryRecorder
    let got = recorder.deliveries
    guard got == expected + expected else {
        fatalError("""
            flip delivered \(got.count) packets where the parser says \(expected.count * 2):
              got      \(got)
              expected \(expected + expected)
              frames   \(frames.map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() })
            """)
    }
    let c = graph.counters
    guard c.totalDrops == UInt64(2 * (frames.count - expected.count)), graph.poolAvailable == graph.poolCapacity else {
        fatalError("ledger: \(c.totalDrops) drops for \(2 * (frames.count - expected.count)) refused frames, "
                   + "pool \(graph.poolAvailable) of \(graph.poolCapacity)")
    }
}
