/// Something that happened to a block, delivered to its subscribers and to
/// `fbctl watch` (docs/design.md §7). Event handlers run on the control thread.
public struct BlockEvent: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case added, bound, unbound, replaced, optionChanged = "option", removed
        case subscribed, unsubscribed, hooked, unhooked
        /// Block-specific, e.g. arp's `resolved`.
        case custom
    }

    public let kind: Kind
    /// Name and IDP of the block the event is about.
    public let block: String
    public let idp: IDP
    /// Details: the other block of a bind, the option, ….
    public let detail: String

    public init(_ kind: Kind, block: String, idp: IDP, detail: String = "") {
        self.kind = kind; self.block = block; self.idp = idp; self.detail = detail
    }

    /// One line for `fbctl watch`: `<kind> <block> <idp> <detail>`.
    public var description: String {
        detail.isEmpty ? "\(kind.rawValue) \(block) \(idp)" : "\(kind.rawValue) \(block) \(idp) \(detail)"
    }
}
