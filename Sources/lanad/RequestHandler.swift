import LANABlocks
import LANACore
import LANAControl
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Hooks interfaces for `vlink` (the `eth` block). Provided by the daemon
/// when interface support is available.
protocol InterfaceHooking: AnyObject {
    func hook(_ ifname: String) throws(RegistryError)
    func unhook(_ ifname: String) throws(RegistryError)
    /// Opens an interface for hooking without adding its block (a line of
    /// an `apply` batch); dropped unused, it closes again.
    func prepare(_ ifname: String) throws(RegistryError) -> PreparedHook
    /// Records a prepared hook that the registry took.
    func adopt(_ prepared: PreparedHook)
    /// Lines of the `vlink` state file.
    var stateLines: [String] { get }
    /// Brings the interfaces' counters up to date (before `show`).
    func collectRingDrops()
}

/// Answers control requests on the control thread: maps each to registry
/// operations and renders the reply's text and JSON.
final class RequestHandler {
    let registry: Registry
    let state: StateFiles
    var interfaces: (any InterfaceHooking)?

    init(registry: Registry, state: StateFiles) {
        self.registry = registry
        self.state = state
    }

    func handle(_ request: ControlRequest) -> ControlReply {
        let reply = answer(request)
        if reply.isSuccess && ![.list, .show, .watch, .types].contains(request.command) {
            refreshState()
        }
        return reply
    }

    private func answer(_ r: ControlRequest) -> ControlReply {
        do throws(RegistryError) {
            switch r.command {
            case .add: try registry.add(r.name!, type: r.type!)
            case .remove: try registry.remove(r.name!)
            case .set:
                try Self.refuseExpression(r.option!)
                try registry.set(r.name!, r.option!)
            case .bind: try registry.bind(r.name!, r.name2!, port: r.port)
            case .unbind: try registry.unbind(r.name!, r.name2!)
            case .replace: try registry.replace(r.name!, with: r.name2!, dropState: r.flags.contains(.drop))
            case .subscribe: try registry.subscribe(r.name!, r.name2!)
            case .unsubscribe: try registry.unsubscribe(r.name!, r.name2!)
            case .list: return list()
            case .show: return try show(r.name!)
            case .hook: try interfaceSupport().hook(r.interfaceName!)
            case .unhook: try interfaceSupport().unhook(r.interfaceName!)
            case .addVirtualLink, .removeVirtualLink:
                throw RegistryError(Errno(rawValue: EOPNOTSUPP), "tagged virtual links are not supported by this lanad yet")
            case .watch: return .ok
            case .apply: return apply(r.lines)
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
        state.changed(interfaceLines: interfaces?.stateLines ?? [])
    }

    private func interfaceSupport() throws(RegistryError) -> any InterfaceHooking {
        guard let interfaces else {
            throw RegistryError(Errno(rawValue: EOPNOTSUPP), "interface hooking is not available in this lanad")
        }
        return interfaces
    }

    // MARK: apply

    /// Runs configuration lines as one unit, in order: hook lines are
    /// steps of the same batch as the graph lines, so a refused file
    /// changes nothing — no block, no hook, no IDP, no event.
    func apply(_ lines: [String]) -> ControlReply {
        let parsed: [(line: Int, text: String, command: ConfigCommand)]
        do throws(ConfigLineError) {
            parsed = try ConfigParser.parse(lines.joined(separator: "\n"))
        } catch {
            return .failure(error.error.errno, "line \(error.line): \(abbreviated(error.text)): \(error.error.message)", line: UInt32(error.line - 1))
        }
        // Hooks the batch opened, in order; adopted only if it is accepted.
        var prepared: [PreparedHook] = []
        var steps: [BatchStep] = []
        do throws(ConfigLineError) {
            for p in parsed {
                switch p.command {
                case .registry(let op):
                    if case .set(_, let option) = op {
                        do throws(RegistryError) { try Self.refuseExpression(option) } catch {
                            throw ConfigLineError(line: p.line, text: p.text, error: error)
                        }
                    }
                    steps.append(.operation(op))
                case .hook(let ifname):
                    let hooks: any InterfaceHooking
                    do throws(RegistryError) { hooks = try interfaceSupport() } catch {
                        throw ConfigLineError(line: p.line, text: p.text, error: error)
                    }
                    steps.append(.addInterface(name: ifname, type: EthBlock.type.name) { () throws(RegistryError) in
                        let hook = try hooks.prepare(ifname)
                        prepared.append(hook)
                        return (hook.block, hook.makeSources)
                    })
                default:
                    throw ConfigLineError(line: p.line, text: p.text, error: RegistryError(Errno(rawValue: EOPNOTSUPP),
                        "only 'vlink ethernet hook' can be applied from a file"))
                }
            }
            do throws(BatchError) {
                try registry.apply(steps: steps)
            } catch {
                let p = parsed[error.index]
                throw ConfigLineError(line: p.line, text: p.text, error: error.error)
            }
        } catch {
            return .failure(error.error.errno, "line \(error.line): \(abbreviated(error.text)): \(error.error.message)", line: UInt32(error.line - 1))
        }
        for hook in prepared { interfaces?.adopt(hook) }
        return .ok(text: "applied \(parsed.count) command\(parsed.count == 1 ? "" : "s")\n")
    }

    // MARK: list / show / types

    /// One item per registered type (those `fbctl add` can create):
    /// `<type>: <summary>` and a line per option.
    private func types() -> ControlReply {
        .ok(items: registry.typeNames.compactMap(registry.type(named:)).filter { !$0.isInterface }.map { t in
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
        interfaces?.collectRingDrops()
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
