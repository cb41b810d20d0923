/// A BPF program text that could not be turned into a verified program:
/// a syntax error in assembly or tuples, an unknown label, a refused
/// `tcpdump` expression, or a verifier refusal.
///
/// The description names where (`line 4`, `instruction 3`, both when the
/// instruction came from an assembly line) and why, for `fbctl` to show
/// after `EINVAL`.
public struct BPFSourceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based source line, when the error has one.
    public let line: Int?
    /// 0-based instruction index, when the error has one.
    public let instruction: Int?
    /// What was wrong, without the location.
    public let message: String

    public init(line: Int? = nil, instruction: Int? = nil, _ message: String) {
        self.line = line; self.instruction = instruction; self.message = message
    }

    /// A verifier refusal, located at `lines[instruction]` when the program
    /// came from text with known lines.
    public init(_ error: BPFVerificationError, lines: [Int]? = nil) {
        var line: Int?
        if let i = error.instruction, let lines, i < lines.count { line = lines[i] }
        self.init(line: line, instruction: error.instruction, error.description)
    }

    public var description: String {
        // Verifier messages already start with "instruction N (…)".
        if let line { return "line \(line): \(message)" }
        return message
    }
}
