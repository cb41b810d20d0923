import CPcap
import Synchronization

/// Compiles `tcpdump` filter expressions (`tcp port 80 and not arp`) with
/// libpcap, for Ethernet frames: `pcap_open_dead(DLT_EN10MB, 65535)` and
/// `pcap_compile(…, optimize: 1, PCAP_NETMASK_UNKNOWN)` — the same
/// instructions as `tcpdump -y EN10MB -s 65535 -dd <expr>`.
///
/// libpcap's compiler keeps global state, so every call is serialized by
/// one process-wide lock.
public enum PcapFilterCompiler {
    /// The snapshot length the programs return for a match.
    public static let snapshotLength: Int32 = 65535

    private static let lock = Mutex(())

    /// The instructions for `expression`, or libpcap's error message.
    public static func compile(_ expression: String) throws(BPFSourceError) -> [BPFInstruction] {
        let result: Result<[BPFInstruction], BPFSourceError> = lock.withLock { _ in
            guard let pcap = pcap_open_dead(DLT_EN10MB, snapshotLength) else {
                return .failure(BPFSourceError("libpcap: pcap_open_dead failed"))
            }
            defer { pcap_close(pcap) }
            var program = bpf_program()
            let status = pcap_compile(pcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN)
            guard status == 0 else {
                let message = pcap_geterr(pcap).map { String(cString: $0) } ?? "unknown error"
                return .failure(BPFSourceError("tcpdump expression: \(message)"))
            }
            defer { pcap_freecode(&program) }
            let count = Int(program.bf_len)
            var out: [BPFInstruction] = []
            out.reserveCapacity(count)
            if let insns = program.bf_insns {
                for i in 0..<count {
                    let insn = insns[i]
                    out.append(BPFInstruction(code: insn.code, jt: insn.jt, jf: insn.jf, k: insn.k))
                }
            }
            return .success(out)
        }
        return try result.get()
    }
}

extension BPFProgram {
    /// Compiles a `tcpdump` expression with libpcap (``PcapFilterCompiler``)
    /// and verifies the result.
    public init(filter expression: String) throws(BPFSourceError) {
        let instructions = try PcapFilterCompiler.compile(expression)
        do {
            try self.init(instructions)
        } catch {
            throw BPFSourceError(error)
        }
    }
}
