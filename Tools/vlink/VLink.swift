import ArgumentParser
import LANAControl
import LANATool

/// `vlink`: hook interfaces into a running `lanad`.
struct VLink: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vlink",
        abstract: "Hook network interfaces into LANA.",
        discussion: """
            Exit status: 0 success; 1 refused, by lanad or by the socket's permissions (the \
            reason is printed as 'vlink: <command>: <errno text> (<ERRNO>): <message>'); 2 \
            usage error; 3 lanad is not reachable: no socket or nobody listening (a run \
            directory whose lanad died is named as stale), or no reply in time (the request \
            may or may not have been applied).
            """,
        subcommands: [Ethernet.self]
    )

    /// Accepted before the subcommand too (`vlink --run-dir D ethernet …`).
    @OptionGroup var options: ClientOptions
}

struct Ethernet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ethernet interfaces: hook, unhook.",
        subcommands: [Hook.self, Unhook.self, AddLink.self, RemoveLink.self]
    )
}

struct Hook: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create the eth block of an interface, named after it.",
        discussion: "Frames received on the interface go up through the block's port up (they end there if nothing is bound); packets reaching the block going egress are sent out on the interface. The host's stack keeps seeing the traffic.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Interface name, e.g. eth0.") var ifname: String
    func run() throws { try ToolRunner(tool: "vlink", options: options).run("ethernet hook \(ifname)", .hook(interface: ifname)) }
}

struct Unhook: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove the eth block of an interface (refused while bound).")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Interface name.") var ifname: String
    func run() throws { try ToolRunner(tool: "vlink", options: options).run("ethernet unhook \(ifname)", .unhook(interface: ifname)) }
}

struct AddLink: ParsableCommand {
    // Not offered in help while lanad answers it with EOPNOTSUPP.
    static let configuration = CommandConfiguration(commandName: "add",
        abstract: "Add a tagged virtual link (EtherType 0xAC00 | tag) on a carrier, with a TAP device <name>.",
        shouldDisplay: false)
    @OptionGroup var options: ClientOptions
    @Argument(help: "Name of the link and its TAP device.") var name: String
    @Argument(help: "Carrier interface.") var rootdev: String
    @Argument(help: "Tag, 0-1023.") var tag: UInt32
    func validate() throws {
        if tag > Command.maximumTag { throw ValidationError("tag must be between 0 and \(Command.maximumTag), not \(tag)") }
    }
    func run() throws {
        try ToolRunner(tool: "vlink", options: options).run("ethernet add \(name) \(rootdev) \(tag)",
            .addVirtualLink(name: name, rootDevice: rootdev, tag: tag))
    }
}

struct RemoveLink: ParsableCommand {
    // Not offered in help while lanad answers it with EOPNOTSUPP.
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a tagged virtual link.",
                                                    shouldDisplay: false)
    @OptionGroup var options: ClientOptions
    @Argument(help: "Name of the link.") var name: String
    func run() throws { try ToolRunner(tool: "vlink", options: options).run("ethernet rm \(name)", .removeVirtualLink(name: name)) }
}
