import Glibc
import SystemPackage

extension PacketTransmitter {
    /// Copies `frame` (starting at its Ethernet header) into the next free
    /// slot. Returns false, and counts why, when the frame is shorter than an
    /// Ethernet header or longer than `maximumFrameLength`, or when every
    /// slot is queued or still in flight.
    ///
    /// The frame leaves at the next `flush()`.
    @discardableResult
    public func enqueue(_ frame: UnsafeRawBufferPointer) -> Bool {
        // (Shorter than an Ethernet header: refused as ever, not padded.)
        if frame.count >= Self.minimumFrameLength || frame.count < 14 { return ring.enqueue(copying: frame) }
        // The link pads short frames, as an Ethernet card would: a Linux
        // bridge drops an ARP frame whose body is under 8 bytes.
        return ring.enqueue(length: Self.minimumFrameLength) { slot in
            slot.copyMemory(from: frame)
            let rest = UnsafeMutableRawBufferPointer(rebasing: slot[frame.count...])
            rest.initializeMemory(as: UInt8.self, repeating: 0)
        }
    }

    /// The shortest Ethernet frame without its FCS: shorter ones are padded
    /// with zeros.
    public static let minimumFrameLength = 60

    /// Reserves the next free slot for a frame of exactly `length` bytes and
    /// lets `fill` write it in place (valid only during the call), saving a
    /// staging copy for frames built on the fly. Returns false, counted,
    /// like `enqueue(_:)`.
    @discardableResult
    public func enqueue(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        ring.enqueue(length: length, fill)
    }

    /// Asks the kernel to transmit every queued frame: one `send`, however
    /// many frames. Returns how many frames were handed over (0, without a
    /// system call, when nothing is queued).
    ///
    /// It does not wait for the frames to leave. On failure the error is
    /// counted and thrown and the frames stay queued for the next flush;
    /// `indicatesLinkLoss` on the error says the interface is down or gone
    /// (`linkState()` tells which).
    @discardableResult
    public func flush() throws(Errno) -> Int {
        let count = ring.unflushed
        guard count > 0 else { return 0 }
        do {
            _ = try Syscall.send(descriptor, nil, flags: CInt(MSG_DONTWAIT))
        } catch {
            ring.recordSendError(error)
            throw error
        }
        ring.recordFlush(count)
        return count
    }

    /// Counters since the transmitter was opened.
    public var statistics: Statistics { ring.statistics }

    /// Frames enqueued but not yet flushed.
    public var unflushedCount: Int { ring.unflushed }

    /// Slots not yet available for new frames (queued or still in flight).
    /// Walks the whole ring: for draining at shutdown and for tests, not
    /// for the per-burst path.
    public func outstandingFrames() -> Int {
        ring.outstandingSlots()
    }
}
