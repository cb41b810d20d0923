import ArgumentParser
import Glibc
import LANAControl
import LANATool
import SystemPackage

/// `fbctl types`: the block types the running lanad registered, with the
/// options each takes — asked of the daemon, so that types it loads later
/// show up too.
struct Types: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the block types lanad can create, with their options.",
        discussion: "One paragraph per type: '<type>: <summary>', then one line per option it takes with 'fbctl set'.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "Only this type.") var type: String?

    func run() throws {
        let runner = ToolRunner(tool: "fbctl", options: options)
        let words = "types" + (type.map { " \($0)" } ?? "")
        let client = try runner.connect(words)
        var reply: ControlReply
        do { reply = try client.send(.types) } catch { throw runner.fail(words, error) }
        if let type, reply.error == nil {
            let known = reply.items.compactMap { $0.text?.prefix { $0 != ":" } }.map(String.init)
            reply.items = reply.items.filter { $0.text?.hasPrefix(type + ":") == true }
            if reply.items.isEmpty {
                throw runner.refusal(words, Errno(rawValue: ENOENT),
                                     "unknown block type \(type) (known types: \(known.joined(separator: ", ")))")
            }
        }
        try runner.finish(words, reply)
    }
}

/// The list of types in `fbctl add --help` (and `fbctl help add`), asked
/// of lanad when such help is requested; a sentence saying where to find
/// them when lanad cannot be asked.
enum TypesHelp {
    nonisolated(unsafe) static var text =
        "Types: those lanad registered; 'fbctl types' lists them, with their options, while lanad runs."

    /// Asks lanad for its types if `arguments` request help for `add`.
    static func prepare(_ arguments: [String]) {
        var runDir: String?
        var positional: [String] = []
        var help = false
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--run-dir", i + 1 < arguments.count { runDir = arguments[i + 1]; i += 2; continue }
            if a.hasPrefix("--run-dir=") { runDir = String(a.dropFirst("--run-dir=".count)) }
            else if a == "--help" || a == "-h" { help = true }
            else if !a.hasPrefix("-") { positional.append(a) }
            i += 1
        }
        guard positional.first == "add" && help || positional.prefix(2) == ["help", "add"] else { return }
        var options = ClientOptions()
        options.runDir = runDir
        guard let client = try? ControlClient(socketPath: options.socketPath, timeout: .seconds(1)) else {
            text += " (lanad is not reachable at \(options.socketPath) now.)"
            return
        }
        guard let reply = try? client.send(.types), reply.error == nil else { return }
        let names = reply.items.compactMap { $0.text?.prefix { $0 != ":" } }
        text = "Types lanad registered: \(names.joined(separator: ", ")). 'fbctl types' describes them and their options."
    }
}
