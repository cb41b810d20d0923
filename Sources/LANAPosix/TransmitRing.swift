// The TPACKET_V2 transmit-ring writer: the only code that writes a
// transmit ring.
//
// Invariants (unsafe code):
// - The ring is `slotCount` slots of `slotSize` bytes at `region.base`,
//   mapped for the lifetime of this value; frame bytes start `dataOffset`
//   bytes into a slot and may run to the end of the slot.
// - A slot is ours to write only while its status is TP_STATUS_AVAILABLE
//   (read with acquire: the kernel is done with the previous frame). We
//   publish it with TP_STATUS_SEND_REQUEST (release, after the length and
//   bytes), after which it is the kernel's until it reads AVAILABLE again.
// - Slots are filled strictly in ring order starting at `head`, the order
//   the kernel consumes them in, so one index keeps both sides in step.
// - Slot memory is handed to a caller's closure only for the duration of
//   the call and only within the requested length, which `enqueue` has
//   checked against the slot.
// - `state` is allocated in `init` and freed in `deinit`, nowhere else.

import CLANASupport
import Glibc
import SystemPackage

/// Writer position and counters of a transmit ring.
struct TransmitState {
    var head = 0
    var unflushed = 0
    var statistics = PacketTransmitter.Statistics()
}

/// A mapped TPACKET_V2 transmit ring and the writer's position in it.
///
/// The state lives behind a pointer so `enqueue` pays no exclusivity
/// checks, which a `var` in the owning class would cost.
struct TransmitRing: ~Copyable {
    private let region: MappedRegion
    private let state: UnsafeMutablePointer<TransmitState>
    let slotSize: Int
    let slotCount: Int
    /// Longest frame accepted; at most `slotSize - dataOffset`.
    let maximumFrameLength: Int
    private let dataOffset: Int

    /// Maps the ring already configured (PACKET_TX_RING) on `socket`. Slots
    /// are contiguous: the caller configured whole blocks of them.
    init(socket: FileDescriptor, slotSize: Int, slotCount: Int, maximumFrameLength: Int) throws(Errno) {
        let dataOffset = lana_tp2_tx_data_offset()
        self.region = try MappedRegion(socket: socket, length: slotSize * slotCount)
        self.slotSize = slotSize
        self.slotCount = slotCount
        self.dataOffset = dataOffset
        self.maximumFrameLength = Swift.min(maximumFrameLength, slotSize - dataOffset)
        self.state = .allocate(capacity: 1)
        self.state.initialize(to: TransmitState())
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// See `PacketTransmitter.enqueue(length:_:)`.
    func enqueue(length: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
        guard length >= 14, length <= maximumFrameLength else {
            state.pointee.statistics.invalidLength &+= 1
            return false
        }
        let head = state.pointee.head
        let slot = region.base + head * slotSize
        guard lana_tp2_status_acquire(slot) == UInt32(TP_STATUS_AVAILABLE) else {
            state.pointee.statistics.ringFull &+= 1
            return false
        }
        fill(UnsafeMutableRawBufferPointer(start: slot + dataOffset, count: length))
        lana_tp2_submit(slot, UInt32(length))

        state.pointee.head = head + 1 == slotCount ? 0 : head + 1
        state.pointee.unflushed += 1
        state.pointee.statistics.queued &+= 1
        return true
    }

    func enqueue(copying frame: UnsafeRawBufferPointer) -> Bool {
        enqueue(length: frame.count) { slot in
            slot.copyMemory(from: frame)
        }
    }

    var unflushed: Int { state.pointee.unflushed }
    var statistics: PacketTransmitter.Statistics { state.pointee.statistics }

    /// `count` queued frames were handed to the kernel.
    func recordFlush(_ count: Int) {
        state.pointee.unflushed -= count
        state.pointee.statistics.submitted &+= UInt64(count)
        state.pointee.statistics.flushes &+= 1
    }

    /// A flush failed; the frames stay queued.
    func recordSendError(_ error: Errno) {
        state.pointee.statistics.sendErrors &+= 1
        state.pointee.statistics.lastError = error
    }

    /// Slots the kernel has not handed back (queued or in flight); walks
    /// the whole ring.
    func outstandingSlots() -> Int {
        var busy = 0
        for index in 0..<slotCount {
            let slot = region.base + index * slotSize
            if lana_tp2_status_acquire(slot) != UInt32(TP_STATUS_AVAILABLE) { busy += 1 }
        }
        return busy
    }
}
