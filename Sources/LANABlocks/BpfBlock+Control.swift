import CLANASupport
import LANABPF
import LANACore

// The bpf block's control side: options, program swaps, status and state
// moving on `replace`. Runs on the control thread under the registry lock.
extension BpfBlock {
    /// Packet counts, summed over engines or for one engine.
    public struct Totals: Equatable, Sendable {
        /// Filtered packets the program matched (sent to `port[dir]`).
        public var matched: UInt64 = 0
        /// Filtered packets it did not match (no-match port, or dropped).
        public var notMatched: UInt64 = 0
        /// Packets of a direction the block does not filter.
        public var passed: UInt64 = 0

        static func + (a: Totals, b: Totals) -> Totals {
            Totals(matched: a.matched &+ b.matched, notMatched: a.notMatched &+ b.notMatched, passed: a.passed &+ b.passed)
        }
    }

    func applyOption(_ key: String, _ value: String) throws(BlockOptionError) {
        switch key {
        case "bpf":
            do {
                load(try BPFProgram(source: value), from: .source)
            } catch {
                throw BlockOptionError("program refused, the loaded one stays: \(error)")
            }
        case "bpf64":
            do {
                load(try BPFProgram(base64: value), from: .source)
            } catch {
                throw BlockOptionError("program refused, the loaded one stays: \(error)")
            }
        case "filter":
            do {
                load(try BPFProgram(filter: value), from: .filter(value))
            } catch {
                throw BlockOptionError("filter refused, the loaded program stays: \(error)")
            }
        case "filter64":
            do {
                let (program, expression) = try CompiledFilterOption.parse(value)
                load(program, from: .filter(expression))
            } catch {
                throw BlockOptionError("filter refused, the loaded program stays: \(error)")
            }
        case "direction":
            guard let d = FilterDirection(rawValue: value) else {
                throw BlockOptionError("direction takes ingress, egress or both, not '\(value)'")
            }
            direction = d
            publish()
        default:
            throw BlockOptionError("unknown option \(key)")
        }
    }

    /// Makes `program` the one engines run from their next burst on.
    func load(_ program: BPFProgram, from origin: Origin) {
        self.program = program
        self.origin = origin
        compiled = BPFCompiledProgram(program)
        publish()
    }

    /// Publishes the current program and direction; the replaced unit and
    /// the program it points into are kept until ``reclaimRetired()``.
    func publish() {
        let fresh = Self.makeLoaded(compiled, direction: direction)
        let old = current.exchange(fresh, ordering: .acquiringAndReleasing)
        retired.append((old, published))
        published = compiled
    }

    func freeRetired() {
        for r in retired {
            r.loaded.deinitialize(count: 1)
            r.loaded.deallocate()
        }
        retired.removeAll()
    }

    func adopt(from old: BpfBlock) {
        carried = carried + old.totals
        direction = old.direction
        load(old.program, from: old.origin)
    }

    /// Counts of one engine since the block was created.
    public func engineTotals(_ engine: Int) -> Totals {
        let s = slots + engine * Self.slotWords
        return Totals(matched: lana_load_relaxed_u64(s), notMatched: lana_load_relaxed_u64(s + 1),
                      passed: lana_load_relaxed_u64(s + 2))
    }

    /// Counts over all engines, including those of replaced blocks.
    public var totals: Totals {
        (0..<engineCount).reduce(carried) { $0 + engineTotals($1) }
    }

    /// The loaded program (the implicit `ret #0xffffffff` before any).
    public var loadedProgram: BPFProgram { program }

    public var filterDirection: FilterDirection { direction }

    func settings() -> [(key: String, value: String)] {
        let source: String
        switch origin {
        case .initial: source = "none"
        case .source: source = "bpf"
        case .filter: source = "filter"
        }
        return [("direction", direction.rawValue), ("program", source), ("instructions", String(program.count))]
    }

    /// The status file: the loaded program as `{ 0x28, 0, 0, 0x0000000c },`
    /// lines, the form `bpfc` prints and `bpf=` reads back.
    func programText() -> String {
        program.tuples
    }

    func counterLines() -> [String] {
        let t = totals
        var lines: [String] = []
        switch origin {
        case .initial: lines.append("no program loaded: every packet matches")
        case .source: break
        case .filter(let expression): lines.append("filter: \(expression)")
        }
        lines.append("matched=\(t.matched) not-matched=\(t.notMatched) passed=\(t.passed)")
        for e in 0..<engineCount {
            let s = engineTotals(e)
            lines.append("engine \(e) matched=\(s.matched) not-matched=\(s.notMatched) passed=\(s.passed)")
        }
        return lines
    }
}
