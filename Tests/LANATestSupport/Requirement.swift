import XCTest

/// A test's precondition about the machine (root, a Debian tool, a network
/// namespace) that does not hold.
///
/// Thrown instead of `XCTSkip`: the test command installs and provides all
/// of these, so a missing one is a broken set-up that must show as a
/// failure, never as a silently skipped, green test.
public struct UnmetRequirement: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = "unmet test requirement: " + description }
}

/// Throws ``UnmetRequirement`` unless `condition` holds.
public func require(_ condition: @autoclosure () throws -> Bool, _ message: @autoclosure () -> String) throws {
    if try !condition() { throw UnmetRequirement(message()) }
}

/// What a test that runs `lanad` in network namespaces needs: root, and the
/// tools built beside the test bundle.
public func requireNamespaceHost() throws {
    try require(getuid() == 0, "needs root (network namespaces, AF_PACKET)")
    try require(BuildProducts.available,
                "lanad/fbctl/vlink not found beside the test bundle in \(BuildProducts.directory): run swift build --build-tests")
}
