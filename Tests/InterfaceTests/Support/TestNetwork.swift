import Foundation
import Glibc
import LANATestSupport
import XCTest

/// Two fresh network namespaces — `daemonNamespace`, where lanad runs and
/// hooks interfaces, and `peerNamespace`, where the test's generators and
/// receivers run — joined by veth pairs (``VethNamespaces``: IPv6 off, so
/// every frame on a link is one the test sent). `destroy()` deletes both
/// namespaces (and with them every veth); it is idempotent.
final class TestNetwork: @unchecked Sendable {
    let tag: String
    private let namespaces: VethNamespaces
    var daemonNamespace: String { namespaces.namespaceA }
    var peerNamespace: String { namespaces.namespaceB }
    var links: [VethLink] { namespaces.links.map { VethLink(inside: $0.a, peer: $0.b) } }

    struct VethLink {
        /// The end in the daemon's namespace (what lanad hooks).
        let inside: String
        /// The end in the peer namespace (where the test sends and listens).
        let peer: String
    }

    init() throws {
        tag = VethNamespaces.randomTag()
        namespaces = try VethNamespaces(namespaceA: "lanaif-\(tag)-d", namespaceB: "lanaif-\(tag)-p", loopbackUp: true)
    }

    /// Creates veth pair number `n` (names stay within IFNAMSIZ and are
    /// valid block names): `v<tag>i<n>` in the daemon's namespace, or
    /// `inside` (the namespace is the test's own, so any name is free),
    /// and `v<tag>p<n>` in the peer's, both up, carrier on.
    @discardableResult
    func addLink(inside: String? = nil) throws -> VethLink {
        let n = namespaces.links.count
        let link = try namespaces.addLink(a: inside ?? "v\(tag)i\(n)", b: "v\(tag)p\(n)")
        return VethLink(inside: link.a, peer: link.b)
    }

    func deleteLink(_ name: String) throws {
        try Shell.must("ip", "-n", daemonNamespace, "link", "del", name)
    }

    func ifindex(_ name: String) throws -> Int {
        let out = try Shell.must("ip", "-n", daemonNamespace, "-o", "link", "show", name)
        return Int(out.split(separator: ":").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? "") ?? -1
    }

    func destroy() { namespaces.destroy() }
}
