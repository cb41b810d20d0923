import LANACore

/// `echo`: answers FLIP packets delivered to it, like a ping responder.
///
/// Bound above a `flip` block (on `up` or on a Type's port), it sends every
/// packet back to the packet's FLIP source: same payload, from the address
/// it was sent to (unless that was broadcast or absent), with Type
/// `reply-type` (0x88b6 unless set), a TTL of 64 if the request carried one,
/// and a checksum if it did. Packets of the reply Type are never answered,
/// so two echo blocks cannot bounce a packet between them forever; nor are
/// packets without a source, or ESPs (counted as `ignored`, they end here).
public final class EchoBlock: FunctionalBlock, @unchecked Sendable {
    public static let defaultReplyType: UInt16 = 0x88B6

    public static let type = BlockType(
        name: "echo",
        summary: "answers FLIP packets: sends each back to its source with Type reply-type (ping responder)",
        options: [.init("reply-type", "Type of the answers (default 0x88b6); packets of this Type are not answered")],
        configurator: .init(initial: { EchoConfiguration(replyType: EchoBlock.defaultReplyType) }) { _, key, value throws(BlockOptionError) in
            guard let t = parseUInt16Key(Substring(value)) else {
                throw BlockOptionError("\(key) takes a FLIP Type, 0x0000-0xffff or decimal, not '\(value)'")
            }
            return .configure(EchoConfiguration(replyType: t))
        }
    ) { env in EchoBlock(engineCount: env.engineCount) }

    enum Counter: Int, CaseIterable { case answered, ignored }
    private let counters: EngineCounterSlots

    init(engineCount: Int) {
        counters = EngineCounterSlots(engineCount: engineCount, words: Counter.allCases.count)
    }

    deinit { counters.deallocate() }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let engine = context.engine.index
        let down = context.ports.down
        context.withConfiguration(EchoConfiguration.self) { configuration in
            var i = 0
            while i < burst.count {
                let p = burst[i]
                p.verdict = answer(p, replyType: configuration.replyType, down: down, engine: engine)
                i &+= 1
            }
        }
    }

    @inline(__always)
    private func answer(_ p: Packet, replyType: UInt16, down: IDP, engine: Int) -> Verdict {
        guard p.direction == .ingress, let m = p.flipMetadata, m.pointee.esp == nil,
              let source = m.pointee.fields.source, !source.isBroadcast, m.pointee.fields.effectiveType != replyType
        else {
            counters.add(engine, Counter.ignored.rawValue)
            return .end
        }
        let asked = m.pointee.fields
        var reply = FLIPFields(destination: source, type: replyType, hasChecksum: asked.hasChecksum)
        if let d = asked.destination, !d.isBroadcast { reply.source = d }
        if asked.ttl != nil { reply.ttl = 64 }
        reply.flow = asked.flow
        reply.priority = asked.priority
        p.setFLIPMetadata(FLIPMetadata(sending: reply))
        p.direction = .egress
        counters.add(engine, Counter.answered.rawValue)
        return down.isNone ? .drop(.unboundPort) : .forward(down)
    }

    public override func detailLines() -> [String] {
        (0..<counters.engineCount).map { e in
            "engine \(e) answered=\(counters.value(e, Counter.answered.rawValue)) ignored=\(counters.value(e, Counter.ignored.rawValue))"
        }
    }
}

/// `echo`'s one option.
final class EchoConfiguration: BlockConfiguration, @unchecked Sendable {
    let replyType: UInt16
    init(replyType: UInt16) { self.replyType = replyType }
    override var values: [(key: String, value: String)] { [("reply-type", "0x" + String(replyType, radix: 16))] }
}
