/// A verified classic BPF program: instructions that the Linux kernel's
/// socket-filter checker would accept (see ``BPFVerifier``).
///
/// Made from instructions, from text (``init(source:)``: tuples or `bpfc`
/// assembly) or from a `tcpdump` expression (``init(filter:)``). To run it,
/// compile it into a ``BPFCompiledProgram``.
public struct BPFProgram: Sendable, Hashable, CustomStringConvertible {
    public let instructions: [BPFInstruction]

    /// Verifies `instructions`.
    public init(_ instructions: [BPFInstruction]) throws(BPFVerificationError) {
        try BPFVerifier.verify(instructions)
        self.instructions = instructions
    }

    /// Parses and verifies a program text, in any of the forms `fbctl set
    /// <name> bpf=` takes:
    ///
    /// - `{ code, jt, jf, k },` tuples, as `bpfc` and `tcpdump -dd` print them;
    /// - `tcpdump -ddd` decimal form: a count, then `code jt jf k` per line
    ///   (or the same separated by commas, as `bpfc -f xt_bpf` prints it;
    ///   or the records without the count, as `bpfc -f tcpdump` prints them);
    /// - `bpfc` assembly (``BPFAssembler``).
    ///
    /// Errors name the source line and, for verifier refusals, the
    /// instruction index.
    public init(source: String) throws(BPFSourceError) {
        let (instructions, lines) = try BPFProgram.parse(source)
        do {
            try self.init(instructions)
        } catch {
            throw BPFSourceError(error, lines: lines)
        }
    }

    /// The instructions of a program text, not verified, with each one's
    /// source line.
    public static func parse(_ source: String) throws(BPFSourceError) -> (instructions: [BPFInstruction], lines: [Int]) {
        switch BPFTupleParser.form(of: source) {
        case .tuples: return try BPFTupleParser.parseTuples(source)
        case .decimal: return try BPFTupleParser.parseDecimal(source)
        case .assembly: return try BPFAssembler.assembleWithLines(source)
        }
    }

    public var count: Int { instructions.count }

    /// `{ 0x28, 0, 0, 0x0000000c },` lines (the status file's content).
    public var tuples: String { BPFDisassembler.tuples(instructions) }

    public var description: String { tuples }
}
