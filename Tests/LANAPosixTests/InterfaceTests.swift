import Glibc
import LANAPosix
import SystemPackage
import XCTest

final class InterfaceTests: VethTestCase {
    func testLooksUpIndexAddressMTUAndFlags() throws {
        let net = self.net!
        try Shell.run("ip", "-n", net.namespaceA, "link", "set", net.interfaceA, "mtu", "1400")
        try Shell.run("ip", "-n", net.namespaceA, "link", "set", net.interfaceA, "address", "02:12:34:56:78:9a")
        let interface = try net.runA { try Interface(named: net.interfaceA) }
        XCTAssertEqual(interface.name, net.interfaceA)
        XCTAssertGreaterThan(interface.index, 0)
        XCTAssertEqual(interface.mtu, 1400)
        XCTAssertEqual(interface.hardwareAddress.description, "02:12:34:56:78:9a")
        XCTAssertEqual(interface.hardwareAddress.bytes, [0x02, 0x12, 0x34, 0x56, 0x78, 0x9A])
        XCTAssertTrue(interface.isUp)
        XCTAssertTrue(interface.isRunning)
        XCTAssertTrue(interface.flags.contains(.broadcast))

        let byIndex = try net.runA { try Interface(index: interface.index) }
        XCTAssertEqual(byIndex, interface)
        let indexOnly = try net.runA { try Interface.index(named: net.interfaceA) }
        XCTAssertEqual(indexOnly, interface.index)
        XCTAssertEqual(try net.runA { Interface.linkState(index: interface.index) }, .running)
    }

    func testNamespacesAreRespected() throws {
        let net = self.net!
        // The test process's own namespace does not have the interface.
        XCTAssertThrowsError(try Interface(named: net.interfaceA)) { error in
            XCTAssertEqual(error as? Errno, .operationNotSupportedByDevice)
            XCTAssertTrue((error as? Errno)?.indicatesInterfaceGone ?? false)
        }
        // But a socket opened inside answers for its own namespace, from here.
        let socket = try net.runA { try PacketSocket(interfaceName: net.interfaceA) }
        XCTAssertEqual(try socket.interface().name, net.interfaceA)
        XCTAssertEqual(socket.linkState(), .running)
    }

    func testDownAndMissingInterfaces() throws {
        let net = self.net!
        try Shell.run("ip", "-n", net.namespaceA, "link", "set", net.interfaceA, "down")
        let interface = try net.runA { try Interface(named: net.interfaceA) }
        XCTAssertFalse(interface.isUp)
        XCTAssertFalse(interface.isRunning)
        XCTAssertEqual(try net.runA { Interface.linkState(index: interface.index) }, .down)
        XCTAssertEqual(try net.runA { Interface.linkState(index: 999_999) }, .gone)
        XCTAssertThrowsError(try net.runA { try Interface(named: "nosuch0") }) { error in
            XCTAssertEqual(error as? Errno, .operationNotSupportedByDevice)
        }
        XCTAssertThrowsError(try net.runA { try Interface(named: "far-too-long-a-name") })
    }

    func testMACAddressFormatting() {
        let address = MACAddress(rawValue: 0x0A0B_0C0D_0E0F)
        XCTAssertEqual(address.description, "0a:0b:0c:0d:0e:0f")
        let copy = MACAddress(address.bytes)
        XCTAssertEqual(copy, address)
    }
}
