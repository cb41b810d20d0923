import LANABPF
import XCTest

/// The machines a program can run on, for tests that hold each of them to
/// the same oracle: the interpreter (fused and unfused steps) and, where
/// this processor has an emitter, native code.
enum BPFMachines {
    /// `program` compiled for every machine under test.
    static func all(_ program: BPFProgram, file: StaticString = #filePath, line: UInt = #line) -> [BPFCompiledProgram] {
        var machines = [BPFCompiledProgram(program), BPFCompiledProgram(program, fuse: false)]
        if BPFMachine.nativeAvailable { machines.append(native(program, file: file, line: line)) }
        return machines
    }

    /// `program` as native code; a failure if it did not compile.
    static func native(_ program: BPFProgram, file: StaticString = #filePath, line: UInt = #line) -> BPFCompiledProgram {
        let compiled = BPFCompiledProgram(program, native: true)
        XCTAssertNotNil(compiled.native, "no native code for\n\(program.tuples)", file: file, line: line)
        return compiled
    }

    /// A label for failure messages.
    static func name(_ compiled: BPFCompiledProgram) -> String {
        compiled.native != nil ? "native code" : "interpreter"
    }
}
