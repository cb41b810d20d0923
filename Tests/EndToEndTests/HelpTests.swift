import Foundation
import Glibc
import XCTest

/// Help lists only what works: a command the daemon would answer with
/// EOPNOTSUPP is not offered.
final class HelpTests: XCTestCase {
    /// The subcommand names of a help text's SUBCOMMANDS section.
    private func subcommands(_ help: String) -> [String] {
        let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "SUBCOMMANDS:") else { return [] }
        return lines[(start + 1)...].prefix { !$0.isEmpty }.compactMap { line in
            // "  name    summary"; continuation lines are indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }
    }

    func testVlinkHelpOffersOnlyHookAndUnhook() throws {
        try Binaries.require()
        let top = runProgram(Binaries.vlink, ["--help"])
        XCTAssertEqual(top.status, 0, "\(top)")
        XCTAssertEqual(subcommands(top.stdout), ["ethernet"], top.stdout)
        XCTAssertFalse(top.stdout.contains("virtual link"), "no virtual links are offered: \(top.stdout)")
        XCTAssertTrue(top.stdout.contains("ethernet                Ethernet interfaces: hook, unhook.\n"), top.stdout)

        let ethernet = runProgram(Binaries.vlink, ["ethernet", "--help"])
        XCTAssertEqual(ethernet.status, 0, "\(ethernet)")
        XCTAssertEqual(subcommands(ethernet.stdout), ["hook", "unhook"], ethernet.stdout)
        XCTAssertTrue(ethernet.stdout.contains("OVERVIEW: Ethernet interfaces: hook, unhook.\n"), ethernet.stdout)
        XCTAssertFalse(ethernet.stdout.contains("tagged"), ethernet.stdout)
    }
}
