/// A block as `fbctl list` / `show` and the state files see it.
public struct BlockInfo: Sendable, Equatable {
    public let name: String
    public let type: String
    public let idp: IDP
    /// Bound ports by name, in display order.
    public let ports: BoundPorts
    /// Every port name blocks of this type have (families as a pattern).
    public let portNames: [String]
    /// Blocks bound to this one (ports of others pointing here), plus one for
    /// the registry itself.
    public let refs: Int
    /// IDPs that receive this block's events, newest first.
    public let subscribers: [IDP]
    public let options: [String]
    /// Keys the block type accepts, with help.
    public let optionHelp: [BlockType.Option]
    public let status: String?
    public let details: [String]
}
