import Foundation

/// How many CPUs this process may run on (its affinity mask, as
/// `/proc/self/status` lists it): lanad refuses more engines than that
/// without `--force`.
public func allowedCPUCount() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return 1 }
    let list = line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
    let count = list.split(separator: ",").reduce(0) { total, part in
        let bounds = part.split(separator: "-").compactMap { Int($0) }
        guard let lo = bounds.first, let hi = bounds.last, lo <= hi else { return total }
        return total + hi - lo + 1
    }
    return max(count, 1)
}
