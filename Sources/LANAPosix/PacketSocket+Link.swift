import Glibc
import SystemPackage

extension PacketSocket {
    /// Takes the socket's pending error (SO_ERROR), clearing it.
    ///
    /// A packet socket gets ENETDOWN when its interface goes down *or* is
    /// deleted; while the error is pending, epoll keeps reporting EPOLLERR
    /// (level-triggered), so an engine that sees EPOLLERR calls this once
    /// and then `linkState()` to learn which of the two happened.
    public func takePendingError() throws(Errno) -> Errno? {
        let value = try Syscall.option(descriptor, level: SOL_SOCKET, SO_ERROR, initial: CInt(0))
        return value == 0 ? nil : Errno(rawValue: value)
    }

    /// The state of the bound interface, seen from the socket's own network
    /// namespace (which need not be the calling thread's).
    ///
    /// `.down`: the socket resumes receiving by itself when the interface
    /// comes back up. `.gone`: the interface was deleted or moved to
    /// another namespace; this socket will never receive again and should
    /// be closed.
    public func linkState() -> Interface.LinkState {
        Interface.linkState(index: interfaceIndex, via: descriptor)
    }

    /// The bound interface as seen from the socket's namespace.
    public func interface() throws(Errno) -> Interface {
        try Interface(index: interfaceIndex, via: descriptor)
    }
}
