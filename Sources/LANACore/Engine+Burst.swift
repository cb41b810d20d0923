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
    /// The common case is a chain: every packet of the working set leaves a
    /// block for the same next IDP (`forwardAll` reports that in the summary
    /// slot). Then the working set is *uniform*: the next round hands it to
    /// the next block as it is, without sorting it, and the per-packet hop
    /// count and source IDP are not written on every hop — `lag` hops from
    /// `lagSource` are owed to every packet of `work`, and paid when the
    /// set stops being uniform, when a block that reads them is called
    /// (``FunctionalBlock/readsPacketHistory``), or near the hop limit.
    @inline(__always)
    func drive(count: Int, table: DispatchTable, uniform startsUniform: Bool) {
        let metas = context.pool.metas
        var n = count
        var uniform = startsUniform
        var lag: UInt8 = 0
        var lagSource: UInt32 = 0
        // An upper bound of `hops` over `work` while uniform. A uniform start
        // is a burst fresh from sources: no hops yet.
        var baseMax: UInt8 = 0
        while n > 0 {
            let target = metas[Int(work[0])].next
            var members = work
            var g = n
            var r = 0
            var groupMax: UInt8 = 0
            if !uniform {
                members = group
                g = 0
                var i = 0
                while i < n {
                    let h = work[i]
                    let m = metas + Int(h)
                    if m.pointee.next == target {
                        group[g] = h
                        g &+= 1
                        groupMax = Swift.max(groupMax, m.pointee.hops)
                    } else {
                        work[r] = h
                        r &+= 1
                    }
                    i &+= 1
                }
            }
            guard let entry = table.entry(target) else {
                let reason: DropReason = target == 0 ? .noNextHop : .unknownIDP
                for j in 0..<g { drop(members[j], reason) }
                n = r
                uniform = false
                lag = 0
                continue
            }
            if lag != 0 && entry.readsHistory {
                catchUp(work, count: n, lag: lag, source: lagSource)
                baseMax &+= lag
                lag = 0
            }
            let burst = Burst(handles: members, count: g, pool: context.pool, idp: target, summary: summary)
            let bctx = BlockContext(idp: IDP(target), ports: entry.ports, engine: context)
            summary.pointee = 0
            entry.block.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.process(burst, bctx) }
            stats.add(.blockCalls, UInt64(g))
            let said = summary.pointee
            if said == Burst.allConsumed {
                // consumeAll took the whole group out of the graph.
                n = r
                uniform = false
                lag = 0
                continue
            }
            if said >= Verdict.firstSpecial && said < Burst.allConsumed {
                // forwardAll dropped the whole group (its port is unbound).
                context.pool.free(members, count: g)
                stats.countDrop(DropReason(rawValue: UInt8(truncatingIfNeeded: said)) ?? .blockSpecific, UInt64(g))
                n = r
                uniform = false
                lag = 0
                continue
            }
            let priorMax = uniform ? baseMax : groupMax
            let priorLag = uniform ? lag : 0
            if said &- 1 < Verdict.firstSpecial &- 1 && priorMax &+ priorLag &+ 1 < Engine.hopLimitHops {
                // forwardAll sent the whole group to `said`.
                if r == 0 {
                    if !uniform { work.update(from: members, count: g) }
                    n = g
                    uniform = true
                    baseMax = priorMax
                    lag = priorLag &+ 1
                    lagSource = target
                    continue
                }
                // It joins packets headed elsewhere: settle its history.
                catchUp(members, count: g, lag: 1, source: target)
                (work + r).update(from: members, count: g)
                n = r &+ g
                uniform = false
                continue
            }
            // Packet by packet.
            if priorLag != 0 { catchUp(members, count: g, lag: priorLag, source: lagSource) }
            lag = 0
            var next = r == 0
            var nextMax: UInt8 = 0
            let first = r
            var firstNext: UInt32 = 0
            var j = 0
            while j < g {
                let h = members[j]
                let m = metas + Int(h)
                let v = m.pointee.next
                if v &- 1 < Verdict.firstSpecial &- 1 {
                    let hops = m.pointee.hops &+ 1
                    if hops >= Engine.hopLimitHops {
                        drop(h, .hopLimit)
                    } else {
                        m.pointee.hops = hops
                        m.pointee.source = target
                        nextMax = Swift.max(nextMax, hops)
                        if r == first { firstNext = v } else if v != firstNext { next = false }
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
            n = r
            uniform = next
            baseMax = nextMax
        }
    }

    /// Pays `lag` hops from `source` to `handles[0..<count]`.
    @inline(__always)
    func catchUp(_ handles: UnsafeMutablePointer<PacketHandle>, count: Int, lag: UInt8, source: UInt32) {
        let metas = context.pool.metas
        var i = 0
        while i < count {
            let m = metas + Int(handles[i])
            m.pointee.hops &+= lag
            m.pointee.source = source
            i &+= 1
        }
    }

    @inline(__always)
    func drop(_ h: PacketHandle, _ reason: DropReason) {
        context.pool.free(h)
        stats.countDrop(reason, 1)
    }
}
