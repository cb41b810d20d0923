/// What the daemon's state files show of the registry, rendered in one
/// pass under the registry lock.
///
/// The control thread renders this after every operation, before it
/// replies, so it sits on the control channel's latency path: it writes
/// bytes directly instead of going through ``BlockInfo`` (whose options,
/// status and detail lines `fblocks` does not need).
public struct RegistryStateText: Sendable {
    /// The `fblocks` file: `<name> <type> <idp> <refs> [<subscribed idps…>]`
    /// per block, ascending IDP; `nil` when the caller already has this
    /// version's.
    public var fblocks: [UInt8]?
    /// `(name, status)` of every block that has a status file.
    public var statuses: [(name: String, text: String)] = []
    /// The registry's version this text shows: it changes with every
    /// committed change, and only then.
    public var version: UInt64 = 0
}

extension Registry {
    /// The `fblocks` text and the status files, consistent with each other.
    ///
    /// - Parameter knownVersion: The ``RegistryStateText/version`` whose
    ///   `fblocks` the caller already has: if nothing changed since, the
    ///   text is not rendered again (the stats thread, several times a
    ///   second, needs only the counters' status files).
    public func stateText(knownVersion: UInt64? = nil) -> RegistryStateText {
        withLockedState { s in
            var text = RegistryStateText()
            text.version = s.version
            let renderFblocks = knownVersion != s.version
            var fblocks: [UInt8] = []
            var refs: [Int] = []
            if renderFblocks {
                fblocks.reserveCapacity(48 * s.nodes.count)
                refs = s.referenceCounts()
            }
            // A node's index in `nodes` is its IDP.
            for (i, node) in s.nodes.enumerated() {
                guard let n = node else { continue }
                if renderFblocks {
                    BlockInfo.appendFblocksLine(to: &fblocks, name: n.name, type: n.type.name,
                                                idp: IDP(rawValue: UInt32(i)), refs: 1 + refs[i],
                                                subscribers: n.subscribers.lazy.map(\.idp))
                    fblocks.append(UInt8(ascii: "\n"))
                }
                if let status = n.block.statusText() ?? n.configuration?.statusText { text.statuses.append((n.name, status)) }
            }
            if renderFblocks { text.fblocks = fblocks }
            return text
        }
    }
}

extension BlockInfo {
    /// Appends one `fblocks` line (without its newline):
    /// `<name> <type> <idp> <refs> [<subscribed idps…>]`. The one place that
    /// format is written, for the state file and for ``fblocksLine``.
    static func appendFblocksLine(to out: inout [UInt8], name: String, type: String, idp: IDP, refs: Int,
                                  subscribers: some Sequence<IDP>) {
        out.append(contentsOf: name.utf8)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: type.utf8)
        out.append(UInt8(ascii: " "))
        out.appendDecimal(UInt64(idp.rawValue))
        out.append(UInt8(ascii: " "))
        out.appendDecimal(UInt64(refs))
        out.append(contentsOf: " [".utf8)
        var first = true
        for sub in subscribers {
            if !first { out.append(UInt8(ascii: " ")) }
            first = false
            out.appendDecimal(UInt64(sub.rawValue))
        }
        out.append(UInt8(ascii: "]"))
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
            for binding in o.ports.bindings { count(binding.idp) }
        }
        return references
    }
}

extension [UInt8] {
    /// Appends `value` in decimal ASCII without building a `String`: state
    /// files are rendered as bytes, several times a second while traffic
    /// flows, and string interpolation cost ten times as much.
    public mutating func appendDecimal(_ value: UInt64) {
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
