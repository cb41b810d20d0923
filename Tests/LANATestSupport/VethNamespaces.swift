import Foundation
import Glibc

/// Two fresh network namespaces joined by veth pairs, the network every
/// test that sends real frames runs on. IPv6 is disabled in both, and on
/// every veth end, before any link comes up, so the kernel itself sends
/// nothing: every frame on a link is one the test sent. Both ends live
/// outside the test's own namespace, so nothing on the host sees or
/// disturbs the traffic. `destroy()` (or deinit) deletes both namespaces,
/// and with them every veth; it is idempotent.
public final class VethNamespaces: @unchecked Sendable {
    public let namespaceA: String
    public let namespaceB: String
    public private(set) var links: [Link] = []
    private var destroyed = false

    /// One veth pair: end `a` in namespace A, end `b` in namespace B.
    public struct Link: Sendable {
        public let a: String
        public let b: String
    }

    /// Six random hex digits, for names that do not collide with another
    /// run's (and keep interface names within IFNAMSIZ).
    public static func randomTag() -> String {
        String(format: "%06x", UInt32.random(in: 0..<0x100_0000))
    }

    /// Creates both namespaces; with `loopbackUp`, `lo` is up in each.
    public init(namespaceA: String, namespaceB: String, loopbackUp: Bool = false) throws {
        self.namespaceA = namespaceA
        self.namespaceB = namespaceB
        do {
            for namespace in [namespaceA, namespaceB] {
                try Self.ip("netns", "add", namespace)
                try Self.ip("netns", "exec", namespace, "sysctl", "-qw",
                            "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
                if loopbackUp { try Self.ip("-n", namespace, "link", "set", "lo", "up") }
            }
        } catch {
            destroy()
            throw error
        }
    }

    /// Creates the veth pair `a` (in A) – `b` (in B), optionally with the
    /// given MAC addresses, brings both ends up and waits for the carrier,
    /// so that nothing sent right away is lost.
    @discardableResult
    public func addLink(a: String, b: String, macA: String? = nil, macB: String? = nil) throws -> Link {
        // Created directly inside the namespaces: nothing appears in the
        // test's own namespace, not even for a moment.
        try Self.ip(["link", "add", a, "netns", namespaceA] + (macA.map { ["address", $0] } ?? [])
            + ["type", "veth", "peer", "name", b, "netns", namespaceB] + (macB.map { ["address", $0] } ?? []))
        for (namespace, interface) in [(namespaceA, a), (namespaceB, b)] {
            try Self.ip("netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.\(interface).disable_ipv6=1")
            try Self.ip("-n", namespace, "link", "set", interface, "up")
        }
        let up = try waitUntil(within: 5) {
            try Self.ip("-n", namespaceA, "-o", "link", "show", a).contains("LOWER_UP")
        }
        guard up else { throw VethNamespacesError(description: "veth \(a) in \(namespaceA) did not come up") }
        let link = Link(a: a, b: b)
        links.append(link)
        return link
    }

    /// Deletes both namespaces (and with them every veth). Idempotent.
    public func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for namespace in [namespaceA, namespaceB] {
            _ = try? ChildProcess.run(["/usr/bin/env", "ip", "netns", "del", namespace], environment: Self.environment)
        }
    }

    deinit { destroy() }

    private static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"]

    /// `ip arguments…`, which must succeed; returns its output.
    @discardableResult
    private static func ip(_ arguments: String...) throws -> String { try ip(arguments) }

    @discardableResult
    private static func ip(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(["/usr/bin/env", "ip"] + arguments, environment: environment)
        guard result.status == 0, !result.timedOut else {
            throw VethNamespacesError(description: "ip \(arguments.joined(separator: " ")) failed (status \(result.status)"
                + "\(result.timedOut ? ", killed after 20 s" : "")): \(result.stderr)\(result.stdout)")
        }
        return result.stdout
    }
}

/// A namespace or veth that could not be set up.
public struct VethNamespacesError: Error, CustomStringConvertible {
    public let description: String
}
