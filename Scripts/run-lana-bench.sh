#!/usr/bin/env bash
# Runs one `lana-bench` command the way its measurements are meant to be
# taken: builds the Benchmarks package (its own .build under Benchmarks/)
# with plain `-c release` and runs the command with ordo-one's malloc
# interposer preloaded, which counts every allocation of every thread in the
# measured window. Used by bench-engine.sh and bench-flip.sh.
#
# Usage: Scripts/run-lana-bench.sh <command> [arguments…]   (lana-bench --help lists them)
set -euo pipefail

[[ $# -ge 1 ]] || { echo "usage: run-lana-bench.sh <command> [arguments…]" >&2; exit 64; }
command=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/.."

swift build -c release --package-path Benchmarks --product lana-bench >&2
bin="$(swift build -c release --package-path Benchmarks --show-bin-path)"
interposer="$bin/libMallocInterposerSwift.so"
if [[ ! -f "$interposer" ]]; then
    echo "run-lana-bench: $interposer not found" >&2
    exit 1
fi

LD_PRELOAD="$interposer${LD_PRELOAD:+:$LD_PRELOAD}" exec "$bin/lana-bench" "$command" "$@"
