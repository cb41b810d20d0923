import Foundation
import Glibc
import LANAControl
import LANATestSupport
import XCTest

/// The default policy against a real unprivileged process.
final class ControlPermissionTests: XCTestCase {
    /// A raw SOCK_SEQPACKET client: sends the hex-encoded request in argv[2]
    /// to the socket in argv[1] and prints each reply datagram in hex.
    private static let pythonClient = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(sys.argv[1])
        s.send(bytes.fromhex(sys.argv[2]))
        while True:
            d = s.recv(70000)
            if not d:
                break
            print(d.hex())
            if int.from_bytes(d[4:6], 'little') == 2:
                break
        """

    func testUnprivilegedPeerGetsEPERM() throws {
        guard getuid() == 0 else { throw UnmetRequirement("needs root to drop privileges with setpriv") }
        let setpriv = "/usr/bin/setpriv", python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: setpriv),
            FileManager.default.isExecutableFile(atPath: python)
        else { throw UnmetRequirement("needs setpriv and python3") }

        // 0666 so that uid 65534 can connect at all; the policy (root or
        // group "lana") must still refuse it.
        let group = "lana-test-\(getpid())"
        let server = try TestServer(configuration: .init(mode: 0o666, policy: .rootOrGroup(group)))
        defer { server.stop() }
        let request = try Command.add(name: "intruder", type: "dummy").encode(sequence: 4711)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: setpriv)
        process.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", Self.pythonClient,
            server.socketPath, request.map { String(format: "%02x", $0) }.joined(),
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)

        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "only an acknowledgement")
        let reply = try XCTUnwrap(lines.first.map { hexBytes(String($0)) })
        XCTAssertEqual(NetlinkHeader(parsing: reply)?.sequence, 4711)
        var decoder = ControlReplyDecoder(sequence: 4711, command: .add)
        guard case .reply(let decoded) = try decoder.decode(reply) else { return XCTFail("no reply") }
        XCTAssertEqual(decoded.error, .notPermitted)
        XCTAssertEqual(
            decoded.message, "permission denied: uid 65534 is not root (group \(group) does not exist)")
        XCTAssertTrue(server.seen.withLock { $0.isEmpty }, "the handler never saw the request")

        // Root itself is let in by the same policy.
        XCTAssertEqual(try server.client().send(.add(name: "c1", type: "dummy")), .ok)
    }

}
