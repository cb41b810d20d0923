import CLANASupport
import Glibc
import SystemPackage

extension PacketSocket {
    /// Membership in a fanout group: sockets on the same interface sharing
    /// a group id split its frames between them instead of each getting a
    /// copy, which is how several engines divide one interface.
    ///
    /// Every member of a group must use the same mode and flags; the first
    /// socket to join fixes them. Groups are per network namespace, and
    /// the id is the caller's choice (e.g. derived from the ifindex) so that
    /// unrelated programs on the host do not collide.
    public struct Fanout: Sendable, Hashable {
        public enum Mode: Sendable, Hashable {
            /// By flow hash (addresses and ports): a flow stays on one
            /// socket, keeping its packets in order.
            case hash
            /// Round robin.
            case loadBalance
            /// By the CPU that received the frame in the kernel.
            case cpu
            /// By random choice.
            case random
            /// Fill one socket, move to the next when its ring is full.
            case rollover
            /// By the NIC's receive queue.
            case queueMapping

            var kernelValue: Int32 {
                switch self {
                case .hash: PACKET_FANOUT_HASH
                case .loadBalance: PACKET_FANOUT_LB
                case .cpu: PACKET_FANOUT_CPU
                case .random: PACKET_FANOUT_RND
                case .rollover: PACKET_FANOUT_ROLLOVER
                case .queueMapping: PACKET_FANOUT_QM
                }
            }
        }

        public var group: UInt16
        public var mode: Mode
        /// Reassemble IP fragments before hashing so all fragments of a
        /// datagram land on the same socket (hash mode).
        public var defragment: Bool
        /// When the chosen socket's ring is full, try the others instead of
        /// dropping.
        public var rolloverWhenFull: Bool

        public init(group: UInt16, mode: Mode = .hash, defragment: Bool = false, rolloverWhenFull: Bool = false) {
            self.group = group
            self.mode = mode
            self.defragment = defragment
            self.rolloverWhenFull = rolloverWhenFull
        }

        /// PACKET_FANOUT_FLAG_IGNORE_OUTGOING (Linux 6.9+, newer than the
        /// system headers): the group's hook skips frames this host sends.
        static let ignoreOutgoingFlag: CInt = 0x4000

        /// PACKET_FANOUT's argument: the id in the low 16 bits, mode and
        /// flags in the high 16.
        var socketOptionValue: CInt {
            var value = Int32(group) | mode.kernelValue << 16
            if defragment { value |= PACKET_FANOUT_FLAG_DEFRAG << 16 }
            if rolloverWhenFull { value |= PACKET_FANOUT_FLAG_ROLLOVER << 16 }
            return value
        }
    }

    /// Joins a fanout group now (the configuration's `fanout` does this at
    /// creation). A socket can be in one group only; EALREADY otherwise.
    public func join(_ fanout: Fanout) throws(Errno) {
        try Syscall.setOption(descriptor, level: SOL_PACKET, PACKET_FANOUT, fanout.socketOptionValue)
    }
}
