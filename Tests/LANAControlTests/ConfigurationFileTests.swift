import LANACore
import SystemPackage
import XCTest

import LANAControl

/// The parser of configuration files (`fbctl apply`, `lanad --config`).
final class ConfigurationFileTests: XCTestCase {
    /// A line and the command it makes.
    static let accepted: [(String, BatchCommand)] = [
        ("fbctl add a counter", .graph(.add(name: "a", type: "counter"))),
        ("  fbctl add 'c d' tee   # trailing comment", .graph(.add(name: "c d", type: "tee"))),
        (#"fbctl add "q\"x" dummy"#, .graph(.add(name: #"q"x"#, type: "dummy"))),
        (#"fbctl add a\ b dummy"#, .graph(.add(name: "a b", type: "dummy"))),
        ("fbctl rm a", .graph(.remove(name: "a"))),
        ("fbctl set a reset=1", .graph(.set(name: "a", option: "reset=1"))),
        ("fbctl set f filter=arp or icmp", .graph(.set(name: "f", option: "filter=arp or icmp"))),
        ("fbctl set f 'filter=tcp port 80'", .graph(.set(name: "f", option: "filter=tcp port 80"))),
        ("fbctl bind a b", .graph(.bind(upper: "a", lower: "b", port: nil))),
        ("fbctl bind a b up.clone", .graph(.bind(upper: "a", lower: "b", port: "up.clone"))),
        ("fbctl unbind a b", .graph(.unbind(upper: "a", lower: "b"))),
        ("fbctl replace x y", .graph(.replace(old: "x", new: "y", dropState: false))),
        ("fbctl replace-drop x y", .graph(.replace(old: "x", new: "y", dropState: true))),
        ("fbctl replace_drop x y", .graph(.replace(old: "x", new: "y", dropState: true))),
        ("fbctl subscribe p s", .graph(.subscribe(publisher: "p", subscriber: "s"))),
        ("fbctl unsubscribe p s", .graph(.unsubscribe(publisher: "p", subscriber: "s"))),
        ("vlink ethernet hook eth0", .hook(interface: "eth0")),
        ("vlink ethernet hook 'a#b'", .hook(interface: "a#b")),
    ]

    /// A line and its refusal: errno and message.
    static let refused: [(String, Errno, String)] = [
        ("fbctl frob q", .invalidArgument,
         "unknown fbctl command 'frob' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)"),
        ("fbctl replace_dro q r", .invalidArgument,
         "unknown fbctl command 'replace_dro' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)"),
        ("fbctl ad b dummy", .invalidArgument,
         "unknown fbctl command 'ad' (expected add, rm, set, bind, unbind, replace, replace-drop, subscribe, unsubscribe)"),
        ("fbctl add q", .invalidArgument, "expected 'fbctl add <name> <type>'"),
        ("fbctl rm", .invalidArgument, "expected 'fbctl rm <name>'"),
        ("fbctl set a reset=1 more", .invalidArgument, "expected 'fbctl set <name> <key>=<value>'"),
        ("fbctl bind a b up.clone extra", .invalidArgument, "expected 'fbctl bind <upper> <lower> [<port>]'"),
        ("fbctl replace-drop x", .invalidArgument, "expected 'fbctl replace-drop <old> <new>'"),
        ("fbctl list", .invalidArgument, "'fbctl list' does not change the graph and cannot be applied"),
        ("fbctl show a", .invalidArgument, "'fbctl show' does not change the graph and cannot be applied"),
        ("fbctl apply other.conf", .invalidArgument, "'fbctl apply' does not change the graph and cannot be applied"),
        ("fbctl", .invalidArgument, "expected 'fbctl <command> …' or 'vlink ethernet <command> …'"),
        ("ip link", .invalidArgument, "a line must start with 'fbctl' or 'vlink', not 'ip'"),
        ("vlink wifi hook w0", .invalidArgument, "unknown vlink subsystem 'wifi' (expected ethernet)"),
        ("vlink ethernet", .invalidArgument, "expected 'vlink ethernet hook|unhook|add|rm …'"),
        ("vlink ethernet hook", .invalidArgument, "expected 'vlink ethernet hook <ifname>'"),
        ("vlink ethernet plug eth0", .invalidArgument, "unknown vlink ethernet command 'plug' (expected hook, unhook, add, rm)"),
        ("vlink ethernet unhook eth0", .notSupportedOnSocket, "only 'vlink ethernet hook' can be applied from a file"),
        ("vlink ethernet add v eth0 7", .notSupportedOnSocket, "only 'vlink ethernet hook' can be applied from a file"),
        ("vlink ethernet add v eth0 1024", .invalidArgument, "tag '1024': expected a number from 0 to 1023"),
        ("fbctl add 'q dummy", .invalidArgument, "unterminated quote"),
        (#"fbctl add q dummy\"#, .invalidArgument, "line ends in a backslash"),
    ]

    func testEveryAcceptedLineMakesItsCommand() throws {
        for (line, command) in Self.accepted {
            let file = try ConfigurationFile(parsing: line)
            XCTAssertEqual(file.commands, [command], line)
        }
    }

    func testEveryRefusedLineIsNamedWithItsNumber() {
        for (line, errno, message) in Self.refused {
            let text = "# first\n\n" + line + "\nfbctl add later dummy\n"
            XCTAssertThrowsError(try ConfigurationFile(parsing: text), line) { error in
                guard let error = error as? ConfigurationFile.LineError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.errno, errno, line)
                XCTAssertEqual(error.description, "line 3: \(line.trimmingCharacters(in: .whitespaces)): \(message)")
            }
        }
    }

    func testLineNumbersSkipCommentsAndBlankLines() throws {
        let file = try ConfigurationFile(parsing: "# c\n\n  fbctl add a dummy\n\t\nfbctl bind a b # x\n")
        XCTAssertEqual(file.lines.map(\.number), [3, 5])
        XCTAssertEqual(file.lines.map(\.text), ["fbctl add a dummy", "fbctl bind a b # x"])
        XCTAssertEqual(try ConfigurationFile(parsing: "# nothing\n\n").commands, [])
        // lanad names a refused command by index; it is told as its line.
        let refusal = file.refusal(ofCommand: 1, .init(.noSuchFileOrDirectory, "no block named b"))
        XCTAssertEqual(refusal.description, "line 5: fbctl bind a b # x: no block named b")
    }

    func testFiltersAreCompiledOnlyInSetFilterLines() throws {
        let file = try ConfigurationFile(parsing: "fbctl set f filter=arp or icmp\nfbctl set g 'bpf=ret #1'\nfbctl add filter=x dummy\n")
        let compiled = try file.compilingFilters { expression throws(ConfigurationFile.Refusal) in "filter64=AAAA \(expression)" }
        XCTAssertEqual(compiled.commands, [
            .graph(.set(name: "f", option: "filter64=AAAA arp or icmp")),
            .graph(.set(name: "g", option: "bpf=ret #1")),
            .graph(.add(name: "filter=x", type: "dummy")),
        ])
        XCTAssertThrowsError(try file.compilingFilters { _ throws(ConfigurationFile.Refusal) in
            throw .init(.invalidArgument, "filter refused: syntax error")
        }) { error in
            XCTAssertEqual((error as? ConfigurationFile.LineError)?.description,
                           "line 1: fbctl set f filter=arp or icmp: filter refused: syntax error")
        }
    }
}
