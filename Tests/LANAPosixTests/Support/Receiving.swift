import Glibc
import LANAPosix
import LANATestSupport
import SystemPackage

extension PacketSocket {
    /// Receives until `count` frames matching `filter` arrived or the
    /// deadline passes, sleeping in epoll between bursts (never a blind
    /// sleep). Frames not matching `filter` are ignored. Bursts are at most
    /// `burst` frames so bursts end mid-block.
    func collect(
        _ count: Int, within seconds: Double = 5, burst: Int = 32,
        where filter: (UnsafeRawBufferPointer) -> Bool = { _ in true }
    ) throws -> [[UInt8]] {
        let epoll = try Epoll(capacity: 4)
        try epoll.add(descriptor, events: .readable, data: 1)
        let deadline = Deadline(seconds: seconds)
        var frames: [[UInt8]] = []
        while frames.count < count {
            let n = receiveBurst(max: Swift.min(burst, count - frames.count)) { frame in
                if filter(frame.bytes) { frames.append(Array(frame.bytes)) }
            }
            if n == 0 {
                if deadline.hasPassed { break }
                _ = try epoll.wait(timeout: Swift.min(deadline.remaining, .milliseconds(50)))
            }
        }
        return frames
    }

    /// Whatever arrives within `seconds` (to prove that nothing more does).
    func collectAll(for seconds: Double) throws -> [[UInt8]] {
        try collect(Int.max, within: seconds)
    }
}
