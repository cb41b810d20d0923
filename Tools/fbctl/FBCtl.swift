import ArgumentParser
import Glibc
import LANAControl
import LANATool
import LANABPF
import SystemPackage

/// `fbctl`: build and change the graph of functional blocks of a running
/// `lanad`.
struct FBCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fbctl",
        abstract: "Add, bind, replace and inspect LANA functional blocks.",
        discussion: """
            fbctl talks to lanad over its control socket (<run-dir>/control). Blocks \
            address each other by IDP; 'bind A B' puts A on top of B (A's port down \
            goes to B, B's port up to A). Changes take effect without stopping \
            the engines.

            Exit status: 0 success; 1 refused, by lanad or before it was sent (the reason \
            is printed as 'fbctl: <command>: <errno text> (<ERRNO>): <message>'); 2 usage \
            error; 3 lanad is not reachable: no socket or nobody listening (a run \
            directory whose lanad died is named as stale), no reply in time (the request \
            may or may not have been applied), or the connection closed (watch).
            """,
        subcommands: [
            Add.self, Remove.self, Set.self, Bind.self, Unbind.self, Replace.self, ReplaceDrop.self,
            Subscribe.self, Unsubscribe.self, List.self, Show.self, Types.self, Watch.self, Apply.self,
            BPF.self,
        ]
    )

    /// Accepted before the subcommand too (`fbctl --run-dir D list`).
    @OptionGroup var options: ClientOptions
}

struct Add: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(abstract: "Create a block of a type and give it the next IDP.", discussion: TypesHelp.text)
    }
    @OptionGroup var options: ClientOptions
    @Argument(help: "Name: 1-15 characters of A-Z a-z 0-9 . _ : - not starting with -.") var name: String
    @Argument(help: "Block type.") var type: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("add \(name) \(type)", .add(name: name, type: type)) }
}

struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an unbound, unsubscribed block.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block name.") var name: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("rm \(name)", .remove(name: name)) }
}

struct Set: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send an option to a block.",
        discussion: """
            Example: fbctl set fb4 reset=1. Unknown keys and bad values are refused with EINVAL. For bpf= \
            and filter=, @FILE and - send the contents of FILE or standard input (see 'fbctl bpf --help'). \
            A filter= expression may be typed unquoted, as with tcpdump: fbctl set f filter=arp or icmp. \
            fbctl compiles it (at most 3 s and 512 MiB, else it is refused as too complex) and sends the \
            program with the expression; lanad never compiles one.
            """)
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block name.") var name: String
    @Argument(help: "key=value") var option: String
    @Argument(help: ArgumentHelp("More words of a filter= expression.", valueName: "word")) var more: [String] = []

    func validate() throws {
        if !more.isEmpty && !option.hasPrefix("filter=") {
            throw ValidationError("\(more.count) unexpected argument\(more.count == 1 ? "" : "s") after \(abbreviated(option)): only a filter= expression may span several words")
        }
    }

    func run() throws {
        let option = ([option] + more).joined(separator: " ")
        let words = "set \(name) \(abbreviated(option))"
        let runner = ToolRunner(tool: "fbctl", options: options)
        let sent = try resolvedSetOption(option, words: words, runner: runner)
        try runner.run(words, .set(name: name, option: sent))
    }
}

struct Bind: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Bind <upper> on top of <lower>.",
        discussion: """
            upper's port 'down' goes to lower, lower's port 'up' to upper, and they subscribe to each other's \
            events. A port name chooses another port: 'up.<x>' is a port of <lower> (packets going up from \
            lower through it reach upper), 'down.<x>' a port of <upper>. Without one, a second bind on a \
            side whose type has a port for it (tee's up.clone/down.clone, bpf's up.nomatch/down.nomatch) \
            fills that port. 'fbctl show <block>' lists a block's ports. Refused: EBUSY if a port is taken, \
            EINVAL for a port the type does not have, ELOOP if it would close a loop.
            """)
    @OptionGroup var options: ClientOptions
    @Argument(help: "Upper block.") var upper: String
    @Argument(help: "Lower block.") var lower: String
    @Argument(help: "Port: up.<x> of <lower> or down.<x> of <upper> (default: up and down).") var port: String?
    func run() throws {
        let words = "bind \(upper) \(lower)" + (port.map { " \($0)" } ?? "")
        try ToolRunner(tool: "fbctl", options: options).run(words, .bind(upper, onTopOf: lower, port: port))
    }
}

struct Unbind: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Undo 'bind <upper> <lower>'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Upper block.") var upper: String
    @Argument(help: "Lower block.") var lower: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("unbind \(upper) \(lower)", .unbind(upper, from: lower)) }
}

struct Replace: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Let <new> take over <old>'s name, IDP, ports and subscriptions.",
        discussion: "<new> must be unbound. If both are of the same type, <old>'s state (e.g. counter values) moves to <new>. The swap is atomic: no packet finds the IDP unmapped.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block to replace.") var old: String
    @Argument(help: "Unbound replacement.") var new: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("replace \(old) \(new)", .replace(old, with: new)) }
}

struct ReplaceDrop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: ConfigurationFile.replaceDropWords[0],
        abstract: "Like replace, but <old>'s state is dropped.", aliases: Array(ConfigurationFile.replaceDropWords.dropFirst()))
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block to replace.") var old: String
    @Argument(help: "Unbound replacement.") var new: String
    func run() throws {
        try ToolRunner(tool: "fbctl", options: options).run("replace-drop \(old) \(new)", .replace(old, with: new, dropState: true))
    }
}

struct Subscribe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Let <subscriber> receive <publisher>'s events.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block whose events are sent.") var publisher: String
    @Argument(help: "Block that receives them.") var subscriber: String
    func run() throws {
        try ToolRunner(tool: "fbctl", options: options).run("subscribe \(publisher) \(subscriber)",
                                                            .subscribe(publisher: publisher, subscriber: subscriber))
    }
}

struct Unsubscribe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Undo 'subscribe <publisher> <subscriber>'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block whose events are sent.") var publisher: String
    @Argument(help: "Block that receives them.") var subscriber: String
    func run() throws {
        try ToolRunner(tool: "fbctl", options: options).run("unsubscribe \(publisher) \(subscriber)",
                                                            .unsubscribe(publisher: publisher, subscriber: subscriber))
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List all blocks: name, type, IDP and ports.",
        discussion: "One line per block in IDP order: '<name> <type> <idp> ingress=<blocks> egress=<blocks>' ('-' for unbound).")
    @OptionGroup var options: ClientOptions
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("list", .list) }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a block: ports, subscribers, option values and live counters.",
        discussion: "'options:' lists the block's current values (direction=both …); what each option of a type means is listed by 'fbctl types <type>'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block name.") var name: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("show \(name)", .show(name: name)) }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events as they happen, one per line, until interrupted.",
        discussion: """
            Each line starts with the time fbctl received the event (UTC, ISO 8601), then the event: \
            '2026-01-02T03:04:05.678901Z bound fb3 3 egress fb2 2'. With --json each event is an \
            object: {"time":"…","event":"bound","block":"fb3","idp":3,"detail":"egress fb2 2"}. \
            Exit status 3 when lanad stops (or drops a client that fell too far behind).
            """)
    @OptionGroup var options: ClientOptions
    @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many events (at least 1).", valueName: "n"))
    var count: String?

    func validate() throws {
        if let count, (Int(count) ?? 0) < 1 {
            throw ValidationError("--count takes a number of events of at least 1, not '\(count)'")
        }
    }

    func run() throws {
        let limit = count.flatMap { Int($0) }
        let runner = ToolRunner(tool: "fbctl", options: options)
        let client = try runner.connect("watch")
        var seen = 0
        do {
            try client.watch { event in
                printOut(WatchLine(event).render(json: options.json))
                seen += 1
                return limit.map { seen < $0 } ?? true
            }
        } catch {
            throw runner.fail("watch", error)
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply a file of fbctl/vlink lines as one unit.",
        discussion: "Every line is parsed here first (a line that does not parse is reported and nothing is sent), then lanad checks all commands; if any is refused nothing is applied and its line is reported. '#' starts a comment. Use - for standard input. filter= expressions are compiled here, as for 'fbctl set'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "File of command lines, or - for standard input.") var file: String
    func run() throws {
        guard let text = readAll(file == "-" ? nil : file) else {
            printError("fbctl: apply: cannot read \(file == "-" ? "standard input" : file): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let runner = ToolRunner(tool: "fbctl", options: options)
        let words = "apply \(file)"
        // Parsed and compiled here: a line that is wrong is reported with
        // its number and nothing is sent.
        let configuration: ConfigurationFile
        do throws(ConfigurationFile.LineError) {
            configuration = try ConfigurationFile(parsing: text).compilingFilters { expression throws(ConfigurationFile.Refusal) in
                do throws(BPFSourceError) { return try CompiledFilterOption.make(expression) } catch {
                    throw ConfigurationFile.Refusal(.invalidArgument, "filter refused, the loaded program stays: \(error)")
                }
            }
        } catch {
            throw runner.refusal(words, error.errno, error.description)
        }
        let client = try runner.connect(words)
        var reply: ControlReply
        do { reply = try client.send(.apply(configuration.commands)) } catch { throw runner.fail(words, error) }
        // lanad names the refused command by its index: tell it as its line.
        if let error = reply.error, let index = reply.failedCommand {
            reply.message = configuration.refusal(ofCommand: Int(index), .init(error, reply.message ?? "")).description
        }
        try runner.finish(words, reply)
    }
}
