// Unsafe code: executable memory holding a program's machine code.
//
// Invariants
// - A mapping is never writable and executable at once: it is mapped
//   read-write, filled, then `mprotect`ed read-execute before its address
//   is turned into a function pointer; it is never made writable again and
//   is unmapped in `deinit`.
// - The bytes come only from a ``BPFNativeEmitter`` run over a verified
//   program (see the emitter's invariants): the code reads the packet only
//   inside `[0, length)`, scratch memory only inside its 16 words, the
//   environment only at `MemoryLayout<BPFEnvironment>` field offsets, and
//   always returns.
// - `entry` is valid only while this object lives. Engines get it through a
//   ``BPFCompiledProgramView``, whose owner keeps this object alive for as
//   long as an engine may run the view (BpfBlock: the configuration in the
//   dispatch snapshot, freed after the grace period).
// - `helper` is called by the generated code for `#rand`, `#poff`, `#nla`
//   and `#nlan` with the machine's packet, length and environment: the
//   same pointers the caller passed in.
import Glibc

/// The signature of generated code: packet, length, environment, scratch
/// memory (16 words); returns the program's result.
public typealias BPFNativeFunction = @convention(c) (
    UnsafeRawPointer?, Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt32>?
) -> UInt32

/// A program translated to machine code, in memory of its own.
public final class BPFNativeCode: @unchecked Sendable {
    private let region: UnsafeMutableRawPointer
    private let mappedSize: Int
    /// Bytes of code at the start of the mapping.
    public let size: Int
    /// The code, as a C function.
    public let entry: BPFNativeFunction

    /// Maps `code` executable; `nil` if the system refuses (the caller
    /// falls back to the interpreter).
    init?(_ code: [UInt8]) {
        let page = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)
        let length = max(1, (code.count + page - 1) / page) * page
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else { return nil }
        code.withUnsafeBytes { mapped.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        guard mprotect(mapped, length, PROT_READ | PROT_EXEC) == 0 else {
            munmap(mapped, length)
            return nil
        }
        region = mapped
        mappedSize = length
        size = code.count
        entry = unsafeBitCast(mapped, to: BPFNativeFunction.self)
    }

    deinit { munmap(region, mappedSize) }

    /// The generated machine code (for disassembly).
    public var machineCode: [UInt8] { Array(UnsafeRawBufferPointer(start: region, count: size)) }

    /// Runs the code over `length` bytes at `packet`, with `scratch` for `M[]`.
    @inlinable
    public func run(_ packet: UnsafeRawPointer, length: Int, _ environment: inout BPFEnvironment,
                    scratch: UnsafeMutablePointer<UInt32>) -> UInt32 {
        entry(packet, length, &environment, scratch)
    }

    /// The extensions generated code calls out for: `which` is the
    /// ``BPFAncillary`` raw value; the rest is the machine's state.
    static let helper: @convention(c) (UInt32, UInt32, UInt32, UnsafeRawPointer?, Int, UnsafeMutableRawPointer?) -> UInt32 = {
        which, a, x, packet, length, environment in
        let env = environment!.assumingMemoryBound(to: BPFEnvironment.self)
        return BPFCompiledProgram.ancillary(BPFAncillary(rawValue: which)!, a, x, packet ?? UnsafeRawPointer(bitPattern: 1)!,
                                            length, &env.pointee)
    }

    /// The helper's address, for the emitters.
    static var helperAddress: UInt64 { UInt64(UInt(bitPattern: unsafeBitCast(helper, to: Int.self))) }
}
