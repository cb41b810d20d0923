import ArgumentParser
import Glibc
import LANAControl
import LANATool

/// `fbctl`: build and change the graph of functional blocks of a running
/// `lanad`.
struct FBCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fbctl",
        abstract: "Add, bind, replace and inspect LANA functional blocks.",
        discussion: """
            fbctl talks to lanad over its control socket (<run-dir>/control). Blocks \
            address each other by IDP; 'bind A B' puts A on top of B (A's egress port \
            goes to B, B's ingress port to A). Changes take effect without stopping \
            the engines.

            Exit status: 0 success, 1 the daemon refused the request (the reason is \
            printed as '<errno text> (<ERRNO>): <message>'), 2 usage error, 3 lanad \
            is not reachable.
            """,
        subcommands: [
            Add.self, Remove.self, Set.self, Bind.self, Unbind.self, Replace.self, ReplaceDrop.self,
            Subscribe.self, Unsubscribe.self, List.self, Show.self, Watch.self, Apply.self,
            BPF.self,
        ]
    )

    /// Accepted before the subcommand too (`fbctl --run-dir D list`).
    @OptionGroup var options: ClientOptions
}

struct Add: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a block of a type and give it the next IDP.",
        discussion: "Types: dummy, counter, tee (and whatever lanad registered; 'fbctl show' of a block lists its options).")
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
        discussion: "Example: fbctl set fb4 reset=1. Unknown keys and bad values are refused with EINVAL. For bpf= and filter=, @FILE and - send the contents of FILE or standard input (see 'fbctl bpf --help').")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block name.") var name: String
    @Argument(help: "key=value") var option: String
    func run() throws {
        let words = "set \(name) \(option)"
        try ToolRunner(tool: "fbctl", options: options).run(words, .set(name: name, option: try resolvedSetOption(option, words: words)))
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
    static let configuration = CommandConfiguration(commandName: "replace-drop",
        abstract: "Like replace, but <old>'s state is dropped.", aliases: ["replace_drop"])
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
    static let configuration = CommandConfiguration(abstract: "Show a block: ports, subscribers, options and live counters.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Block name.") var name: String
    func run() throws { try ToolRunner(tool: "fbctl", options: options).run("show \(name)", .show(name: name)) }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print events as they happen, one per line, until interrupted.",
        discussion: "Lines look like 'bound fb3 3 egress fb2 2', 'replaced fb2 2 by fb9 (tee, state moved)'.")
    @OptionGroup var options: ClientOptions
    @Option(help: ArgumentHelp("Stop after this many events.", valueName: "n")) var count: Int?
    func run() throws {
        let runner = ToolRunner(tool: "fbctl", options: options)
        let client = try runner.connect()
        var seen = 0
        do {
            try client.watch { event in
                printOut(options.json ? "{\"event\":\(JSONText.string(event))}" : event)
                seen += 1
                return count.map { seen < $0 } ?? true
            }
        } catch {
            throw runner.fail("watch", error)
        }
    }
}

struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply a file of fbctl/vlink lines as one unit.",
        discussion: "Every line is checked first; if any is refused nothing is applied and the line is reported. '#' starts a comment. Use - for standard input.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "File of command lines, or - for standard input.") var file: String
    func run() throws {
        guard let text = readAll(file == "-" ? nil : file) else {
            printError("fbctl: apply: cannot read \(file == "-" ? "standard input" : file): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try ToolRunner(tool: "fbctl", options: options).run("apply \(file)", .apply(lines: lines))
    }
}
