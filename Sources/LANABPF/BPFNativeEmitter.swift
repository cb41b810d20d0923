/// Translates a decoded, verified program into one architecture's machine
/// code for ``BPFNativeCode``.
///
/// An emitter receives the unfused steps of ``BPFCompiledProgram`` (jump
/// targets absolute, constant packet offsets resolved, extensions
/// classified) and returns position-independent code for a function with
/// the C calling convention of ``BPFNativeFunction``. The code must keep
/// the interpreter's semantics exactly: every packet load checked against
/// the length (a failed check returns 0), division or modulo by X = 0
/// returns 0, `M[]` in the caller's scratch words, extensions read from the
/// ``BPFEnvironment`` (the complex ones through ``BPFNativeCode/helper``).
///
/// Adding an architecture is adding a type conforming to this protocol and
/// a line in ``BPFNativeTarget/emitter``.
protocol BPFNativeEmitter {
    /// Machine code for `steps` (a verified program's unfused steps), or
    /// `nil` if this emitter cannot translate the program; the interpreter
    /// then runs it.
    static func emit(_ steps: [BPFCompiledInstruction]) -> [UInt8]?
}

/// The emitter for the machine this process runs on, if there is one.
enum BPFNativeTarget {
    static var emitter: (any BPFNativeEmitter.Type)? {
        #if arch(x86_64) && os(Linux)
        return BPFX86_64Emitter.self
        #else
        return nil
        #endif
    }

    /// Whether programs can run as native code here.
    static var isAvailable: Bool { emitter != nil }
}

/// Which machine runs a compiled program.
public enum BPFMachine: String, Sendable {
    /// Machine code generated for this processor (``BPFNativeCode``).
    case native = "jit"
    /// The pre-decoded interpreter.
    case interpreter

    /// Whether this process can run programs as native code (x86-64 Linux).
    public static var nativeAvailable: Bool { BPFNativeTarget.isAvailable }
}
