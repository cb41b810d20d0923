import Foundation
import Glibc
import LANAPosix
import Synchronization
import XCTest

/// Receive and transmit rates over a veth pair, following
/// Shared/notes/benchmarking.md: sender pinned on CPU 0 (the veth's receive
/// work, including the copy into the ring, runs there too), receiver pinned
/// on CPU 1, custom EtherType, 60-byte frames (64 on the wire with FCS).
///
/// Opt-in, in release mode:
///
///     LANA_POSIX_BENCH=1 swift test -c release --filter PacketBenchmarkTests
///
/// Optional `LANA_POSIX_BENCH_C_RECEIVER=/path/to/rxref` runs a C TPACKET_V3
/// receiver (arguments `IFNAME WARMUP WINDOW`, printing
/// `frames N seconds S cpu_ns_per_frame C`) interleaved with ours.
final class PacketBenchmarkTests: VethTestCase {
    private let warmUp = 1.5
    private let window = 3.0

    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["LANA_POSIX_BENCH"] != nil,
                          "set LANA_POSIX_BENCH=1 to run the packet benchmarks")
        try XCTSkipUnless(CPUAffinity.onlineCPUs().cpus.count >= 2, "needs two CPUs")
        try super.setUpWithError()
    }

    func testReceiveAndTransmitRates() throws {
        let reference = ProcessInfo.processInfo.environment["LANA_POSIX_BENCH_C_RECEIVER"]
        var report: [String] = []
        for round in 1...3 {
            let full = try measure(rate: nil)
            report.append(String(format:
                "round %d full speed: tx %.0f fps (ringFull %d), rx %.0f fps, ring drops %d, rx cpu %.1f ns/frame",
                round, full.transmitRate, full.ringFull, full.receiveRate, full.drops, full.receiveCPU))
            let paced = try measure(rate: 200_000)
            report.append(String(format:
                "round %d paced 200k: tx %.0f fps, rx %.0f fps, ring drops %d, rx cpu %.1f ns/frame (Swift ring)",
                round, paced.transmitRate, paced.receiveRate, paced.drops, paced.receiveCPU))
            if let reference {
                let c = try measureReference(reference, rate: 200_000)
                report.append("round \(round) paced 200k: C reference receiver: \(c)")
            }
        }
        for round in 1...3 {
            if let sink = try measureTransmitToSink() {
                report.append(String(format:
                    "round %d tx to ifb sink: %.0f fps, sender cpu %.1f ns/frame (incl. kernel)",
                    round, sink.rate, sink.cpu))
            }
        }
        for line in report { print("BENCH \(line)") }
    }

    /// Transmit alone: an ifb device frees locally sent frames at once, so
    /// this is the cost of our batched path plus the kernel's send path,
    /// not bounded by a veth peer's receive work.
    private func measureTransmitToSink() throws -> (rate: Double, cpu: Double)? {
        let net = self.net!
        let sink = "lb\(net.tag)i"
        guard (try? Shell.run("ip", "-n", net.namespaceA, "link", "add", sink, "type", "ifb")) != nil else {
            return nil
        }
        defer { try? Shell.run("ip", "-n", net.namespaceA, "link", "del", sink, ignoringFailure: true) }
        try Shell.run("ip", "-n", net.namespaceA, "link", "set", sink, "up")
        let transmitter = try net.runA { try PacketTransmitter(interfaceName: sink) }
        let sent = try onThread { () -> (Double, Double) in
            try CPUAffinity.pinCurrentThread(to: 0)
            let frame = TestFrames.frame(sequence: 0, size: 60)
            return frame.withUnsafeBytes { bytes in
                let deadline = monotonicSeconds() + 3
                let startCPU = threadCPUSeconds()
                let startTime = monotonicSeconds()
                let startCount = transmitter.statistics.submitted
                while monotonicSeconds() < deadline {
                    for _ in 0..<32 {
                        if !transmitter.enqueue(bytes) { break }
                    }
                    _ = try? transmitter.flush()
                }
                let frames = Double(transmitter.statistics.submitted - startCount)
                return (frames / (monotonicSeconds() - startTime),
                        (threadCPUSeconds() - startCPU) * 1e9 / frames)
            }
        }
        return (sent.0, sent.1)
    }

    struct Result {
        var transmitRate = 0.0
        var receiveRate = 0.0
        var receiveCPU = 0.0
        var drops: UInt64 = 0
        var ringFull: UInt64 = 0
    }

    /// Phases shared by the threads: 0 warm-up, 1 measuring, 2 stop.
    final class Control: Sendable {
        let phase = Atomic<Int>(0)
    }

    final class Outcome: @unchecked Sendable {
        var frames = 0
        var seconds = 0.0
        var cpuSeconds = 0.0
        var drops: UInt64 = 0
        var ringFull: UInt64 = 0
    }

    private func measure(rate: Double?) throws -> Result {
        let net = self.net!
        let socket = try net.runA { try PacketSocket(interfaceName: net.interfaceA) }
        let transmitter = try net.runB { try PacketTransmitter(interfaceName: net.interfaceB) }
        let control = Control()
        let received = Outcome()
        let sent = Outcome()
        let finished = DispatchGroup()

        finished.enter()
        Thread {
            defer { finished.leave() }
            PacketBenchmarkTests.receive(socket, control: control, into: received)
        }.start()
        finished.enter()
        Thread {
            defer { finished.leave() }
            PacketBenchmarkTests.transmit(transmitter, rate: rate, control: control, into: sent)
        }.start()

        usleep(UInt32(warmUp * 1e6))
        control.phase.store(1, ordering: .relaxed)
        usleep(UInt32(window * 1e6))
        control.phase.store(2, ordering: .relaxed)
        finished.wait()

        var result = Result()
        result.transmitRate = Double(sent.frames) / sent.seconds
        result.receiveRate = Double(received.frames) / received.seconds
        result.receiveCPU = received.cpuSeconds * 1e9 / Double(max(received.frames, 1))
        result.drops = try socket.statistics().drops
        result.ringFull = sent.ringFull
        return result
    }

    private static func receive(_ socket: PacketSocket, control: Control, into outcome: Outcome) {
        try? CPUAffinity.pinCurrentThread(to: 1)
        guard let epoll = try? Epoll(capacity: 4),
              (try? epoll.add(socket.descriptor, events: .readable, data: 0)) != nil else { return }
        var frames = 0
        var checksum = 0
        var start = (frames: 0, time: 0.0, cpu: 0.0)
        var phase = 0
        while true {
            let n = socket.receiveBurst(max: 64) { frame in
                checksum &+= Int(frame.bytes[0])
                frames &+= 1
            }
            if n == 0 { _ = try? epoll.wait(timeout: .milliseconds(10)) }
            let now = control.phase.load(ordering: .relaxed)
            if now != phase {
                phase = now
                if now == 1 {
                    start = (frames, monotonicSeconds(), threadCPUSeconds())
                } else {
                    outcome.frames = frames - start.frames
                    outcome.seconds = monotonicSeconds() - start.time
                    outcome.cpuSeconds = threadCPUSeconds() - start.cpu
                    if checksum == -1 { print("") }
                    return
                }
            }
        }
    }

    /// Batches of 32 at full speed, or paced by busy-waiting on the clock.
    private static func transmit(
        _ transmitter: PacketTransmitter, rate: Double?, control: Control, into outcome: Outcome
    ) {
        try? CPUAffinity.pinCurrentThread(to: 0)
        let frame = TestFrames.frame(sequence: 0, size: 60)
        var start = (frames: UInt64(0), time: 0.0, ringFull: UInt64(0))
        var phase = 0
        let begin = monotonicSeconds()
        var offered = 0.0
        frame.withUnsafeBytes { bytes in
            while true {
                var batch = 32
                if let rate {
                    let due = (monotonicSeconds() - begin) * rate - offered
                    batch = min(32, Int(due))
                }
                if batch > 0 {
                    for _ in 0..<batch {
                        if !transmitter.enqueue(bytes) { break }
                    }
                    offered += Double(batch)
                    _ = try? transmitter.flush()
                }
                let now = control.phase.load(ordering: .relaxed)
                if now != phase {
                    phase = now
                    let statistics = transmitter.statistics
                    if now == 1 {
                        start = (statistics.submitted, monotonicSeconds(), statistics.ringFull)
                    } else {
                        outcome.frames = Int(statistics.submitted - start.frames)
                        outcome.seconds = monotonicSeconds() - start.time
                        outcome.ringFull = statistics.ringFull - start.ringFull
                        return
                    }
                }
            }
        }
    }

    /// Runs the C receiver in namespace A while our sender paces traffic.
    private func measureReference(_ path: String, rate: Double) throws -> String {
        let net = self.net!
        let transmitter = try net.runB { try PacketTransmitter(interfaceName: net.interfaceB) }
        let control = Control()
        let sent = Outcome()
        let finished = DispatchGroup()
        finished.enter()
        Thread {
            defer { finished.leave() }
            PacketBenchmarkTests.transmit(transmitter, rate: rate, control: control, into: sent)
        }.start()
        let output = try Shell.output("ip", "netns", "exec", net.namespaceA, path, net.interfaceA,
                                      String(warmUp), String(window))
        control.phase.store(1, ordering: .relaxed)
        control.phase.store(2, ordering: .relaxed)
        finished.wait()
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

private func threadCPUSeconds() -> Double {
    var usage = rusage()
    // RUSAGE_THREAD (1) is a GNU extension the Glibc module does not export.
    getrusage(__rusage_who_t(1), &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
}
