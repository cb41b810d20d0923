/// The words of a command line (``ConfigurationFile``), split as a shell
/// would: whitespace separates, `'…'` and `"…"` quote, `\`
/// escapes, `#` outside a word starts a comment.
public enum CommandLineWords {
    /// Why a line cannot be split.
    public struct SyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static func split(_ line: String) throws(SyntaxError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escape = false
        for ch in line {
            if escape { current.append(ch); escape = false; inWord = true; continue }
            if let q = quote {
                if ch == q { quote = nil } else if ch == "\\" && q == "\"" { escape = true } else { current.append(ch) }
                continue
            }
            switch ch {
            case "\\": escape = true
            case "'", "\"": quote = ch; inWord = true
            case "#" where !inWord: return words
            case _ where ch.isWhitespace:
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(ch); inWord = true
            }
        }
        if quote != nil { throw SyntaxError(description: "unterminated quote") }
        if escape { throw SyntaxError(description: "line ends in a backslash") }
        if inWord { words.append(current) }
        return words
    }

    /// The option of `fbctl set <name> <key>=<value>` with a tcpdump
    /// expression typed unquoted (`filter=arp or icmp`): the words after
    /// the name joined by spaces, as tcpdump joins its arguments. Other
    /// options are one word.
    public static func setOption(_ words: ArraySlice<String>) -> String? {
        guard let first = words.first else { return nil }
        if words.count == 1 { return first }
        return first.hasPrefix("filter=") ? words.joined(separator: " ") : nil
    }
}

/// Text for messages: a value longer than `limit` bytes, or of several
/// lines, shown as its start and its size (`bpf={ 0x28, 0, 0, 0x0…
/// (100004 bytes)`), so that an error about a 100 KB argument stays one
/// readable line.
public func abbreviated(_ text: String, limit: Int = 72) -> String {
    let firstLine = text.prefix { $0 != "\n" }
    if firstLine.count == text.count && text.utf8.count <= limit { return text }
    let head = firstLine.prefix(min(limit - 24, 48))
    return "\(head)… (\(text.utf8.count) bytes)"
}

/// `message` with every `'…'`-quoted part longer than `limit` bytes
/// abbreviated (``abbreviated(_:limit:)``): refusals quote what they
/// refuse, which may be a whole 100 KB argument.
public func abbreviatingQuotes(_ message: String, limit: Int = 72) -> String {
    guard message.utf8.count > limit else { return message }
    let parts = message.split(separator: "'", omittingEmptySubsequences: false)
    guard parts.count >= 3 else { return message }
    return parts.enumerated().map { i, part in
        // Odd parts lie between a pair of quotes.
        i % 2 == 1 && i < parts.count - 1 ? abbreviated(String(part), limit: limit) : String(part)
    }.joined(separator: "'")
}
