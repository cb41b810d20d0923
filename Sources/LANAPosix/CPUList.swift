/// A set of CPU numbers in the kernel's list notation, `0,2-3`: the format
/// of `--cpus`, of `/sys/devices/system/cpu/online` and of `taskset -c`.
///
/// Parsing accepts what the kernel prints and what people type: single
/// CPUs, inclusive ranges, ranges with a stride (`0-7:2` = 0,2,4,6),
/// surrounding whitespace and repeated or overlapping entries. The result
/// is sorted and without duplicates; `description` prints it back in the
/// compact notation.
public struct CPUList: Sendable, Hashable, CustomStringConvertible {
    /// Ascending, no duplicates.
    public let cpus: [Int]

    /// Upper bound on a CPU number, far above any real machine: a typo like
    /// `0-1000000000` must fail, not allocate gigabytes.
    public static let maximumCPU = 65_535

    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        /// A list entry that is not a number, `a-b` or `a-b:s`.
        case invalidEntry(String)
        /// `b < a` in `a-b`, or a zero stride.
        case invalidRange(String)
        case cpuTooLarge(Int)

        public var description: String {
            switch self {
            case .empty: "expected a list of CPU numbers like 0,2-3"
            case .invalidEntry(let entry): "'\(entry)' is not a CPU number, a range a-b or a range with a stride a-b:s"
            case .invalidRange(let entry): "'\(entry)' is not a range: it ends below its start or has a stride of 0"
            case .cpuTooLarge(let cpu): "CPU \(cpu) is above the largest CPU number, \(CPUList.maximumCPU)"
            }
        }
    }

    public init<S: Sequence<Int>>(_ cpus: S) {
        self.cpus = Array(Set(cpus)).sorted()
    }

    public init(parsing text: String) throws(ParseError) {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map(CPUList.trimmed)
        guard entries.count > 1 || !entries[0].isEmpty else { throw .empty }
        var result = Set<Int>()
        for entry in entries {
            for cpu in try CPUList.parseEntry(entry) { result.insert(cpu) }
        }
        self.cpus = result.sorted()
    }

    private static func trimmed(_ text: Substring) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = text.firstIndex(where: { !isSpace($0) }),
              let last = text.lastIndex(where: { !isSpace($0) })
        else { return text[text.endIndex...] }
        return text[first...last]
    }

    private static func parseEntry(_ entry: Substring) throws(ParseError) -> StrideThrough<Int> {
        let rangeAndStride = entry.split(separator: ":", omittingEmptySubsequences: false)
        guard rangeAndStride.count <= 2 else { throw .invalidEntry(String(entry)) }
        let bounds = rangeAndStride[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count <= 2 else { throw .invalidEntry(String(entry)) }
        let first = try number(bounds[0], in: entry)
        let last = bounds.count == 2 ? try number(bounds[1], in: entry) : first
        let step = rangeAndStride.count == 2 ? try number(rangeAndStride[1], in: entry) : 1
        guard first <= last, step > 0 else { throw .invalidRange(String(entry)) }
        guard bounds.count == 2 || rangeAndStride.count == 1 else { throw .invalidEntry(String(entry)) }
        return stride(from: first, through: last, by: step)
    }

    private static func number(_ text: Substring, in entry: Substring) throws(ParseError) -> Int {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), text.count <= 9,
              let value = Int(text)
        else { throw .invalidEntry(String(entry)) }
        guard value <= maximumCPU else { throw .cpuTooLarge(value) }
        return value
    }

    public var description: String {
        var parts: [String] = []
        var index = 0
        while index < cpus.count {
            var end = index
            while end + 1 < cpus.count, cpus[end + 1] == cpus[end] + 1 { end += 1 }
            parts.append(end == index ? "\(cpus[index])" : "\(cpus[index])-\(cpus[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}
