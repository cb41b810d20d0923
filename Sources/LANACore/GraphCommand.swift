/// One change to the graph, as `fbctl` names it (docs/design.md §3).
///
/// The registry's half of the command model: `LANAControl`'s `Command`
/// carries these as `.graph(_:)`, its codec and configuration-file parser
/// produce them, and ``Registry/perform(_:)`` and batches consume them. A
/// new graph operation is a new case here; the compiler then names every
/// switch that must handle it (the registry, the codec, the parser).
public enum GraphCommand: Sendable, Hashable {
    /// `fbctl add <name> <type>`.
    case add(name: String, type: String)
    /// `fbctl rm <name>`.
    case remove(name: String)
    /// `fbctl set <name> <key>=<value>`.
    case set(name: String, option: String)
    /// `fbctl bind <upper> <lower> [<port>]`: `port` is `up.<x>` of
    /// `lower` or `down.<x>` of `upper`.
    case bind(upper: String, lower: String, port: String?)
    /// `fbctl unbind <upper> <lower>`.
    case unbind(upper: String, lower: String)
    /// `fbctl replace <old> <new>`, or `replace-drop` with `dropState`.
    case replace(old: String, new: String, dropState: Bool)
    /// `fbctl subscribe <publisher> <subscriber>`.
    case subscribe(publisher: String, subscriber: String)
    /// `fbctl unsubscribe <publisher> <subscriber>`.
    case unsubscribe(publisher: String, subscriber: String)
}

extension RegistryState {
    mutating func perform(_ command: GraphCommand, fx: inout RegistryEffects) throws(RegistryError) {
        switch command {
        case let .add(name, type): _ = try add(name: name, typeName: type, fx: &fx)
        case let .remove(name): try remove(name: name, fx: &fx)
        case let .set(name, option): try set(name: name, option: option, fx: &fx)
        case let .bind(upper, lower, port): try bind(upper, lower, port: port, fx: &fx)
        case let .unbind(upper, lower): try unbind(upper, lower, fx: &fx)
        case let .replace(old, new, drop): try replace(old, with: new, dropState: drop, fx: &fx)
        case let .subscribe(publisher, subscriber): try subscribe(publisher, subscriber, fx: &fx)
        case let .unsubscribe(publisher, subscriber): try unsubscribe(publisher, subscriber, fx: &fx)
        }
    }
}
