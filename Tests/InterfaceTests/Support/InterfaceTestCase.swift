import Foundation
import Glibc
import LANABlocks
import LANACore
import LANAPosix
import LANATestSupport
import XCTest

/// Base class: a fresh pair of namespaces per test, a work directory, and
/// every process the test started, all torn down in `tearDown` whether the
/// test passed or not.
class InterfaceTestCase: XCTestCase, @unchecked Sendable {
    var net: TestNetwork!
    var work: String!
    var daemon: Lanad?
    private var children: [ChildProcess] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        try requireNamespaceHost()
        work = NSTemporaryDirectory() + "lana-iftest-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try PeerScripts.install(in: work)
        net = try TestNetwork()
    }

    override func tearDownWithError() throws {
        for c in children.reversed() { c.stop(first: SIGINT, grace: 2) }
        children = []
        if let daemon {
            daemon.stop()
            if (testRun?.totalFailureCount ?? 0) > 0 {
                print("lanad log (\(daemon.runDirectory)):\n\(daemon.log)")
            }
        }
        daemon = nil
        net?.destroy()
        net = nil
        if let work { try? FileManager.default.removeItem(atPath: work) }
        try super.tearDownWithError()
    }

    /// Starts lanad (two engines by default) in the daemon namespace.
    @discardableResult
    func startDaemon(engines: Int = 2, options: [String] = []) throws -> Lanad {
        let d = try Lanad(namespace: net.daemonNamespace, workDirectory: work, engines: engines, options: options)
        daemon = d
        return d
    }

    /// Starts a process inside the peer namespace; stopped in tearDown.
    func spawnInPeer(_ name: String, _ arguments: [String]) throws -> ChildProcess {
        let child = try ChildProcess(name: name, arguments: [try Shell.which("ip"), "netns", "exec", net.peerNamespace] + arguments,
                                     logDirectory: work)
        children.append(child)
        return child
    }

    /// Starts `tcpdump` on `peer` (in the peer namespace) writing the next
    /// `count` frames of our EtherType to `file`, and waits until it listens.
    func captureOnPeer(_ peer: String, count: Int, into file: String) throws -> ChildProcess {
        let tcpdump = try spawnInPeer("tcpdump", [
            try Shell.which("tcpdump"), "-i", peer, "-n", "-U", "-s", "0", "-B", "65536",
            "-c", String(count), "-w", file, "ether proto 0x88b5",
        ])
        XCTAssertTrue(waitUntil(within: 10) { tcpdump.stderr.contains("listening on") || !tcpdump.isRunning },
                      "tcpdump: \(tcpdump.stderr)")
        XCTAssertTrue(tcpdump.isRunning, tcpdump.stderr)
        return tcpdump
    }

    /// What `vlink ethernet hook` does in `lanad`, in this process: the
    /// ethernet device kind opens its sockets inside the daemon namespace
    /// and the registry attaches it. For tests that drive the graph
    /// themselves (no block of the daemon turns frames around, and there is
    /// no injector command).
    func hookInProcess(_ ifname: String, registry: Registry, engineCount: Int) throws -> (block: EthBlock, idp: IDP) {
        registry.register(EthernetDevice.kind)
        let idp = try inNamespace(net.daemonNamespace) { () throws -> IDP in
            try registry.attach(kind: EthernetDevice.kind.name, name: ifname)
        }
        let block = try XCTUnwrap(registry.block(named: ifname) as? EthBlock)
        return (block, idp)
    }

    /// Runs the frame sender in the peer namespace to completion and
    /// returns how many frames it reports sent.
    @discardableResult
    func sendFromPeer(_ link: String, count: Int, sizes: [Int], kind: PeerScripts.Kind = .custom,
                      flows: Int = 1, firstSequence: Int = 0, timeout: Double = 30) throws -> Int {
        let r = try Shell.run(["ip", "netns", "exec", net.peerNamespace, try Shell.which("python3"), work + "/send.py",
                               link, String(count), sizes.map(String.init).joined(separator: ","), kind.rawValue,
                               String(flows), String(firstSequence)],
                              timeout: timeout, logDirectory: work)
        guard r.status == 0, let sent = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CommandFailure(description: "send.py failed: \(r)")
        }
        return sent
    }
}

/// Scripts the peer runs: deliberately plain Python on plain AF_PACKET
/// sockets, independent of the code under test.
enum PeerScripts {
    enum Kind: String {
        /// EtherType 0x88B5 (local experimental): the host stack drops it.
        case custom
        /// IPv4/UDP with a valid header checksum, addresses and ports
        /// varying with the flow, to a MAC that is not the host's.
        case udp
    }

    static let etherType: UInt16 = 0x88B5

    static let send = #"""
import socket, struct, sys, time, errno

def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def frame(kind, seq, size, flow):
    dst, src = b'\x02\x00\x00\x00\x00\x02', b'\x02\x00\x00\x00\x00\x01'
    if kind == 'udp':
        total = size - 14
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, seq & 0xFFFF, 0x4000, 64, 17, 0,
                         bytes([10, (flow >> 16) & 0xFF, (flow >> 8) & 0xFF, flow & 0xFF]),
                         bytes([10, 200, (flow >> 8) & 0xFF, (flow * 7) & 0xFF]))
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        udp = struct.pack('!HHHH', 1024 + flow % 50000, 9000 + flow % 1000, total - 20, 0)
        head = dst + src + b'\x08\x00' + ip + udp + struct.pack('!II', flow, seq)
    else:
        head = dst + src + b'\x88\xb5' + struct.pack('!I', seq)
    # byte i of the frame (from the end of the header on) is (seq*131 + i*7) mod 256
    body = BASE[len(head):size].translate(TABLES[(seq * 131) & 0xFF])
    return (head + body)[:size]

BASE = bytes((i * 7) & 0xFF for i in range(4096))
TABLES = [bytes((b + k) & 0xFF for b in range(256)) for k in range(256)]

ifname, count = sys.argv[1], int(sys.argv[2])
sizes = [int(x) for x in sys.argv[3].split(',')]
kind = sys.argv[4]
flows = int(sys.argv[5]) if len(sys.argv) > 5 else 1
first = int(sys.argv[6]) if len(sys.argv) > 6 else 0
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
s.bind((ifname, 0))
sent = 0
deadline = time.monotonic() + 60
for i in range(count):
    seq = first + i
    size = sizes[i % len(sizes)]
    f = frame(kind, seq, size, i % flows)
    while True:
        try:
            s.send(f)
            break
        except OSError as e:
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN) or time.monotonic() > deadline:
                raise
            time.sleep(0.0005)
    sent += 1
print(sent)
"""#

    static func install(in directory: String) throws {
        try send.write(toFile: directory + "/send.py", atomically: true, encoding: .utf8)
    }

    /// The frame `send.py` sends as number `seq` (for byte-for-byte checks).
    static func customFrame(sequence seq: UInt32, size: Int) -> [UInt8] {
        var f: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xB5]
        f += withUnsafeBytes(of: seq.bigEndian) { Array($0) }
        while f.count < size { f.append(UInt8(truncatingIfNeeded: Int(seq) &* 131 &+ f.count &* 7)) }
        return f
    }
}
