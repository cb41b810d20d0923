import CLANASupport
import Glibc
import SystemPackage

extension PacketSocket {
    /// What the kernel counted for this socket's ring since it was opened.
    public struct Statistics: Sendable, Hashable {
        /// Frames the kernel tried to put in the ring (delivered + dropped).
        public var packets: UInt64 = 0
        /// Frames dropped because every block was still held by user space
        /// (or the socket's filter/memory limits refused them).
        public var drops: UInt64 = 0
        /// Times the ring froze: all blocks were in user space.
        public var freezes: UInt64 = 0

        /// Frames that made it into the ring.
        public var delivered: UInt64 { packets &- drops }

        public init() {}
    }

    /// Cumulative ring statistics.
    ///
    /// PACKET_STATISTICS resets the kernel's counters on every read, so the
    /// socket keeps running totals: call it from one thread at a time (the
    /// engine or a stats writer, not both), or counts would race.
    public func statistics() throws(Errno) -> Statistics {
        let delta = try Syscall.option(
            descriptor, level: SOL_PACKET, PACKET_STATISTICS, initial: tpacket_stats_v3())
        // The kernel already includes drops in tp_packets for TPACKET_V3.
        statisticsTotals.packets &+= UInt64(delta.tp_packets)
        statisticsTotals.drops &+= UInt64(delta.tp_drops)
        statisticsTotals.freezes &+= UInt64(delta.tp_freeze_q_cnt)
        return statisticsTotals
    }
}
