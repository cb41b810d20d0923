import CLANASupport
import Glibc
import SystemPackage

/// Which CPUs exist and which one a thread runs on.
///
/// Engines are pinned one per CPU so each keeps its caches, its share of a
/// fanout group and its counters local; these are the few calls that takes.
public enum CPUAffinity {
    /// Pins the calling thread to `cpu`. Affects only this thread.
    public static func pinCurrentThread(to cpu: Int) throws(Errno) {
        guard cpu >= 0, cpu <= CPUList.maximumCPU else { throw Errno.invalidArgument }
        try Syscall.pinCurrentThread(to: cpu)
    }

    /// Restricts the calling thread to `cpus`. Threads it starts afterwards
    /// inherit the mask; threads that already run keep theirs.
    public static func restrictCurrentThread(to cpus: CPUList) throws(Errno) {
        guard !cpus.cpus.isEmpty else { throw Errno.invalidArgument }
        try Syscall.setThreadAffinity(cpus.cpus)
    }

    /// The CPUs the calling thread may run on (its affinity mask), which
    /// inside a container or under `taskset` can be fewer than are online.
    public static func allowedCPUs() throws(Errno) -> CPUList {
        CPUList(try Syscall.threadAffinity())
    }

    /// The CPUs currently online, from `/sys/devices/system/cpu/online`;
    /// falls back to `0..<sysconf(_SC_NPROCESSORS_ONLN)` when sysfs is not
    /// mounted (minimal containers), which is right unless CPUs are offline.
    public static func onlineCPUs() -> CPUList {
        if let bytes = try? Syscall.readSmallFile("/sys/devices/system/cpu/online"),
           let list = try? CPUList(parsing: String(decoding: bytes, as: UTF8.self)) {
            return list
        }
        return CPUList(0..<Int(lana_online_cpus()))
    }

    /// The CPU the calling thread is running on right now (a hint unless
    /// the thread is pinned), or nil if the kernel will not say.
    public static func currentCPU() -> Int? {
        let cpu = lana_current_cpu()
        return cpu < 0 ? nil : Int(cpu)
    }
}
