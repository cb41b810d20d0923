import LANABlocks
import LANACore
import LANAControl
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Answers control requests on the control thread: maps each to registry
/// operations and renders the reply's text and JSON.
final class RequestHandler {
    let registry: Registry
    let state: StateFiles
    var devices: Devices?

    init(registry: Registry, state: StateFiles) {
        self.registry = registry
        self.state = state
    }

    func handle(_ request: Command) -> ControlReply {
        let reply = answer(request)
        if reply.isSuccess && request.mayChangeState {
            refreshState()
        }
        return reply
    }

    /// The decoder checked the request completely (docs/design.md §3):
    /// every case carries exactly its arguments, so nothing is checked again.
    private func answer(_ request: Command) -> ControlReply {
        do throws(RegistryError) {
            switch request {
            case .graph(let command):
                if case .set(_, let option) = command { try Self.refuseExpression(option) }
                try registry.perform(command)
            case .list: return list()
            case .show(let name): return try show(name)
            case .hook(let ifname): try deviceSupport().hook(kind: EthernetDevice.kind.name, name: ifname)
            case .unhook(let ifname): try deviceSupport().unhook(kind: EthernetDevice.kind.name, name: ifname)
            case .addVirtualLink, .removeVirtualLink:
                throw RegistryError(Errno(rawValue: EOPNOTSUPP), "tagged virtual links are not supported by this lanad yet")
            case .watch: return .ok
            case .apply(let commands): return apply(commands)
            case .types: return types()
            }
            return .ok
        } catch {
            return .failure(error.errno, error.message)
        }
    }

    /// Refuses a tcpdump expression: libpcap's compiler takes minutes and
    /// gigabytes for some expressions and cannot be interrupted, so the
    /// client compiles it (bounded) and sends `filter64=`.
    static func refuseExpression(_ option: String) throws(RegistryError) {
        guard option.hasPrefix("filter=") else { return }
        throw RegistryError(Errno(rawValue: EINVAL),
            "lanad does not compile tcpdump expressions, so that none can stall it: send the program compiled by the client as filter64=<base64> <expression> (fbctl set and fbctl apply do)")
    }

    /// Tells the state writer that something changed (after every
    /// change); it refreshes the files within 200 ms.
    func refreshState() {
        state.changed(interfaceLines: devices?.stateLines ?? [])
    }

    private func deviceSupport() throws(RegistryError) -> Devices {
        guard let devices else {
            throw RegistryError(Errno(rawValue: EOPNOTSUPP), "interface hooking is not available in this lanad")
        }
        return devices
    }

    // MARK: apply

    /// Runs commands as one unit, in order: hooks are steps of the same
    /// batch as the graph commands, so a refused APPLY changes nothing — no
    /// block, no hook, no IDP, no event. A refusal names the command by its
    /// index; the client knows which line that was.
    func apply(_ commands: [BatchCommand]) -> ControlReply {
        var steps: [BatchStep] = []
        steps.reserveCapacity(commands.count)
        for (index, command) in commands.enumerated() {
            do throws(RegistryError) {
                switch command {
                case .graph(let operation):
                    if case .set(_, let option) = operation { try Self.refuseExpression(option) }
                    steps.append(.operation(operation))
                case .hook(let ifname):
                    _ = try deviceSupport()
                    steps.append(.attach(kind: EthernetDevice.kind.name, name: ifname))
                }
            } catch {
                return .failure(error.errno, error.message, command: UInt32(index))
            }
        }
        do throws(BatchError) {
            try registry.apply(steps: steps)
        } catch {
            return .failure(error.error.errno, error.error.message, command: UInt32(error.index))
        }
        return .ok(text: "applied \(commands.count) command\(commands.count == 1 ? "" : "s")\n")
    }

    // MARK: list / show / types

    /// One item per registered type (those `fbctl add` can create):
    /// `<type>: <summary>` and a line per option.
    private func types() -> ControlReply {
        .ok(items: registry.typeNames.compactMap(registry.type(named:)).filter { !$0.isDevice }.map { t in
            var text = "\(t.name): \(t.summary)\n"
            for o in t.options { text += "  \(o.help)\n" }
            let options = t.options.map { "{\"key\":\(JSONText.string($0.key)),\"help\":\(JSONText.string($0.help))}" }
            return ControlReply.Item(text: text, json: "{\"type\":\(JSONText.string(t.name)),\"summary\":\(JSONText.string(t.summary)),\"options\":[\(options.joined(separator: ","))]}")
        })
    }

    private func list() -> ControlReply {
        let version = registry.version
        let blocks = registry.list()
        let names = Dictionary(uniqueKeysWithValues: blocks.map { ($0.idp, $0.name) })
        var reply = ControlReply.ok(items: blocks.map { b in
            ControlReply.Item(text: Self.listLine(b, names) + "\n", json: Self.json(b, names, detailed: false))
        })
        reply.registryVersion = version
        return reply
    }

    private func show(_ name: String) throws(RegistryError) -> ControlReply {
        devices?.refresh()
        let b = try registry.show(name)
        let names = Dictionary(uniqueKeysWithValues: registry.list().map { ($0.idp, $0.name) })
        var text = "\(b.name) (\(b.type)), IDP \(b.idp)\n"
        text += "  ports:\n"
        for (port, idp) in Self.portRows(b) {
            text += "    \(port): \(idp.isNone ? "-" : "\(names[idp] ?? "?") (\(idp))")\n"
        }
        text += "  subscribers: \(b.subscribers.isEmpty ? "-" : b.subscribers.map { "\(names[$0] ?? "?") (\($0))" }.joined(separator: ", "))\n"
        // Values only; what each option means is in `fbctl types <type>`.
        text += "  options: \(b.options.isEmpty ? "none" : b.options.joined(separator: " "))\n"
        if let s = b.status.map(Self.statusExcerpt) { text += "  status: \(s.split(separator: "\n").joined(separator: "\n          "))\n" }
        for d in b.details { text += "  \(d)\n" }
        return .ok(text: text, json: Self.json(b, names, detailed: true))
    }

    /// A status for `fbctl show`: the first 256 lines. Longer ones (a bpf
    /// block's 4096-instruction program) would not fit one reply; the
    /// status file has all of it.
    static func statusExcerpt(_ status: String) -> String {
        let lines = status.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > 257 else { return status }
        return lines.prefix(256).joined(separator: "\n") + "\n… \(lines.count - 257) more lines in the status file\n"
    }

    /// Every fixed port of the block's type, bound or not (`.none`), then
    /// the bound family members, in the order ``BoundPorts`` keeps: what
    /// `show` lists.
    static func portRows(_ b: BlockInfo) -> [(String, IDP)] {
        var rows: [(String, IDP)] = []
        for side in [PortSide.upper, .lower] {
            for name in b.portNames where PortSide(portName: name) == side && !name.hasSuffix(">") {
                rows.append((name, b.ports[name]))
            }
            for binding in b.ports.on(side) where !b.portNames.contains(binding.name) {
                rows.append((binding.name, binding.idp))
            }
        }
        return rows
    }

    /// `fb2 tee 2 up=fb3 up.clone=fb5 down=eth0`: the default ports always,
    /// other ports when bound.
    static func listLine(_ b: BlockInfo, _ names: [IDP: String]) -> String {
        var line = "\(b.name) \(b.type) \(b.idp)"
        for (port, idp) in portRows(b) where !idp.isNone || port == "up" || port == "down" {
            line += " \(port)=\(idp.isNone ? "-" : names[idp] ?? "\(idp)")"
        }
        return line
    }

    static func json(_ b: BlockInfo, _ names: [IDP: String], detailed: Bool) -> String {
        let ports = "[" + b.ports.bindings.map {
            "{\"port\":\(JSONText.string($0.name)),\"name\":\(JSONText.string(names[$0.idp] ?? "")),\"idp\":\($0.idp)}"
        }.joined(separator: ",") + "]"
        var fields = [
            "\"name\":\(JSONText.string(b.name))", "\"type\":\(JSONText.string(b.type))", "\"idp\":\(b.idp)", "\"refs\":\(b.refs)",
            "\"ports\":\(ports)",
            "\"subscribers\":[\(b.subscribers.map { "{\"name\":\(JSONText.string(names[$0] ?? "")),\"idp\":\($0)}" }.joined(separator: ","))]",
            "\"settings\":[\(b.options.map(JSONText.string).joined(separator: ","))]",
        ]
        if detailed {
            fields.append("\"options\":{\(b.optionHelp.map { "\(JSONText.string($0.key)):\(JSONText.string($0.help))" }.joined(separator: ","))}")
            fields.append("\"status\":\(b.status.map { JSONText.string(statusExcerpt($0)) } ?? "null")")
            fields.append("\"details\":[\(b.details.map(JSONText.string).joined(separator: ","))]")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
