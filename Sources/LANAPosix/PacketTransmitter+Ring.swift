// The TPACKET_V2 transmit-ring writer: the only code that writes the ring.
//
// Invariants (unsafe code):
// - The ring is `slotCount` slots of `frameSize` bytes at `ring.base`,
//   mapped for the lifetime of the transmitter; frame bytes start
//   `dataOffset` bytes into a slot.
// - A slot is ours to write only while its status is TP_STATUS_AVAILABLE
//   (read with acquire: the kernel is done with the previous frame). We
//   publish it with TP_STATUS_SEND_REQUEST (release, after the length and
//   bytes), after which it is the kernel's until it reads AVAILABLE again.
// - Slots are filled strictly in ring order starting at `head`, the order
//   the kernel consumes them in, so one index keeps both sides in step.
// - Slot memory is handed to a caller's closure only for the duration of
//   the call and only within the requested length.

import CLANASupport
import Glibc
import SystemPackage

/// Writer position and counters of a transmit ring.
struct TransmitState {
    let slotCount: Int
    var head = 0
    var unflushed = 0
    var statistics = PacketTransmitter.Statistics()

    init(slotCount: Int) {
        self.slotCount = slotCount
    }
}

extension PacketTransmitter {
    /// Copies `frame` (starting at its Ethernet header) into the next free
    /// slot. Returns false, and counts why, when the frame has an invalid
    /// length or every slot is queued or in flight.
    ///
    /// The frame leaves at the next `flush()`.
    @discardableResult
    public func enqueue(_ frame: UnsafeRawBufferPointer) -> Bool {
        enqueue(length: frame.count) { slot in
            slot.copyMemory(from: frame)
        }
    }

    /// Reserves the next free slot for a frame of exactly `length` bytes and
    /// lets `fill` write it in place, saving a staging copy for frames built
    /// on the fly. Returns false (counted) like `enqueue(_:)`.
    @discardableResult
    public func enqueue(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard length >= 14, length <= maximumFrameLength else {
            state.pointee.statistics.invalidLength &+= 1
            return false
        }
        let slot = ring.base + state.pointee.head * configuration.frameSize
        guard lana_tp2_status_acquire(slot) == UInt32(TP_STATUS_AVAILABLE) else {
            state.pointee.statistics.ringFull &+= 1
            return false
        }
        fill(UnsafeMutableRawBufferPointer(start: slot + dataOffset, count: length))
        lana_tp2_submit(slot, UInt32(length))

        let next = state.pointee.head + 1
        state.pointee.head = next == state.pointee.slotCount ? 0 : next
        state.pointee.unflushed += 1
        state.pointee.statistics.queued &+= 1
        return true
    }

    /// Asks the kernel to transmit every queued frame: one `send`, however
    /// many frames. Returns how many frames were handed over (0 without a
    /// system call when nothing is queued).
    ///
    /// It does not wait for the frames to leave. On failure the error is
    /// counted and thrown and the frames stay queued for the next flush;
    /// `indicatesLinkLoss` on the error says the interface is down or gone
    /// (`linkState()` tells which).
    @discardableResult
    public func flush() throws(Errno) -> Int {
        let count = state.pointee.unflushed
        guard count > 0 else { return 0 }
        do {
            _ = try Syscall.send(descriptor, nil, flags: CInt(MSG_DONTWAIT))
        } catch {
            state.pointee.statistics.sendErrors &+= 1
            state.pointee.statistics.lastError = error
            throw error
        }
        state.pointee.unflushed = 0
        state.pointee.statistics.submitted &+= UInt64(count)
        state.pointee.statistics.flushes &+= 1
        return count
    }

    /// Slots not yet available for new frames (queued or still in flight).
    /// Walks the whole ring: for draining at shutdown and for tests, not
    /// for the per-burst path.
    public func outstandingFrames() -> Int {
        var busy = 0
        for index in 0..<state.pointee.slotCount {
            let slot = ring.base + index * configuration.frameSize
            if lana_tp2_status_acquire(slot) != UInt32(TP_STATUS_AVAILABLE) { busy += 1 }
        }
        return busy
    }
}
