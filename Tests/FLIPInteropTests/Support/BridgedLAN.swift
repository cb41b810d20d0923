import Foundation
import Glibc
import LANATestSupport

/// One Ethernet segment of fresh network namespaces: a Linux bridge in a
/// namespace of its own and, per host, a namespace whose only link `lan0`
/// (a veth with the MAC the test chose) is plugged into it.
///
/// Like ``VethNamespaces``, IPv6 is off everywhere before any link comes
/// up, and the bridge snoops no multicast, so the kernels send nothing of
/// their own: every frame on the segment is one a test, a `lanad` or a
/// Linux host answering them sent.
/// Every host's MAC is a static entry of the bridge's forwarding table, so
/// a unicast frame reaches its addressee alone from the first frame on
/// (a learning bridge floods until it has seen the addressee send, and
/// the flooded copies would show up in the other hosts' counters).
/// `destroy()` (or deinit) deletes every namespace, and with them the
/// bridge and the veths; it is idempotent.
final class BridgedLAN: @unchecked Sendable {
    struct Host: Sendable {
        let name: String
        let namespace: String
        /// The host's end of its veth (what `lanad` hooks, tcpdump watches).
        let interface: String
        /// Lower-case, colon-separated, as `ip link` and `tcpdump` print it.
        let mac: String
        var macBytes: [UInt8] { mac.split(separator: ":").map { UInt8($0, radix: 16)! } }
    }

    let tag: String
    let switchNamespace: String
    private(set) var hosts: [String: Host] = [:]
    private var namespaces: [String] = []
    private var destroyed = false

    /// Creates the segment with one host per `(name, mac)`, every link up
    /// and forwarding.
    init(hosts specification: [(name: String, mac: String)]) throws {
        tag = VethNamespaces.randomTag()
        switchNamespace = "lanaflip-\(tag)-sw"
        do {
            try addNamespace(switchNamespace)
            // Without multicast snooping the bridge joins no group, so it
            // sends no IGMP report of its own.
            try Self.ip("-n", switchNamespace, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            try Self.sysctl(switchNamespace, "net.ipv6.conf.br0.disable_ipv6=1")
            try Self.ip("-n", switchNamespace, "link", "set", "br0", "up")
            for (index, (name, mac)) in specification.enumerated() {
                let host = Host(name: name, namespace: "lanaflip-\(tag)-\(name)", interface: "lan0", mac: mac.lowercased())
                let port = "port\(index)"
                try addNamespace(host.namespace)
                try Self.ip("link", "add", host.interface, "netns", host.namespace, "address", host.mac,
                            "type", "veth", "peer", "name", port, "netns", switchNamespace)
                try Self.sysctl(host.namespace, "net.ipv6.conf.\(host.interface).disable_ipv6=1")
                try Self.sysctl(switchNamespace, "net.ipv6.conf.\(port).disable_ipv6=1")
                try Self.ip("-n", switchNamespace, "link", "set", port, "master", "br0")
                try Self.ip("-n", switchNamespace, "link", "set", port, "up")
                try Self.ip("-n", host.namespace, "link", "set", host.interface, "up")
                try Self.bridge("-n", switchNamespace, "fdb", "add", host.mac, "dev", port, "master", "static")
                hosts[name] = host
            }
            // Carrier on every host link, every bridge port forwarding (the
            // bridge runs no spanning tree, so ports forward once up).
            let ready = try waitUntil(within: 5, interval: 0.01) {
                for (index, host) in specification.enumerated() {
                    guard let h = hosts[host.name],
                          try Self.ip("-n", h.namespace, "-o", "link", "show", h.interface).contains("LOWER_UP"),
                          try Self.ip("-n", switchNamespace, "-d", "-o", "link", "show", "port\(index)").contains("state forwarding")
                    else { return false }
                }
                return true
            }
            guard ready else { throw CommandFailure(description: "the links of \(switchNamespace) did not come up within 5 s") }
        } catch {
            destroy()
            throw error
        }
    }

    subscript(name: String) -> Host { hosts[name]! }

    /// `ip -n <host> arguments…`, which must succeed; returns its output.
    @discardableResult
    func ip(_ host: Host, _ arguments: String...) throws -> String {
        try Self.ip(["-n", host.namespace] + arguments)
    }

    /// Sets a sysctl in a host's namespace.
    func sysctl(_ host: Host, _ setting: String) throws { try Self.sysctl(host.namespace, setting) }

    /// Deletes every namespace (and with them the bridge and every veth).
    /// Idempotent.
    func destroy() {
        guard !destroyed else { return }
        destroyed = true
        for namespace in namespaces.reversed() {
            _ = try? ChildProcess.run(["/usr/bin/env", "ip", "netns", "del", namespace], environment: Self.environment)
        }
    }

    deinit { destroy() }

    private func addNamespace(_ namespace: String) throws {
        try Self.ip("netns", "add", namespace)
        namespaces.append(namespace)
        try Self.sysctl(namespace, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
    }

    private static let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"]

    private static func sysctl(_ namespace: String, _ settings: String...) throws {
        try run(["ip", "netns", "exec", namespace, "sysctl", "-qw"] + settings)
    }

    @discardableResult
    private static func ip(_ arguments: String...) throws -> String { try ip(arguments) }

    @discardableResult
    private static func ip(_ arguments: [String]) throws -> String { try run(["ip"] + arguments) }

    private static func bridge(_ arguments: String...) throws { try run(["bridge"] + arguments) }

    @discardableResult
    private static func run(_ arguments: [String]) throws -> String {
        let result = try ChildProcess.run(["/usr/bin/env"] + arguments, environment: environment)
        guard result.status == 0, !result.timedOut else {
            throw CommandFailure(description: "\(arguments.joined(separator: " ")) failed (status \(result.status)"
                + "\(result.timedOut ? ", killed after 20 s" : "")): \(result.stderr)\(result.stdout)")
        }
        return result.stdout
    }
}
