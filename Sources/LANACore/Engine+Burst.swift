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
        var sameEntry = n == 0
        if fromSources, n < Engine.burstSize, index < table.sourceRanges.count {
            let first = n
            let metas = ctx.pool.metas
            var i = table.sourceStart[index]
            let end = table.sourceStart[index + 1]
            while i < end, n < Engine.burstSize {
                let before = n
                n &+= table.sources[i]._withUnsafeGuaranteedRef { source in
                    let got = source.receive(into: work + n, max: Engine.burstSize &- n, engine: ctx)
                    if got > 0 {
                        sameEntry = sameEntry && source.entersAtOneIDP
                            && metas[Int(work[before])].next == metas[Int(work[0])].next
                    }
                    return got
                }
                i &+= 1
            }
            if n > first {
                var bytes: UInt64 = 0
                var j = first
                while j < n {
                    bytes &+= UInt64(metas[Int(work[j])].length)
                    j &+= 1
                }
                stats.add(.received, UInt64(n &- first))
                stats.add(.receivedBytes, bytes)
            }
        }
        if n == 0 { return 0 }
        // A burst from one source usually enters at one IDP: then the first
        // round needs no partitioning either.
        drive(count: n, table: table, uniform: sameEntry)
        // Copies that blocks queued (tee) are driven under the same snapshot
        // before the next quiescent point, so a block removed in between can
        // never be the target of a queued packet. The graph is acyclic, so
        // this ends.
        while ctx.backlog.count > 0 {
            let m = ctx.backlog.pop(into: work, max: Engine.burstSize)
            drive(count: m, table: table, uniform: false)
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
    ///
    /// The common case is a chain: every packet of the burst leaves a block
    /// for the same next IDP. The round that collects the forwarded packets
    /// notices that, and the next round hands the working set to the block
    /// as it is instead of partitioning it again — one pass over the packets
    /// per hop besides the block's own.
    @inline(__always)
    func drive(count: Int, table: DispatchTable, uniform startsUniform: Bool) {
        let metas = context.pool.metas
        var n = count
        var uniform = startsUniform
        while n > 0 {
            let target = metas[Int(work[0])].next
            let members: UnsafeMutablePointer<PacketHandle>
            var g = 0
            var r = 0
            if uniform {
                members = work
                g = n
            } else {
                members = group
                var i = 0
                while i < n {
                    let h = work[i]
                    if metas[Int(h)].next == target {
                        group[g] = h
                        g &+= 1
                    } else {
                        work[r] = h
                        r &+= 1
                    }
                    i &+= 1
                }
            }
            uniform = dispatch(target: target, members: members, count: g, rest: &r, table: table)
            n = r
        }
    }

    /// Hands `members[0..<count]` to the block at `target` and appends the
    /// packets it forwarded to `work[rest...]` (in place when `members` is
    /// `work` itself: the write index never passes the read index). Returns
    /// whether the working set is now headed for a single next IDP.
    @inline(__always)
    func dispatch(target: UInt32, members: UnsafeMutablePointer<PacketHandle>, count g: Int,
                  rest r: inout Int, table: DispatchTable) -> Bool {
        let metas = context.pool.metas
        guard let entry = table.entry(target) else {
            let reason: DropReason = target == 0 ? .noNextHop : .unknownIDP
            for j in 0..<g { drop(members[j], reason) }
            return false
        }
        let burst = Burst(handles: members, count: g, pool: context.pool, idp: target, summary: summary)
        let bctx = BlockContext(idp: IDP(target), ports: entry.ports, engine: context)
        summary.pointee = 0
        entry.block.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.process(burst, bctx) }
        stats.add(.blockCalls, UInt64(g))
        let said = summary.pointee
        if said == Burst.allConsumed {
            // consumeAll took the whole group out of the graph.
            return r == 0
        }
        if said &- 1 < Verdict.firstSpecial &- 1 {
            // forwardAll sent the whole group to one IDP and did the hop
            // bookkeeping: move it on as it is.
            if members != work { (work + r).update(from: members, count: g) }
            let uniform = r == 0
            r &+= g
            return uniform
        }
        let counted = said == Burst.hopsApplied
        var uniform = r == 0
        let first = r
        var firstNext: UInt32 = 0
        var j = 0
        while j < g {
            let h = members[j]
            let m = metas + Int(h)
            let v = m.pointee.next
            if v &- 1 < Verdict.firstSpecial &- 1 {
                let hops = counted ? m.pointee.hops : m.pointee.hops &+ 1
                if hops >= Engine.hopLimitHops {
                    drop(h, .hopLimit)
                } else {
                    if !counted {
                        m.pointee.hops = hops
                        m.pointee.source = target
                    }
                    if r == first { firstNext = v } else if v != firstNext { uniform = false }
                    work[r] = h
                    r &+= 1
                }
            } else if v == 0 {
                drop(h, .noNextHop)
            } else if v != Verdict.consumed.rawValue {
                drop(h, DropReason(rawValue: UInt8(truncatingIfNeeded: v)) ?? .blockSpecific)
            }
            j &+= 1
        }
        return uniform
    }

    @inline(__always)
    func drop(_ h: PacketHandle, _ reason: DropReason) {
        context.pool.free(h)
        stats.countDrop(reason, 1)
    }
}
