import Glibc
import LANATestSupport
import XCTest

/// A test case that gets a fresh veth pair between two fresh namespaces
/// for every test and always deletes them afterwards, whether the test
/// passed, failed or threw.
class VethTestCase: XCTestCase {
    var net: VethPair!

    override func setUpWithError() throws {
        try super.setUpWithError()
        try require(getuid() == 0, "needs root for namespaces and packet sockets")
        net = try VethPair()
    }

    override func tearDown() {
        net?.destroy()
        net = nil
        super.tearDown()
    }
}
