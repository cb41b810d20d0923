/// What the daemon's state files show of the registry, rendered in one
/// pass under the registry lock.
///
/// The control thread renders this after every operation, before it
/// replies, so it sits on the control channel's latency path: it writes
/// bytes directly instead of going through ``BlockInfo`` (whose options,
/// status and detail lines `fblocks` does not need).
public struct RegistryStateText: Sendable {
    /// The `fblocks` file: `<name> <type> <idp> <refs> [<subscribed idps…>]`
    /// per block, ascending IDP.
    public var fblocks: [UInt8] = []
    /// `(name, status)` of every block that has a status file.
    public var statuses: [(name: String, text: String)] = []
}

extension Registry {
    /// The `fblocks` text and the status files, consistent with each other.
    public func stateText() -> RegistryStateText {
        withLockedState { s in
            var text = RegistryStateText()
            text.fblocks.reserveCapacity(48 * s.nodes.count)
            let refs = s.referenceCounts()
            // A node's index in `nodes` is its IDP.
            for (i, node) in s.nodes.enumerated() {
                guard let n = node else { continue }
                let idp = IDP(rawValue: UInt32(i))
                text.fblocks.append(contentsOf: n.name.utf8)
                text.fblocks.append(UInt8(ascii: " "))
                text.fblocks.append(contentsOf: n.type.name.utf8)
                text.fblocks.append(UInt8(ascii: " "))
                text.fblocks.appendDecimal(UInt64(idp.rawValue))
                text.fblocks.append(UInt8(ascii: " "))
                text.fblocks.appendDecimal(UInt64(1 + refs[i]))
                text.fblocks.append(contentsOf: " [".utf8)
                for (k, sub) in n.subscribers.enumerated() {
                    if k > 0 { text.fblocks.append(UInt8(ascii: " ")) }
                    text.fblocks.appendDecimal(UInt64(sub.idp.rawValue))
                }
                text.fblocks.append(contentsOf: "]\n".utf8)
                if let status = n.block.statusText() { text.statuses.append((n.name, status)) }
            }
            return text
        }
    }
}

extension RegistryState {
    /// Per IDP, how many ports of other blocks point at it. One pass, so
    /// listing stays linear in the number of blocks.
    func referenceCounts() -> [Int] {
        var references = [Int](repeating: 0, count: nodes.count)
        func count(_ idp: IDP) {
            let i = Int(idp.rawValue)
            if !idp.isNone && references.indices.contains(i) { references[i] += 1 }
        }
        for case let o? in nodes {
            let p = o.ports
            count(p.ingress)
            count(p.egress)
            count(p.ingressSecondary)
            count(p.egressSecondary)
        }
        return references
    }
}

extension [UInt8] {
    /// Appends `value` in decimal ASCII without building a `String`.
    mutating func appendDecimal(_ value: UInt64) {
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)  // 32 bytes, enough for 20 digits
        Swift.withUnsafeMutableBytes(of: &digits) { buf in
            var v = value
            var at = buf.count
            repeat {
                at -= 1
                buf[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                v /= 10
            } while v != 0
            append(contentsOf: buf[at...])
        }
    }
}
