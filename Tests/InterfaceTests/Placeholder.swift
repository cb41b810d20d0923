import XCTest
final class PlaceholderInterfaceTests: XCTestCase { func testNothing() {} }
