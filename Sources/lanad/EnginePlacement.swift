import LANACore
import LANAPosix

/// Which CPU each engine is pinned to, from `--engines`, `--cpus` and
/// `--force`, checked against the CPUs that are online and the CPUs lanad
/// may run on (its affinity mask, which `taskset`, cgroups or a container
/// can narrow). An engine pinned to a CPU outside the mask would fail to
/// pin and run anywhere; one on a CPU that does not exist would never run
/// where the log says — so both are refused up front, as usage errors.
struct EnginePlacement: Equatable {
    /// One CPU per engine, in engine order.
    let cpus: [Int]
    /// The CPUs lanad may use, when more engines than those were forced.
    let sharedCPUs: CPUList?

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameters:
    ///   - engines: `--engines`: that many engines on the allowed CPUs in
    ///     turn; more than there are allowed CPUs only with `force`.
    ///   - cpus: `--cpus`: one engine per listed CPU.
    ///   - Neither: one engine per allowed CPU.
    init(engines: Int?, cpus: String?, force: Bool, online: CPUList, allowed: CPUList) throws(Refusal) {
        // The affinity mask may name CPUs that are offline; they cannot run
        // anything.
        let usable = allowed.cpus.filter(online.cpus.contains)
        guard !usable.isEmpty else {
            throw Refusal(description: "none of the CPUs lanad may use (\(allowed)) is online (online CPUs: \(online))")
        }
        if force && engines == nil {
            throw Refusal(description: "--force only applies to --engines: it lets engines outnumber the CPUs lanad may use")
        }
        if let cpus {
            let list: CPUList
            do { list = try CPUList(parsing: cpus) } catch {
                throw Refusal(description: "--cpus \(cpus): \(error)")
            }
            let missing = list.cpus.filter { !online.cpus.contains($0) }
            if !missing.isEmpty {
                throw Refusal(description: "--cpus \(cpus): \(Self.cpuWords(missing)) \(missing.count == 1 ? "does" : "do") not exist (online CPUs: \(online))")
            }
            let outside = list.cpus.filter { !allowed.cpus.contains($0) }
            if !outside.isEmpty {
                throw Refusal(description: "--cpus \(cpus): \(Self.cpuWords(outside)) \(outside.count == 1 ? "is" : "are") not in lanad's CPU affinity mask (allowed CPUs: \(CPUList(usable)))")
            }
            if list.cpus.count > EngineGroup.maximumEngines {
                throw Refusal(description: "--cpus \(cpus): \(list.cpus.count) engines, at most \(EngineGroup.maximumEngines) are supported")
            }
            self.cpus = list.cpus
            sharedCPUs = nil
            return
        }
        guard let engines else {
            // One engine per usable CPU, up to the most an engine group has.
            self.cpus = Array(usable.prefix(EngineGroup.maximumEngines))
            sharedCPUs = nil
            return
        }
        if engines > EngineGroup.maximumEngines {
            throw Refusal(description: "--engines \(engines): at most \(EngineGroup.maximumEngines) engines are supported")
        }
        if engines > usable.count && !force {
            throw Refusal(description: "--engines \(engines): more engines than the \(usable.count) CPU(s) lanad may use; pass --force to share CPUs (allowed CPUs: \(CPUList(usable)))")
        }
        self.cpus = (0..<engines).map { usable[$0 % usable.count] }
        sharedCPUs = engines > usable.count ? CPUList(usable) : nil
    }

    /// `CPU 5` or `CPUs 4-5,7`.
    private static func cpuWords(_ cpus: [Int]) -> String {
        cpus.count == 1 ? "CPU \(cpus[0])" : "CPUs \(CPUList(cpus))"
    }
}
