import LANACore

/// `tee`: forwards every packet along its direction and sends a copy to the
/// side's clone port (`up.clone`, `down.clone`; a second bind on a side
/// without a port name fills it), if bound.
///
/// Copies go through the engine's backlog, so they are processed in the same
/// loop after the current burst. A copy never goes back towards the block the
/// packet came from (docs/design.md §11: copies looping through the
/// backlog).
public final class TeeBlock: FunctionalBlock, @unchecked Sendable {
    public static let type = BlockType(
        name: "tee",
        summary: "forwards packets and copies them to the side's clone port (up.clone, down.clone)",
        extraPorts: [
            .init("up.clone", "receives a copy of every ingress packet", takesSecondBind: true),
            .init("down.clone", "receives a copy of every egress packet", takesSecondBind: true),
        ]
    ) { _ in TeeBlock() }

    /// Copies never go back where the packet came from: tee reads sources.
    public override var readsPacketHistory: Bool { true }

    public override func process(_ burst: Burst, _ context: BlockContext) {
        let ports = context.ports
        var i = 0
        while i < burst.count {
            let p = burst[i]
            let d = p.direction
            let clone = ports.extra(Int(d.rawValue))
            if !clone.isNone && clone != p.source, let copy = context.engine.clone(p) {
                context.engine.enqueue(copy, to: clone, from: context.idp)
            }
            p.verdict = ports.verdict(for: d)
            i &+= 1
        }
    }
}
