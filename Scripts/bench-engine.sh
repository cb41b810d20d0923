#!/usr/bin/env bash
# Engine benchmark: bursts from an in-memory source through chains of 1, 5
# and 10 `dummy` blocks on one pinned engine (CPU 1), then once on two
# engines. Prints one line per configuration:
#
#   engine blocks=<k> engines=<n> mpps=<x> ns_per_packet=<y> mallocs_per_burst=<z>
#
# (median of the repetitions; per-repetition detail goes to stderr).
#
# Builds the Benchmarks package (its own .build under Benchmarks/) with plain
# `-c release` and runs `lana-bench engine` with ordo-one's malloc interposer
# preloaded, which counts every allocation of every thread in the measured
# window. Extra arguments go to `lana-bench engine`, e.g.
#
#   Scripts/bench-engine.sh --blocks 1 --reps 3 --seconds 1
#   Scripts/bench-engine.sh --terminal drop      # last dummy unbound: engine drops
#   Scripts/bench-engine.sh --help
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

swift build -c release --package-path Benchmarks --product lana-bench >&2
bin="$(swift build -c release --package-path Benchmarks --show-bin-path)"
interposer="$bin/libMallocInterposerSwift.so"
if [[ ! -f "$interposer" ]]; then
    echo "bench-engine: $interposer not found" >&2
    exit 1
fi

LD_PRELOAD="$interposer${LD_PRELOAD:+:$LD_PRELOAD}" exec "$bin/lana-bench" engine "$@"
