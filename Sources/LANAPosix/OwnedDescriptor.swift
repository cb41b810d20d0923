import SystemPackage

/// Sole ownership of an open file descriptor.
///
/// `SystemPackage.FileDescriptor` is a plain handle: copying it is free and
/// nothing stops two copies from closing the same number. LANAPosix keeps
/// one `OwnedDescriptor` per kernel object inside the type that models it
/// (a packet socket, an epoll instance, ...), so the descriptor is closed
/// exactly once, when that owner goes away, and everyone else only ever
/// sees a borrowed `FileDescriptor` (for example to register it in epoll).
public struct OwnedDescriptor: ~Copyable {
    /// The descriptor, valid for as long as this owner is alive.
    public let descriptor: FileDescriptor

    /// Takes over `descriptor`; the caller must not close it.
    public init(adopting descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    /// Gives the descriptor up without closing it.
    public consuming func release() -> FileDescriptor {
        let descriptor = self.descriptor
        discard self
        return descriptor
    }

    deinit {
        Syscall.close(descriptor)
    }
}
