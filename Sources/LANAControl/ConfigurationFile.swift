import LANACore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A configuration file, parsed: the commands of its `fbctl` and `vlink`
/// lines, each with the line it came from (docs/design.md §8).
///
/// The one parser of command lines, used by `fbctl apply FILE|-` (which
/// sends ``commands`` as one APPLY) and `lanad --config FILE` (which runs
/// them itself). Lines are split as a shell would
/// (``CommandLineWords/split(_:)``); blank lines and `#` comments are
/// skipped; command words match exactly. Only what a batch can run parses:
/// graph commands and `vlink ethernet hook`.
public struct ConfigurationFile: Sendable, Hashable {
    /// One command and where it came from.
    public struct Line: Sendable, Hashable {
        /// The line's number, from 1.
        public var number: Int
        /// The line without its surrounding white space.
        public var text: String
        public var command: BatchCommand
    }

    /// Why a command or line is refused.
    public struct Refusal: Error, Sendable, Equatable {
        public let errno: Errno
        public let message: String
        public init(_ errno: Errno, _ message: String) {
            self.errno = errno
            self.message = message
        }
    }

    /// A refused line: its number (from 1), its text and why.
    public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let text: String
        public let refusal: Refusal
        public var errno: Errno { refusal.errno }
        /// `line 3: fbctl bind a b: <reason>`, the form every refusal of a
        /// file takes, whoever refused it.
        public var description: String { "line \(line): \(abbreviated(text)): \(refusal.message)" }
    }

    /// `fbctl replace-drop` and its alias, spelled once for the file
    /// parser and for `fbctl`'s subcommand.
    public static let replaceDropWords = ["replace-drop", "replace_drop"]

    public var lines: [Line]

    /// The commands in line order: what APPLY sends.
    public var commands: [BatchCommand] { lines.map(\.command) }

    /// Parses a whole file.
    public init(parsing text: String) throws(LineError) {
        lines = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Self.trimmed(raw)
            do throws(Refusal) {
                let words: [String]
                do throws(CommandLineWords.SyntaxError) { words = try CommandLineWords.split(line) } catch {
                    throw Refusal(.invalidArgument, error.description)
                }
                if words.isEmpty { continue }
                lines.append(Line(number: i + 1, text: line, command: try Self.command(words)))
            } catch {
                throw LineError(line: i + 1, text: line, refusal: error)
            }
        }
    }

    /// The file with every `set <name> filter=<expression>` replaced by
    /// what `compile` makes of the expression (`filter64=…`), so that
    /// `lanad` never compiles one.
    public func compilingFilters(
        _ compile: (String) throws(Refusal) -> String
    ) throws(LineError) -> ConfigurationFile {
        var out = self
        for (index, line) in lines.enumerated() {
            guard case .graph(.set(let name, let option)) = line.command, option.hasPrefix("filter=") else { continue }
            do throws(Refusal) {
                let compiled = try compile(String(option.dropFirst("filter=".count)))
                out.lines[index].command = .graph(.set(name: name, option: compiled))
            } catch {
                throw LineError(line: line.number, text: line.text, refusal: error)
            }
        }
        return out
    }

    /// `lanad`'s refusal of command `index` of ``commands``, told as the
    /// refusal of its line.
    public func refusal(ofCommand index: Int, _ refusal: Refusal) -> LineError {
        guard lines.indices.contains(index) else {
            return LineError(line: 0, text: "command \(index)", refusal: refusal)
        }
        return LineError(line: lines[index].number, text: lines[index].text, refusal: refusal)
    }

    /// The command of one line's words.
    public static func command(_ words: [String]) throws(Refusal) -> BatchCommand {
        guard words.count >= 2 else {
            throw Refusal(.invalidArgument, "expected 'fbctl <command> …' or 'vlink ethernet <command> …'")
        }
        switch words[0] {
        case "fbctl": return .graph(try graphCommand(words))
        case "vlink": return try vlinkCommand(words)
        default: throw Refusal(.invalidArgument, "a line must start with 'fbctl' or 'vlink', not '\(words[0])'")
        }
    }

    private static func graphCommand(_ words: [String]) throws(Refusal) -> GraphCommand {
        func expect(_ n: Int, _ usage: String) throws(Refusal) {
            if words.count != n + 2 { throw Refusal(.invalidArgument, "expected 'fbctl \(words[1]) \(usage)'") }
        }
        switch words[1] {
        case "add": try expect(2, "<name> <type>"); return .add(name: words[2], type: words[3])
        case "rm": try expect(1, "<name>"); return .remove(name: words[2])
        case "set":
            // `filter=arp or icmp` unquoted: the rest of the line, as tcpdump takes it.
            if words.count > 4, let option = CommandLineWords.setOption(words[3...]) {
                return .set(name: words[2], option: option)
            }
            try expect(2, "<name> <key>=<value>"); return .set(name: words[2], option: words[3])
        case "bind":
            if words.count == 5 { return .bind(upper: words[2], lower: words[3], port: words[4]) }
            try expect(2, "<upper> <lower> [<port>]"); return .bind(upper: words[2], lower: words[3], port: nil)
        case "unbind": try expect(2, "<upper> <lower>"); return .unbind(upper: words[2], lower: words[3])
        case "replace": try expect(2, "<old> <new>"); return .replace(old: words[2], new: words[3], dropState: false)
        case let word where replaceDropWords.contains(word):
            try expect(2, "<old> <new>"); return .replace(old: words[2], new: words[3], dropState: true)
        case "subscribe": try expect(2, "<publisher> <subscriber>"); return .subscribe(publisher: words[2], subscriber: words[3])
        case "unsubscribe": try expect(2, "<publisher> <subscriber>"); return .unsubscribe(publisher: words[2], subscriber: words[3])
        case "list", "show", "types", "watch", "apply":
            throw Refusal(.invalidArgument, "'fbctl \(words[1])' does not change the graph and cannot be applied")
        case let other:
            throw Refusal(.invalidArgument,
                "unknown fbctl command '\(other)' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)")
        }
    }

    private static func vlinkCommand(_ words: [String]) throws(Refusal) -> BatchCommand {
        guard words[1] == "ethernet" else {
            throw Refusal(.invalidArgument, "unknown vlink subsystem '\(words[1])' (expected ethernet)")
        }
        guard words.count >= 3 else { throw Refusal(.invalidArgument, "expected 'vlink ethernet hook|unhook|add|rm …'") }
        func expect(_ n: Int, _ usage: String) throws(Refusal) {
            if words.count != n + 3 { throw Refusal(.invalidArgument, "expected 'vlink ethernet \(words[2]) \(usage)'") }
        }
        // Only a hook is undone with a refused batch.
        let onlyHook = Refusal(.notSupportedOnSocket, "only 'vlink ethernet hook' can be applied from a file")
        switch words[2] {
        case "hook": try expect(1, "<ifname>"); return .hook(interface: words[3])
        case "unhook": try expect(1, "<ifname>"); throw onlyHook
        case "add":
            try expect(3, "<name> <rootdev> <tag>")
            guard let tag = UInt32(words[5]), tag <= Command.maximumTag else {
                throw Refusal(.invalidArgument, "tag '\(words[5])': expected a number from 0 to \(Command.maximumTag)")
            }
            throw onlyHook
        case "rm": try expect(1, "<name>"); throw onlyHook
        default:
            throw Refusal(.invalidArgument, "unknown vlink ethernet command '\(words[2])' (expected hook, unhook, add, rm)")
        }
    }

    private static func trimmed(_ line: Substring) -> String {
        String(line.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
