import CBenchSupport
import MallocInterposerSwift

/// Counts heap allocations of the whole process (every thread) through
/// ordo-one's malloc interposer. On Linux it only sees allocations when
/// `libMallocInterposerSwift.so` is preloaded (`LD_PRELOAD`), which is what
/// `Scripts/run-lana-bench.sh` does; ``isActive`` checks that it is.
enum Allocations {
    struct Count {
        var mallocs: Int
        var frees: Int
        var bytes: Int
    }

    /// Whether allocations are really being counted: allocates one block on
    /// this thread and one on another with counting on, and looks for both
    /// in the statistics.
    static let isActive: Bool = {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        MallocInterposerSwift.unhook()
        let baseline = MallocInterposerSwift.getStatistics().mallocCount
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
        bench_malloc_probe()
        let threaded = bench_malloc_probe_on_thread() == 0
        MallocInterposerSwift.unhook()
        let s = MallocInterposerSwift.getStatistics()
        MallocInterposerSwift.reset()
        // pthread_create may allocate too (its TLS vector): at least 2 more.
        return threaded && s.mallocCount >= baseline + 2 && s.freeCount >= 2
    }()

    /// Refuses to run without counting when `required` (the default of the
    /// benchmarks), else warns that mallocs per burst will read nan.
    static func checkActive(required: Bool) throws {
        guard !isActive else { return }
        let message = "malloc interposer is not active (run through Scripts/run-lana-bench.sh or a bench-*.sh, "
            + "which preload libMallocInterposerSwift.so)"
        if required { throw UsageError(message) }
        note("warning: \(message); mallocs_per_burst will read nan")
    }

    /// Resets the counters and starts counting.
    static func start() {
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
    }

    /// Stops counting and returns what was counted since ``start()``.
    static func stop() -> Count {
        MallocInterposerSwift.unhook()
        let s = MallocInterposerSwift.getStatistics()
        return Count(mallocs: s.mallocCount, frees: s.freeCount, bytes: s.mallocBytesCount)
    }
}
