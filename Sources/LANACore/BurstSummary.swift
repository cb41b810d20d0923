/// What a block said about its whole group in one word: written into the
/// engine's summary slot by ``Burst/forwardAll(_:)`` or
/// ``Burst/consumeAll()``, read by the engine right after the call.
///
/// The encoding shares the ``Verdict`` space so that the common case costs
/// one compare: `0` means nothing was said (every packet carries its own
/// verdict), an IDP means every packet goes there, a drop verdict means
/// every packet is dropped for that reason (or ends, ``DropReason/ended``),
/// and one value above them means the block consumed the whole group.
///
/// The contract that makes this safe: a summary is the block's *last word*
/// on the burst (no verdict is set after it), and `forwardAll` is never
/// called on packets the block turned around (it forwards along the
/// direction the burst came in with). Debug builds check both
/// (`LANA_INTERNAL_CHECKS`, see `Engine.checkSummary`).
@frozen
public struct BurstSummary: Equatable {
    public var rawValue: UInt32

    @inlinable
    init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Nothing said: read each packet's verdict.
    @inlinable
    static var perPacket: BurstSummary { BurstSummary(rawValue: 0) }

    /// Every packet of the group was consumed (``Burst/consumeAll()``).
    @inlinable
    static var allConsumed: BurstSummary { BurstSummary(rawValue: 0xFFFF_FFFE) }

    /// The same verdict for every packet of the group.
    @inlinable
    static func all(_ verdict: Verdict) -> BurstSummary { BurstSummary(rawValue: verdict.rawValue) }

    @inlinable
    var isPerPacket: Bool { rawValue == 0 }

    /// Every packet goes on to the same IDP (this one).
    @inlinable
    var isForward: Bool { rawValue &- 1 < Verdict.firstSpecial &- 1 }

    /// Every packet is dropped (or ends) for one reason.
    @inlinable
    var isDrop: Bool { rawValue >= Verdict.firstSpecial && rawValue < BurstSummary.allConsumed.rawValue }

    @inlinable
    var isAllConsumed: Bool { rawValue == BurstSummary.allConsumed.rawValue }

    /// The reason of a drop summary.
    @inlinable
    var dropReason: DropReason { DropReason(rawValue: UInt8(truncatingIfNeeded: rawValue)) ?? .blockSpecific }
}
