// The engine's per-burst work. This is the hottest code of the project:
// no allocation, no ARC (tables and blocks are reached through `Unmanaged`
// and `_withUnsafeGuaranteedRef`), no locks, no existentials.

extension Engine {
    /// Takes one burst and drives it through the graph. Returns how many
    /// packets it started with (0 = idle).
    @inline(__always)
    func runBurst(_ table: DispatchTable, fromSources: Bool) -> Int {
        let ctx = context
        var n = ctx.backlog.pop(into: work, max: Engine.burstSize)
        if fromSources, n < Engine.burstSize, index < table.sourceRanges.count {
            let first = n
            var i = table.sourceStart[index]
            let end = table.sourceStart[index + 1]
            while i < end, n < Engine.burstSize {
                n &+= table.sources[i]._withUnsafeGuaranteedRef {
                    $0.receive(into: work + n, max: Engine.burstSize &- n, engine: ctx)
                }
                i &+= 1
            }
            if n > first {
                var bytes: UInt64 = 0
                for j in first..<n { bytes &+= UInt64(ctx.pool.metas[Int(work[j])].length) }
                stats.add(.received, UInt64(n &- first))
                stats.add(.receivedBytes, bytes)
            }
        }
        if n == 0 { return 0 }
        drive(count: n, table: table)
        // Copies that blocks queued (tee) are driven under the same snapshot
        // before the next quiescent point, so a block removed in between can
        // never be the target of a queued packet. The graph is acyclic, so
        // this ends.
        while ctx.backlog.count > 0 {
            let m = ctx.backlog.pop(into: work, max: Engine.burstSize)
            drive(count: m, table: table)
            n &+= m
        }
        stats.add(.bursts, 1)
        stats.set(.backlogLength, UInt64(ctx.backlog.count))
        return n
    }

    /// Moves the packets in `work[0..<count]` from block to block until none
    /// is left. Each round takes the packets headed for the same IDP as the
    /// first one, hands them to that block in one call, and keeps those it
    /// forwarded for the next round.
    @inline(__always)
    func drive(count: Int, table: DispatchTable) {
        let metas = context.pool.metas
        var n = count
        while n > 0 {
            let target = metas[Int(work[0])].next
            var g = 0
            var r = 0
            var i = 0
            while i < n {
                let h = work[i]
                let m = metas + Int(h)
                if m.pointee.next == target {
                    let hops = m.pointee.hops &+ 1
                    m.pointee.hops = hops
                    if hops > Engine.hopLimit {
                        drop(h, .hopLimit)
                    } else {
                        group[g] = h
                        g &+= 1
                    }
                } else {
                    work[r] = h
                    r &+= 1
                }
                i &+= 1
            }
            if g > 0 {
                dispatch(target: target, groupCount: g, rest: &r, table: table)
            }
            n = r
        }
    }

    @inline(__always)
    func dispatch(target: UInt32, groupCount g: Int, rest r: inout Int, table: DispatchTable) {
        let metas = context.pool.metas
        guard let entry = table.entry(target) else {
            let reason: DropReason = target == 0 ? .noNextHop : .unknownIDP
            for j in 0..<g { drop(group[j], reason) }
            return
        }
        let burst = Burst(handles: group, count: g, pool: context.pool)
        let bctx = BlockContext(idp: IDP(target), ports: entry.ports, engine: context)
        entry.block.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.process(burst, bctx) }
        stats.add(.blockCalls, UInt64(g))
        var j = 0
        while j < g {
            let h = group[j]
            let m = metas + Int(h)
            let v = m.pointee.next
            if v < Verdict.firstSpecial {
                if v == 0 {
                    drop(h, .noNextHop)
                } else {
                    m.pointee.source = target
                    work[r] = h
                    r &+= 1
                }
            } else if v != Verdict.consumed.rawValue {
                let code = UInt8(truncatingIfNeeded: v)
                drop(h, DropReason(rawValue: code) ?? .blockSpecific)
            }
            j &+= 1
        }
    }

    @inline(__always)
    func drop(_ h: PacketHandle, _ reason: DropReason) {
        context.pool.free(h)
        stats.countDrop(reason, 1)
    }
}
