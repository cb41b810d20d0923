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
        var direction = Burst.mixedDirections
        var sameEntry = n == 0
        if fromSources, n < Engine.burstSize, index < table.sourceRanges.count {
            let first = n
            let metas = ctx.pool.metas
            let report = ctx.report
            var bytes: UInt64 = 0
            // Directions seen: 1 ingress, 2 egress, 3 both.
            var seen: UInt8 = 0
            // The sources take turns at being asked first: a source that
            // always has a full burst waiting must not starve the others.
            // Each is asked at most once per burst (a zero-copy source's
            // frames stay valid until it is asked again), and all of them
            // whenever the burst stays empty (so an idle engine has given
            // every source its chance to release before it sleeps).
            let firstSource = table.sourceStart[index]
            let sourceCount = table.sourceStart[index + 1] &- firstSource
            let rotation = sourceRotation.pointee
            var turn = rotation < sourceCount ? rotation : 0
            sourceRotation.pointee = turn &+ 1 < sourceCount ? turn &+ 1 : 0
            var asked = 0
            while asked < sourceCount, n < Engine.burstSize {
                let i = firstSource &+ turn
                turn = turn &+ 1 == sourceCount ? 0 : turn &+ 1
                asked &+= 1
                let before = n
                report.pointee.valid = false
                let got = table.sources[i]._withUnsafeGuaranteedRef { source in
                    let got = source.receive(into: work + n, max: Engine.burstSize &- n, engine: ctx)
                    if got > 0 {
                        sameEntry = sameEntry && source.entersAtOneIDP
                            && metas[Int(work[before])].next == metas[Int(work[0])].next
                    }
                    return got
                }
                n &+= got
                if got > 0 {
                    if report.pointee.valid {
                        bytes &+= report.pointee.bytes
                        seen |= report.pointee.direction &+ 1
                    } else {
                        var j = before
                        while j < n {
                            let m = metas + Int(work[j])
                            bytes &+= UInt64(m.pointee.length)
                            seen |= m.pointee.direction.rawValue &+ 1
                            j &+= 1
                        }
                    }
                }
            }
            if n > first {
                direction = seen == 3 ? Burst.mixedDirections : seen &- 1
                stats.add(.received, UInt64(n &- first))
                stats.add(.receivedBytes, bytes)
            }
        }
        // A source may have released packets it held into the backlog
        // instead (a queue whose address got resolved): they are driven below.
        if n == 0 && ctx.backlog.count == 0 { return 0 }
        // A burst from one source usually enters at one IDP: then the first
        // round needs no partitioning either.
        if n > 0 {
            drive(count: n, table: table, uniform: sameEntry, direction: sameEntry ? direction : Burst.mixedDirections)
        }
        // Copies that blocks queued (tee) are driven under the same snapshot
        // before the next quiescent point, so a block removed in between can
        // never be the target of a queued packet. The graph is acyclic, so
        // this ends.
        while ctx.backlog.count > 0 {
            let m = ctx.backlog.pop(into: work, max: Engine.burstSize)
            drive(count: m, table: table, uniform: false, direction: Burst.mixedDirections)
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
    ///
    /// While uniform, the set may also share a `direction`: then blocks
    /// that `forwardAll` write only the summary, not each packet's `next`,
    /// and `target` carries the next IDP instead of the first packet.
    @inline(__always)
    func drive(count: Int, table: DispatchTable, uniform startsUniform: Bool, direction startDirection: UInt8) {
        let metas = context.pool.metas
        var n = count
        var uniform = startsUniform
        var direction = startDirection
        // The next IDP of a set moved on by a summary (its packets' `next`
        // may be stale), or 0: read it from the first packet. A uniform
        // start shares its entry IDP, so the chain loop takes it from the
        // first hop on.
        var known: UInt32 = startsUniform ? metas[Int(work[0])].next : 0
        var lag: UInt8 = 0
        var lagSource: UInt32 = 0
        // An upper bound of `hops` over `work` while uniform. A uniform start
        // is a burst fresh from sources: no hops yet.
        var baseMax: UInt8 = 0
        while n > 0 {
            // A chain: as long as each block forwards the whole set to one
            // next IDP, call the next one straight away, carrying only what
            // changes from hop to hop (this loop keeps few values live; the
            // full round below, with everything it must handle, cost ~100
            // instructions per hop, most of them spills). It stops before a
            // block the full round must prepare (unknown IDP, history to
            // pay, hop budget spent), or after a call whose verdict is
            // anything else, which the full round then takes as its own.
            let called = uniform && known != 0
                && runChain(count: n, table: table, direction: direction, known: &known, lag: &lag,
                            lagSource: &lagSource, hopBase: baseMax)
            let target = known != 0 ? known : metas[Int(work[0])].next
            known = 0
            var members = work
            var g = n
            var r = 0
            var groupMax: UInt8 = 0
            if !uniform {
                members = group
                (g, r, groupMax) = partition(count: n, target: target)
            }
            if !called {
                guard let entry = table.entry(target) else {
                    let reason: DropReason = target == 0 ? .noNextHop : .unknownIDP
                    for j in 0..<g { drop(members[j], reason) }
                    n = r
                    uniform = false
                    direction = Burst.mixedDirections
                    lag = 0
                    continue
                }
                if lag != 0 && entry.readsHistory {
                    catchUp(work, count: n, lag: lag, source: lagSource)
                    baseMax &+= lag
                    lag = 0
                }
                call(entry, at: target, members, count: g, direction: uniform ? direction : Burst.mixedDirections)
            }
            let said = summary.pointee
            if said.isAllConsumed {
                // consumeAll took the whole group out of the graph.
                n = r
                uniform = false
                direction = Burst.mixedDirections
                lag = 0
                continue
            }
            if said.isDrop {
                // forwardAll dropped (or ended) the whole group: its port is unbound.
                context.pool.free(members, count: g)
                stats.countDrop(said.dropReason, UInt64(g))
                n = r
                uniform = false
                direction = Burst.mixedDirections
                lag = 0
                continue
            }
            let priorMax = uniform ? baseMax : groupMax
            let priorLag = uniform ? lag : 0
            if said.isForward && priorMax &+ priorLag &+ 1 < Engine.hopLimitHops {
                // forwardAll sent the whole group to `said`.
                if r == 0 {
                    if !uniform {
                        work.update(from: members, count: g)
                        direction = Burst.mixedDirections
                    }
                    n = g
                    uniform = true
                    known = said.rawValue
                    baseMax = priorMax
                    lag = priorLag &+ 1
                    lagSource = target
                    continue
                }
                // It joins packets headed elsewhere: settle its history.
                // (Not uniform before, so its `next` fields were written.)
                catchUp(members, count: g, lag: 1, source: target)
                (work + r).update(from: members, count: g)
                n = r &+ g
                uniform = false
                direction = Burst.mixedDirections
                continue
            }
            // Packet by packet. A summary (a group at the hop limit) is
            // every packet's verdict, whether or not `next` was written.
            if priorLag != 0 { catchUp(members, count: g, lag: priorLag, source: lagSource) }
            lag = 0
            direction = Burst.mixedDirections
            var next = r == 0
            var nextMax: UInt8 = 0
            let first = r
            var firstNext: UInt32 = 0
            var j = 0
            while j < g {
                let h = members[j]
                let m = metas + Int(h)
                let v = said.isPerPacket ? m.pointee.next : said.rawValue
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

    /// The chain part of ``drive``: while the whole working set (`work`,
    /// uniform) goes from block to block, call the next one straight away,
    /// carrying only what changes from hop to hop. Stops before a block the
    /// full round must prepare (unknown IDP, history to pay, hop budget
    /// spent) and returns `false`; or after a call whose summary is not
    /// "all forwarded", returning `true` (the caller takes that summary as
    /// its round's).
    @inline(__always)
    func runChain(count n: Int, table: DispatchTable, direction: UInt8, known: inout UInt32, lag: inout UInt8,
                  lagSource: inout UInt32, hopBase: UInt8) -> Bool {
        while true {
            let next = known
            guard let entry = table.entry(next), lag == 0 || !entry.readsHistory,
                  hopBase &+ lag &+ 1 < Engine.hopLimitHops else { return false }
            call(entry, at: next, work, count: n, direction: direction)
            let said = summary.pointee
            if !said.isForward { return true }
            lag &+= 1
            lagSource = next
            known = said.rawValue
        }
    }

    /// The partition part of ``drive``: moves the packets of `work[0..<n]`
    /// headed for `target` into `group` and the others to the front of
    /// `work`. Returns the group's size, how many stay in `work`, and the
    /// group's largest hop count.
    @inline(__always)
    func partition(count n: Int, target: UInt32) -> (group: Int, rest: Int, maxHops: UInt8) {
        let metas = context.pool.metas
        var g = 0, r = 0
        var groupMax: UInt8 = 0
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
        return (g, r, groupMax)
    }

    /// Calls the block of `entry` (at `idp`) with `handles[0..<count]`.
    @inline(__always)
    func call(_ entry: DispatchEntry, at idp: UInt32, _ handles: UnsafeMutablePointer<PacketHandle>, count: Int,
              direction: UInt8) {
        let burst = Burst(handles: handles, count: count, engine: contextPointer, idp: idp, summary: summary,
                          direction: direction)
        let bctx = BlockContext(idp: IDP(idp), ports: entry.ports, configuration: entry.configuration,
                                engine: contextPointer)
        summary.pointee = .perPacket
        entry.block.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.process(burst, bctx) }
        stats.add(.blockCalls, UInt64(truncatingIfNeeded: count))
        #if LANA_INTERNAL_CHECKS
        checkSummary(burst)
        #endif
    }

    #if LANA_INTERNAL_CHECKS
    /// The summary contract (see ``BurstSummary``): with checks on,
    /// `forwardAll` writes every packet's verdict too, so a verdict set
    /// after it shows as a packet whose `next` differs from the summary.
    func checkSummary(_ burst: Burst) {
        let said = summary.pointee
        guard said.isForward || said.isDrop else { return }
        let metas = context.pool.metas
        for i in 0..<burst.count where metas[Int(burst.handles[i])].next != said.rawValue {
            preconditionFailure("""
                block at IDP \(burst.idp) set a verdict after Burst.forwardAll (packet \(i) of \(burst.count): \
                \(metas[Int(burst.handles[i])].next), summary \(said.rawValue)): forwardAll must be a block's last word
                """)
        }
    }
    #endif

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
