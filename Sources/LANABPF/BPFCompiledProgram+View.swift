// Unsafe code: a non-owning view of a compiled program for the data path.
//
// Invariants
// - A view is made only from a live `BPFCompiledProgram` and points at its
//   immutable `code`; it does not keep the program alive. Whoever hands a
//   view to another thread keeps the program alive for as long as that
//   thread may run the view (BpfBlock: until a grace period after the view
//   was replaced).
// - `run` requires `scratch` to point at 16 writable words that no other
//   thread uses during the call. Their contents before the call do not
//   matter: the verifier rejects programs that read a scratch cell no path
//   has written.
// - Everything else (bounds of packet loads, jump targets) is the
//   invariants of BPFCompiledProgram.swift and, for `native`, of
//   BPFNativeCode.swift and the emitter: `run` executes the same code.

/// A program's compiled code without ownership or reference counting, so
/// that an engine can keep it in a plain struct and run it per packet
/// without ARC traffic.
public struct BPFCompiledProgramView: @unchecked Sendable {
    @usableFromInline let code: UnsafeMutablePointer<BPFCompiledInstruction>
    @usableFromInline let count: Int
    /// The result of a program that starts with `ret #k` (`ret #0`, the
    /// pass-all default), or a value above `UInt32.max`: such programs need
    /// no machine at all.
    @usableFromInline let constantResult: UInt64
    /// The program's machine code, if it has some (see
    /// BPFNativeCode.swift); it runs instead of the interpreter.
    @usableFromInline let native: BPFNativeFunction?

    init(code: UnsafeMutablePointer<BPFCompiledInstruction>, count: Int, native: BPFNativeFunction?) {
        self.code = code
        self.count = count
        self.native = native
        constantResult = code[0].op == .retK ? UInt64(code[0].k) : UInt64.max
    }

    /// Whether ``run(_:length:_:scratch:)`` runs machine code.
    public var isNative: Bool { native != nil }

    /// Runs the program over `length` bytes at `packet`, using `scratch`
    /// (16 words) for `M[]`. Returns the program's result: 0 means no match.
    @inlinable
    public func run(_ packet: UnsafeRawPointer, length: Int, _ environment: inout BPFEnvironment,
                    scratch: UnsafeMutablePointer<UInt32>) -> UInt32 {
        if constantResult <= UInt64(UInt32.max) { return UInt32(truncatingIfNeeded: constantResult) }
        if let native { return native(packet, length, &environment, scratch) }
        return bpfExecute(code, count, packet, length, &environment, scratch)
    }
}

/// The machine, as a free function: calling a static method of the class
/// from inlined code would fetch the class's metadata on every packet.
@usableFromInline
func bpfExecute(_ code: UnsafeMutablePointer<BPFCompiledInstruction>, _ count: Int, _ packet: UnsafeRawPointer,
                _ length: Int, _ environment: inout BPFEnvironment, _ scratch: UnsafeMutablePointer<UInt32>) -> UInt32 {
    BPFCompiledProgram.execute(code, count, packet, length, &environment, scratch)
}

extension BPFCompiledProgram {
    /// A view of this program's code (machine code if it has some); valid
    /// only while this object lives.
    public var unownedView: BPFCompiledProgramView {
        BPFCompiledProgramView(code: code, count: count, native: native?.entry)
    }

    /// A view that runs the interpreter even if the program has machine
    /// code (for comparing the two).
    public var interpreterView: BPFCompiledProgramView {
        BPFCompiledProgramView(code: code, count: count, native: nil)
    }
}

/// The machine reads the current step through its pointer, one field when
/// needed, rather than copying all 16 bytes first (which measurably
/// lengthens the chain from one step to the next).
extension UnsafeMutablePointer where Pointee == BPFCompiledInstruction {
    @inline(__always) var op: BPFOperation { pointee.op }
    @inline(__always) var k: UInt32 { pointee.k }
    @inline(__always) var k2: UInt32 { pointee.k2 }
    @inline(__always) var jt: UInt16 { pointee.jt }
    @inline(__always) var jf: UInt16 { pointee.jf }
}
