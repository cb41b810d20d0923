#!/usr/bin/env bash
# Control-channel latency: a bind + unbind round trip through LANAControl's
# ControlClient (the library fbctl uses, without fbctl's process start-up)
# against a real release-built lanad on a private run directory. Prints
#
#   control op=bind p50_us=<x> p99_us=<y>
#   control op=echo p50_us=<x> p99_us=<y>
#   control op=addrm graph=<n> p50_us=<x> p99_us=<y>
#
# where `echo` is the reference measured in the same run, interleaved: the
# same two request/reply exchanges between two threads over a SOCK_SEQPACKET
# socket pair, i.e. the kernel's IPC floor. p90, p99.9 and max go to stderr.
# Goal (the control-channel issue): bind p50 < 100 µs, p99 < 1 ms.
# `addrm` times add + rm of a block in a graph of --graph N other blocks
# (default 0): compare --graph 0 with --graph 20000 to see what a control
# operation costs in a large graph.
#
# Builds lanad (main package) and lana-bench (Benchmarks package) with plain
# `-c release`. lanad runs as the invoking user on a run directory under
# /dev/shm (tmpfs, as /run normally is); its control socket admits root and
# members of the group `lana` only, so run this as one of them. Extra
# arguments go to `lana-bench control`, e.g.
#
#   Scripts/bench-control.sh --iterations 50000 --rounds 10
#   Scripts/bench-control.sh --graph 20000 --iterations 1000 --addrm-iterations 300
#   Scripts/bench-control.sh --help
#
# LANA_SCRATCH_PATH and LANA_BENCH_SCRATCH_PATH, if set, are passed to
# `swift build --scratch-path` for the two packages.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

main_scratch=(${LANA_SCRATCH_PATH:+--scratch-path "$LANA_SCRATCH_PATH"})
bench_scratch=(${LANA_BENCH_SCRATCH_PATH:+--scratch-path "$LANA_BENCH_SCRATCH_PATH"})

swift build -c release "${main_scratch[@]}" --product lanad >&2
lanad="$(swift build -c release "${main_scratch[@]}" --show-bin-path)/lanad"
swift build -c release --package-path Benchmarks "${bench_scratch[@]}" --product lana-bench >&2
bin="$(swift build -c release --package-path Benchmarks "${bench_scratch[@]}" --show-bin-path)"

exec "$bin/lana-bench" control --lanad "$lanad" "$@"
