import ArgumentParser
import Glibc
import LANABPF
import LANAControl
import LANATool
import SystemPackage

// `fbctl bpf …`: offline tools for the programs `bpf` blocks run, and the
// client side of `fbctl set <name> bpf=@file` / `bpf=-`.

struct BPF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bpf",
        abstract: "Compile, check and disassemble classic BPF programs (no daemon needed).",
        discussion: """
            A bpf block runs a classic BPF program (the Linux socket-filter machine) over \
            every packet of the directions it filters: a non-zero result is a match. \
            Programs are written in one of three forms, all of which 'fbctl set <name> \
            bpf=' takes:

              { 0x28, 0, 0, 0x0000000c },  tuples (bpfc, tcpdump -dd)
              4,40 0 0 12,21 0 1 2054,...  decimal records (tcpdump -ddd)
              L1: ldh #proto ; comment     bpfc assembly: labels, comments,
                  jeq #0x806, L2, L3       extensions (#proto, #ifidx, #len, ...)

            or as a tcpdump expression ('fbctl set <name> filter=<expr>'), compiled with \
            libpcap for Ethernet. Offsets count from the Ethernet header.

            These subcommands run locally and print what the block would load, so a program \
            can be checked before it reaches lanad. Errors name the source line and, for \
            verifier refusals, the instruction: 'fbctl: bpf compile ipv4.bpf: line 2: …'. \
            Exit status: 0 valid, 1 refused or unreadable, 2 usage error.
            """,
        subcommands: [Compile.self, Disassemble.self, Filter.self]
    )

    /// How a program is printed.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        /// `{ 0x28, 0, 0, 0x0000000c },` (bpfc, tcpdump -dd, the status file).
        case tuples
        /// The instruction count, then `code jt jf k` per line (tcpdump -ddd).
        case decimal
        /// `(000) ldh      [12]` (tcpdump -d).
        case listing
        /// bpfc assembly with labels.
        case assembly

        func render(_ program: [BPFInstruction]) -> String {
            switch self {
            case .tuples: return BPFDisassembler.tuples(program)
            case .decimal: return "\(program.count)\n" + program.map { "\($0.code) \($0.jt) \($0.jf) \($0.k)\n" }.joined()
            case .listing: return BPFDisassembler.listing(program)
            case .assembly: return BPFDisassembler.assembly(program)
            }
        }
    }

    struct Compile: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assemble and verify a program; print it as tuples.",
            discussion: """
                Reads FILE (or standard input for -) in any form 'bpf=' takes, verifies it \
                as lanad will (jumps forward and in range, ends in ret, no division by the \
                constant 0, scratch index below 16, 1 to 4096 instructions) and prints the \
                result, by default as bpfc does:

                  $ fbctl bpf compile arp.bpf
                  { 0x28, 0, 0, 0xfffff000 },
                  { 0x15, 0, 1, 0x00000806 },
                  { 0x6, 0, 0, 0x0000ffff },
                  { 0x6, 0, 0, 0x00000000 },

                On error nothing is printed on standard output, the reason goes to standard \
                error ('fbctl: bpf compile FILE: line N: reason') and the exit status is 1.
                """)
        @Argument(help: ArgumentHelp("Program source, or - for standard input.", valueName: "file")) var file: String
        @Option(help: "Output form: tuples, decimal (tcpdump -ddd), listing (tcpdump -d) or assembly.")
        var format: Format = .tuples

        func run() throws {
            let words = "bpf compile \(file)"
            let source = try readProgramSource(file, words)
            do {
                writeOut(format.render(try BPFProgram(source: source).instructions))
            } catch {
                printError("fbctl: \(words): \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Disassemble: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "disasm",
            abstract: "Turn tuples (or decimal records) back into bpfc assembly.",
            discussion: """
                Reads FILE (or standard input for -), for example the status file \
                <run-dir>/fblock/<name> of a bpf block or the output of tcpdump -dd, and \
                prints it as bpfc assembly with a label 'L<n>:' at every jump target; \
                'fbctl bpf compile' turns the result back into the same instructions. A \
                program the verifier refuses is still printed, and the refusal is reported \
                on standard error with exit status 1.
                """)
        @Argument(help: ArgumentHelp("Program as tuples or decimal records, or - for standard input.", valueName: "file"))
        var file: String
        @Option(help: "Output form: assembly, listing (tcpdump -d), tuples or decimal.")
        var format: Format = .assembly
        @Flag(help: ArgumentHelp(
            "Print the machine code a bpf block runs for the program (jit=on), as hex, 16 bytes a line.",
            discussion: "xxd -r -p turns it into bytes for objdump -D -b binary -mi386:x86-64."))
        var native = false

        func run() throws {
            let words = "bpf disasm \(file)"
            let source = try readProgramSource(file, words)
            let instructions: [BPFInstruction]
            do {
                instructions = try BPFProgram.parse(source).instructions
            } catch {
                printError("fbctl: \(words): \(error)")
                throw ExitCode(1)
            }
            if native {
                let program: BPFProgram
                do {
                    program = try BPFProgram(instructions)
                } catch {
                    printError("fbctl: \(words): lanad would refuse this program: \(error)")
                    throw ExitCode(1)
                }
                guard let code = BPFCompiledProgram(program, native: true).native?.machineCode else {
                    printError("fbctl: \(words): no native code on this processor (lanad runs the interpreter)")
                    throw ExitCode(1)
                }
                let hex = code.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
                writeOut(stride(from: 0, to: hex.count, by: 16).map { hex[$0..<min($0 + 16, hex.count)].joined() + "\n" }.joined())
                return
            }
            writeOut(format.render(instructions))
            do {
                _ = try BPFProgram(instructions)
            } catch {
                printError("fbctl: \(words): lanad would refuse this program: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Filter: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compile a tcpdump expression with libpcap; print the program.",
            discussion: """
                Prints what 'fbctl set <name> filter=<expression>' loads: the expression \
                compiled by libpcap for Ethernet (DLT_EN10MB, snapshot length 65535, \
                optimized), the same instructions as 'tcpdump -y EN10MB -dd'. As with \
                tcpdump, the words may be given quoted or not:

                  $ fbctl bpf filter tcp port 80 and not arp

                The compile is bounded (3 s, 512 MiB), as for 'fbctl set': an expression \
                beyond that is refused as too complex.
                """)
        @Argument(help: ArgumentHelp("A tcpdump filter expression (see pcap-filter(7)); its words are joined by spaces.",
                                     valueName: "expression"))
        var words: [String]
        @Option(help: "Output form: tuples, decimal (tcpdump -ddd), listing (tcpdump -d) or assembly.")
        var format: Format = .tuples

        func run() throws {
            let expression = words.joined(separator: " ")
            do {
                writeOut(format.render(try BPFProgram(boundedFilter: expression).instructions))
            } catch {
                printError("fbctl: bpf filter \(abbreviated(expression)): \(error)")
                throw ExitCode(1)
            }
        }
    }
}

/// Reads a program source for `words` from `file` (`-`: standard input);
/// exits 1 with the reason when it cannot.
func readProgramSource(_ file: String, _ words: String) throws -> String {
    guard let text = readAll(file == "-" ? nil : file) else {
        printError("fbctl: \(words): cannot read \(file == "-" ? "standard input" : file): \(String(cString: strerror(errno)))")
        throw ExitCode(1)
    }
    return text
}

/// The option `fbctl set` sends for `option` as typed: `bpf=@file`,
/// `bpf=-`, `filter=@file` and `filter=-` are replaced by the file's (or
/// standard input's) contents; anything else is sent unchanged, except:
///
/// - a tcpdump expression (`filter=`) is compiled here, bounded in time and
///   memory (``BoundedFilterCompiler``), and sent as `filter64=<program>
///   <expression>`: lanad never compiles one, so none can stall it;
/// - a program source longer than the control protocol allows for an
///   option (comments, long labels) is assembled and verified here and
///   sent as `bpf64=` (base64 instructions, at most 43,692 bytes for the
///   longest program).
///
/// What is refused here is reported as lanad would report it, and nothing
/// is sent.
func resolvedSetOption(_ option: String, words: String, runner: ToolRunner) throws -> String {
    guard let eq = option.firstIndex(of: "=") else { return option }
    let key = option[..<eq]
    let value = option[option.index(after: eq)...]
    guard case .string(let limit) = ControlAttribute.option.kind else { return option }
    guard key == "bpf" || key == "filter" else {
        guard option.utf8.count <= limit else { throw tooLong(option.utf8.count, limit, words, runner) }
        return option
    }
    var content = String(value)
    if value == "-" {
        content = try readProgramSource("-", words)
    } else if value.hasPrefix("@") {
        content = try readProgramSource(String(value.dropFirst()), words)
    }
    var sent = "\(key)=\(content)"
    if key == "filter" {
        // An expression file may end in a newline; libpcap would take it as
        // white space anyway, but `fbctl show` reads better without it.
        while content.last?.isNewline == true { content.removeLast() }
        do {
            sent = try CompiledFilterOption.make(content)
        } catch {
            throw runner.refusal(words, Errno(rawValue: EINVAL), "filter refused, the loaded program stays: \(error)")
        }
    } else if sent.utf8.count > limit {
        // The assembler's verdict comes first: a program that does not
        // assemble is reported as such, whatever its size.
        do {
            let program = try BPFProgram(source: content)
            sent = "bpf64=" + BPFProgram.base64Encoded(program.instructions)
        } catch {
            throw runner.refusal(words, Errno(rawValue: EINVAL), "program refused, the loaded one stays: \(error)")
        }
    }
    guard sent.utf8.count <= limit else { throw tooLong(sent.utf8.count, limit, words, runner) }
    return sent
}

private func tooLong(_ count: Int, _ limit: Int, _ words: String, _ runner: ToolRunner) -> ExitCode {
    runner.refusal(words, Errno(rawValue: EMSGSIZE), "the option is \(count) bytes long; lanad accepts at most \(limit)")
}
