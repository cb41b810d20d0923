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
