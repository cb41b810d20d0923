// Invariants (unsafe code):
// - `base` points at a live shared mapping of exactly `length` bytes from
//   `init` until `deinit`, which unmaps it; nothing else unmaps it.
// - The owner of a `MappedRegion` must outlive every pointer derived from
//   `base` (frames handed to callers are valid only until their blocks
//   are released, see ReceiveRing.swift).

import SystemPackage

/// A memory-mapped packet ring: memory the kernel and this process share.
///
/// Owned like a descriptor so the mapping disappears exactly once, together
/// with the socket type that holds it.
internal struct MappedRegion: ~Copyable {
    let base: UnsafeMutableRawPointer
    let length: Int

    /// Maps the ring configured on `socket`.
    init(socket: FileDescriptor, length: Int) throws(Errno) {
        self.base = try Syscall.mapShared(socket, length: length)
        self.length = length
    }

    deinit {
        Syscall.unmap(base, length: length)
    }
}
