import Glibc

/// A monotonic deadline for bounded waits.
public struct Deadline: Sendable {
    public let end: ContinuousClock.Instant

    public init(seconds: Double) {
        end = .now + .milliseconds(Int64(seconds * 1000))
    }

    public var hasPassed: Bool { ContinuousClock.now >= end }
    public var remaining: Duration { Swift.max(.zero, end - .now) }
}

/// Polls `condition` every `interval` seconds until it holds or `seconds`
/// pass; returns whether it held. For conditions that have no descriptor
/// to wait on: never a blind sleep in place of a condition.
@discardableResult
public func waitUntil(within seconds: Double, interval: Double = 0.005, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Deadline(seconds: seconds)
    while true {
        if try condition() { return true }
        if deadline.hasPassed { return false }
        usleep(useconds_t(interval * 1_000_000))
    }
}
