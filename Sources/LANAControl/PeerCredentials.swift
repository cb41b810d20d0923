#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a control connection, as the kernel reported
/// it when the peer connected (`SO_PEERCRED`, `SO_PEERGROUPS`).
///
/// The credentials are those of the connecting process at `connect(2)`
/// time, so a process cannot gain rights by changing its identity later.
public struct PeerCredentials: Hashable, Sendable {
    /// The peer's process id.
    public var processID: Int32
    /// The peer's effective user id.
    public var userID: UInt32
    /// The peer's effective group id.
    public var groupID: UInt32
    /// The peer's supplementary groups.
    public var supplementaryGroups: [UInt32]

    public init(processID: Int32, userID: UInt32, groupID: UInt32, supplementaryGroups: [UInt32] = []) {
        self.processID = processID
        self.userID = userID
        self.groupID = groupID
        self.supplementaryGroups = supplementaryGroups
    }

    /// Whether the peer has `group` as its primary or a supplementary group.
    public func isMember(of group: UInt32) -> Bool {
        groupID == group || supplementaryGroups.contains(group)
    }
}

/// Decides, once per connection, whether a peer may use the control channel.
///
/// A peer that is denied gets `EPERM` with the policy's reason for every
/// request, and none of its requests reaches the server's handler.
public struct PeerPolicy: Sendable {
    /// The verdict on one peer.
    public enum Decision: Hashable, Sendable {
        case allow
        /// Refuse, with a reason sent back as the extended-ack message.
        case deny(reason: String)
    }

    private let evaluate: @Sendable (PeerCredentials) -> Decision

    /// A policy from a closure, called on the control thread for each new
    /// connection.
    public init(_ evaluate: @escaping @Sendable (PeerCredentials) -> Decision) {
        self.evaluate = evaluate
    }

    /// The verdict on `peer`.
    public func decide(_ peer: PeerCredentials) -> Decision {
        evaluate(peer)
    }

    /// The specification's rule: uid 0, or a member of the group `group` if
    /// that group exists — and the server's own uid `owner`, since a daemon
    /// run as an unprivileged user with the capabilities it needs is
    /// driven by that user. The group is looked up per connection, so
    /// creating it takes effect without restarting the daemon.
    public static func rootOrGroup(_ group: String = "lana", owner: UInt32 = UInt32(geteuid())) -> PeerPolicy {
        PeerPolicy { peer in
            if peer.userID == 0 || peer.userID == owner { return .allow }
            let gid = SystemGroups.groupID(named: group)
            if let gid, peer.isMember(of: gid) { return .allow }
            if owner != 0 {
                return .deny(reason: "permission denied: uid \(peer.userID) is not root, not lanad's own uid (\(owner)) and not a member of group \(group)\(gid == nil ? " (no such group)" : "")")
            }
            guard gid != nil else {
                return .deny(reason: "permission denied: uid \(peer.userID) is not root (group \(group) does not exist)")
            }
            return .deny(reason: "permission denied: uid \(peer.userID) is neither root nor a member of group \(group)")
        }
    }

    /// Admits everyone; for tests and private sockets.
    public static var allowAll: PeerPolicy { PeerPolicy { _ in .allow } }
}
