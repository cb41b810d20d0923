#!/usr/bin/env bash
# Engine benchmark: bursts from an in-memory source through chains of 1, 5
# and 10 `dummy` blocks on one pinned engine (CPU 1), then once on two
# engines. Prints one line per configuration:
#
#   engine blocks=<k> engines=<n> mpps=<x> ns_per_packet=<y> mallocs_per_burst=<z>
#
# (median of the repetitions; per-repetition detail goes to stderr).
#
# Builds the Benchmarks package and runs `lana-bench engine` with the malloc
# interposer preloaded (Scripts/run-lana-bench.sh). Extra arguments go to
# `lana-bench engine`, e.g.
#
#   Scripts/bench-engine.sh --blocks 1 --reps 3 --seconds 1
#   Scripts/bench-engine.sh --terminal drop      # last dummy unbound: engine drops
#   Scripts/bench-engine.sh --help
set -euo pipefail

exec "$(dirname "${BASH_SOURCE[0]}")/run-lana-bench.sh" engine "$@"
