import LANAControl
import LANACore
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A line of a configuration file (`lanad --config`, `fbctl apply`): an
/// `fbctl` or `vlink` command as a user would type it.
enum ConfigCommand: Equatable {
    case registry(RegistryOperation)
    case hook(String)
    case unhook(String)
    case addVirtualLink(name: String, root: String, tag: UInt32)
    case removeVirtualLink(String)
}

/// A refused line: its number (from 1) and why.
struct ConfigLineError: Error, Equatable, CustomStringConvertible {
    let line: Int
    let text: String
    let error: RegistryError
    var description: String { "line \(line): \(text): \(error)" }
}

enum ConfigParser {
    /// Parses a whole file: blank lines and `#` comments are skipped.
    static func parse(_ text: String) throws(ConfigLineError) -> [(line: Int, text: String, command: ConfigCommand)] {
        var out: [(Int, String, ConfigCommand)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingWhitespace
            do throws(RegistryError) {
                let words = try tokenize(line)
                if words.isEmpty { continue }
                out.append((i + 1, line, try command(words)))
            } catch {
                throw ConfigLineError(line: i + 1, text: line, error: error)
            }
        }
        return out
    }

    /// Splits a line into words (``CommandLineWords/split(_:)``).
    static func tokenize(_ line: String) throws(RegistryError) -> [String] {
        do throws(CommandLineWords.SyntaxError) {
            return try CommandLineWords.split(line)
        } catch {
            throw RegistryError(Errno(rawValue: EINVAL), error.description)
        }
    }

    /// Maps `fbctl …` / `vlink …` words to a command. Command words match
    /// exactly (no prefixes: docs/design.md §11).
    static func command(_ words: [String]) throws(RegistryError) -> ConfigCommand {
        func expect(_ n: Int, _ usage: String) throws(RegistryError) {
            if words.count != n + 2 {
                throw RegistryError(Errno(rawValue: EINVAL), "expected '\(words[0]) \(words[1]) \(usage)'")
            }
        }
        guard words.count >= 2 else {
            throw RegistryError(Errno(rawValue: EINVAL), "expected 'fbctl <command> …' or 'vlink ethernet <command> …'")
        }
        switch (words[0], words[1]) {
        case ("fbctl", "add"): try expect(2, "<name> <type>"); return .registry(.add(name: words[2], type: words[3]))
        case ("fbctl", "rm"): try expect(1, "<name>"); return .registry(.remove(name: words[2]))
        case ("fbctl", "set"):
            // `filter=arp or icmp` unquoted: the rest of the line, as tcpdump takes it.
            if words.count > 4, let option = CommandLineWords.setOption(words[3...]) {
                return .registry(.set(name: words[2], option: option))
            }
            try expect(2, "<name> <key>=<value>"); return .registry(.set(name: words[2], option: words[3]))
        case ("fbctl", "bind"):
            if words.count == 5 { return .registry(.bind(words[2], words[3], port: words[4])) }
            try expect(2, "<upper> <lower> [<port>]"); return .registry(.bind(words[2], words[3]))
        case ("fbctl", "unbind"): try expect(2, "<upper> <lower>"); return .registry(.unbind(words[2], words[3]))
        case ("fbctl", "replace"):
            try expect(2, "<old> <new>"); return .registry(.replace(old: words[2], new: words[3], dropState: false))
        case ("fbctl", "replace-drop"), ("fbctl", "replace_drop"):
            try expect(2, "<old> <new>"); return .registry(.replace(old: words[2], new: words[3], dropState: true))
        case ("fbctl", "subscribe"): try expect(2, "<publisher> <subscriber>"); return .registry(.subscribe(words[2], words[3]))
        case ("fbctl", "unsubscribe"): try expect(2, "<publisher> <subscriber>"); return .registry(.unsubscribe(words[2], words[3]))
        case ("fbctl", "list"), ("fbctl", "show"), ("fbctl", "watch"), ("fbctl", "apply"):
            throw RegistryError(Errno(rawValue: EINVAL), "'fbctl \(words[1])' does not change the graph and cannot be applied")
        case ("fbctl", let other):
            throw RegistryError(Errno(rawValue: EINVAL),
                "unknown fbctl command '\(other)' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)")
        case ("vlink", "ethernet"):
            guard words.count >= 3 else {
                throw RegistryError(Errno(rawValue: EINVAL), "expected 'vlink ethernet hook|unhook|add|rm …'")
            }
            switch words[2] {
            case "hook": try expectVlink(words, 1, "<ifname>"); return .hook(words[3])
            case "unhook": try expectVlink(words, 1, "<ifname>"); return .unhook(words[3])
            case "add":
                try expectVlink(words, 3, "<name> <rootdev> <tag>")
                guard let tag = UInt32(words[5]), tag <= 1023 else {
                    throw RegistryError(Errno(rawValue: EINVAL), "tag '\(words[5])': expected a number from 0 to 1023")
                }
                return .addVirtualLink(name: words[3], root: words[4], tag: tag)
            case "rm": try expectVlink(words, 1, "<name>"); return .removeVirtualLink(words[3])
            default:
                throw RegistryError(Errno(rawValue: EINVAL), "unknown vlink ethernet command '\(words[2])' (expected hook, unhook, add, rm)")
            }
        case ("vlink", let other):
            throw RegistryError(Errno(rawValue: EINVAL), "unknown vlink subsystem '\(other)' (expected ethernet)")
        default:
            throw RegistryError(Errno(rawValue: EINVAL), "a line must start with 'fbctl' or 'vlink', not '\(words[0])'")
        }
    }

    private static func expectVlink(_ words: [String], _ n: Int, _ usage: String) throws(RegistryError) {
        if words.count != n + 3 {
            throw RegistryError(Errno(rawValue: EINVAL), "expected 'vlink ethernet \(words[2]) \(usage)'")
        }
    }
}
