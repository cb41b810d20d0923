import Glibc
import XCTest

@testable import LANAControl

/// The group lookups behind the default peer policy.
final class PeerCredentialsTests: XCTestCase {
    func testGroupLookup() {
        XCTAssertEqual(SystemGroups.groupID(named: "root"), 0)
        XCTAssertNil(SystemGroups.groupID(named: "lana-no-such-group-\(getpid())"))
    }

    func testSupplementaryGroupsFromProc() throws {
        let count = getgroups(0, nil)
        var expected = [gid_t](repeating: 0, count: Int(count))
        _ = getgroups(count, &expected)
        let groups = try XCTUnwrap(SystemGroups.supplementaryGroups(ofProcess: getpid()))
        XCTAssertEqual(Set(groups), Set(expected))
        XCTAssertNil(SystemGroups.supplementaryGroups(ofProcess: 0))
    }

    func testMembership() {
        let peer = PeerCredentials(processID: 1, userID: 5, groupID: 7, supplementaryGroups: [9, 11])
        XCTAssertTrue(peer.isMember(of: 7))
        XCTAssertTrue(peer.isMember(of: 11))
        XCTAssertFalse(peer.isMember(of: 5))
    }
}
