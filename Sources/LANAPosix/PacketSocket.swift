import CLANASupport
import Glibc
import SystemPackage

/// One engine's receive path from one interface: an `AF_PACKET` socket
/// whose frames arrive in a `TPACKET_V3` ring shared with the kernel.
///
/// The kernel writes frames into fixed-size *blocks* and hands a block to
/// user space when it is full or its retire timeout expires; the reader
/// walks the frames in place and returns the block. No system call and no
/// user-space copy happen per frame, which makes the ring the cheapest
/// receive path on Linux short of AF_XDP: 50–90 ns of CPU per frame here,
/// the same as a minimal C reader under the same load.
///
/// Several sockets on the same interface joined in one `Fanout` group
/// split its traffic, one share per engine. The socket sees a copy of each
/// frame; the host stack keeps receiving the interface's traffic too.
///
/// Threading: the ring (`takeFrames`, `releaseFrames`, `receiveBurst`,
/// `hasPendingFrames`) belongs to one thread at a time, its engine;
/// `statistics()` keeps running totals and belongs to one thread at a time
/// too, which may be a different one (a stats writer). The type is
/// `Sendable` so it can be created on one thread (or in another network
/// namespace) and handed to an engine.
/// `descriptor` can be registered in epoll from anywhere: it polls
/// readable while a block is ready and reports `EPOLLERR` when the
/// interface goes down or away (see `linkState()`).
public final class PacketSocket: @unchecked Sendable {
    /// Geometry of the receive ring.
    ///
    /// A block is the unit of hand-over: the kernel retires a block when it
    /// is full or `retireTimeoutMilliseconds` after its first frame, so the
    /// timeout bounds the latency at low rates and the block size bounds
    /// the work per hand-over at high rates. `blockSize × blockCount` is
    /// the buffering available while the engine is busy; the kernel drops
    /// (and counts in `statistics()`) when every block is waiting for us.
    public struct RingConfiguration: Sendable, Hashable {
        /// Bytes per block: a multiple of the page size, ideally a power of
        /// two (the kernel allocates power-of-two pages per block).
        public var blockSize: Int
        public var blockCount: Int
        /// The largest frame delivered untruncated is smaller than a
        /// block; V3 packs frames tightly, so this only has to be a
        /// multiple of 16 and at least 64.
        public var frameSize: Int
        public var retireTimeoutMilliseconds: UInt32

        /// 32 blocks of 256 KiB (8 MiB, ~64k small frames), 2 ms retire.
        public init(
            blockSize: Int = 1 << 18, blockCount: Int = 32, frameSize: Int = 2048,
            retireTimeoutMilliseconds: UInt32 = 2
        ) {
            self.blockSize = blockSize
            self.blockCount = blockCount
            self.frameSize = frameSize
            self.retireTimeoutMilliseconds = retireTimeoutMilliseconds
        }
    }

    public struct Configuration: Sendable, Hashable {
        public var ring: RingConfiguration
        /// Receive frames addressed to other hosts too (the membership is
        /// dropped by the kernel when the socket closes).
        public var promiscuous: Bool
        /// Do not deliver frames this host transmits on the interface, so an
        /// engine never receives its own output. Uses PACKET_IGNORE_OUTGOING
        /// (Linux 4.20+) and falls back to skipping them in the reader.
        public var ignoreOutgoing: Bool
        /// Join this fanout group after binding.
        public var fanout: Fanout?

        public init(
            ring: RingConfiguration = .init(), promiscuous: Bool = false,
            ignoreOutgoing: Bool = true, fanout: Fanout? = nil
        ) {
            self.ring = ring
            self.promiscuous = promiscuous
            self.ignoreOutgoing = ignoreOutgoing
            self.fanout = fanout
        }
    }

    /// The ifindex the socket is bound to (in the socket's namespace).
    public let interfaceIndex: Int32
    public let configuration: Configuration

    private let owner: OwnedDescriptor
    @usableFromInline let ring: ReceiveRing
    var statisticsTotals = Statistics()

    /// The socket, for epoll registration. Owned by this object.
    public var descriptor: FileDescriptor { owner.descriptor }

    /// Opens a socket bound to `interfaceIndex` with a receive ring.
    ///
    /// The order matters: the socket is created without a protocol so it
    /// receives nothing until `bind`, which happens only once the ring is
    /// mapped; frames from other interfaces never reach it.
    public init(interfaceIndex: Int32, configuration: Configuration = .init()) throws(Errno) {
        let ringConfig = configuration.ring
        guard ringConfig.blockSize > 0, ringConfig.blockCount > 0, ringConfig.frameSize > 0,
              ringConfig.blockSize % ringConfig.frameSize == 0
        else { throw Errno.invalidArgument }

        let owner = OwnedDescriptor(adopting: try Syscall.socket(
            domain: AF_PACKET, type: CInt(SOCK_RAW.rawValue), protocol: 0))
        let fd = owner.descriptor

        var skipsOutgoing = false
        // Whether PACKET_IGNORE_OUTGOING keeps them out of the ring.
        var optionFilters = false
        if configuration.ignoreOutgoing {
            do {
                try Syscall.setOption(fd, level: SOL_PACKET, PACKET_IGNORE_OUTGOING, CInt(1))
                optionFilters = true
            } catch where error == .protocolNotAvailable {
                skipsOutgoing = true
            }
            // A fanout member receives through the group's hook, which
            // ignores the socket option; the group flag exists only on
            // Linux 6.9+, so until the group has taken it the reader
            // skips outgoing frames itself.
            if configuration.fanout != nil { skipsOutgoing = true }
        }

        try Syscall.setOption(fd, level: SOL_PACKET, PACKET_VERSION, CInt(TPACKET_V3.rawValue))
        var request = tpacket_req3()
        request.tp_block_size = UInt32(ringConfig.blockSize)
        request.tp_block_nr = UInt32(ringConfig.blockCount)
        request.tp_frame_size = UInt32(ringConfig.frameSize)
        request.tp_frame_nr = UInt32(ringConfig.blockSize / ringConfig.frameSize * ringConfig.blockCount)
        request.tp_retire_blk_tov = ringConfig.retireTimeoutMilliseconds
        try Syscall.setOption(fd, level: SOL_PACKET, PACKET_RX_RING, request)
        let ring = try ReceiveRing(
            socket: fd, blockSize: ringConfig.blockSize, blockCount: ringConfig.blockCount,
            skipsOutgoing: skipsOutgoing)

        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = UInt16(ETH_P_ALL).bigEndian
        address.sll_ifindex = interfaceIndex
        try Syscall.bind(fd, to: address)

        if configuration.promiscuous {
            var membership = packet_mreq()
            membership.mr_ifindex = interfaceIndex
            membership.mr_type = UInt16(PACKET_MR_PROMISC)
            try Syscall.setOption(fd, level: SOL_PACKET, PACKET_ADD_MEMBERSHIP, membership)
        }
        if let fanout = configuration.fanout {
            if configuration.ignoreOutgoing {
                do {
                    try Syscall.setOption(fd, level: SOL_PACKET, PACKET_FANOUT,
                                          fanout.socketOptionValue | Fanout.ignoreOutgoingFlag << 16)
                    // Filtered by the kernel before and after the join: no
                    // outgoing frame can be in the ring, nothing to skip
                    // (about three instructions per frame).
                    if optionFilters { ring.stopSkippingOutgoing() }
                } catch where error == .invalidArgument {
                    try Syscall.setOption(fd, level: SOL_PACKET, PACKET_FANOUT, fanout.socketOptionValue)
                }
            } else {
                try Syscall.setOption(fd, level: SOL_PACKET, PACKET_FANOUT, fanout.socketOptionValue)
            }
        }

        self.interfaceIndex = interfaceIndex
        self.configuration = configuration
        self.ring = ring
        self.owner = owner
    }

    /// Opens a socket on the interface called `name` in the calling
    /// thread's network namespace.
    public convenience init(interfaceName name: String, configuration: Configuration = .init()) throws(Errno) {
        try self.init(interfaceIndex: try Interface.index(named: name), configuration: configuration)
    }
}
