import Foundation
import Glibc
import LANAControl

/// Waits until the state files under `runDirectory` have caught up with the
/// registry: the file `version` reaches the registry version that a LIST
/// reply names now (docs/design.md §2, refresh rule). A test calls this
/// before it reads a state file, so that it reads what the operations it
/// made produced, and a test that asserts "nothing changed" compares
/// against files that would show a change.
///
/// - Returns: `nil` when the files caught up (or no lanad answers, so there
///   is nothing to wait for); otherwise why not, for the test to report.
public func waitForStateFiles(runDirectory: String, timeout: Duration = .seconds(5)) -> String? {
    // No lanad answering: no operation can be waiting to show.
    guard let client = try? ControlClient(socketPath: runDirectory + "/control", timeout: .seconds(5)) else { return nil }
    let target: UInt64
    do {
        guard let version = try client.send(.list).registryVersion else { return "the LIST reply names no registry version" }
        target = version
    } catch {
        return "cannot ask lanad for its registry version: \(error)"
    }
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var shown: UInt64?
    while true {
        shown = (try? String(contentsOfFile: runDirectory + "/version", encoding: .utf8))
            .flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        if let shown, shown >= target { return nil }
        if clock.now >= deadline {
            return "state files show registry version \(shown.map(String.init) ?? "none"), lanad is at \(target)"
        }
        usleep(1_000)
    }
}
