#!/usr/bin/env bash
# FLIP benchmark: the flip and arp blocks on one pinned engine (CPU 1), fed
# from memory, for each of three operations, against the same work in plain
# C in the same invocation:
#
#   deliver  V2 frames for a local address: arp → flip → application
#   forward  V4 frames for another address: arp → flip → arp → link
#   send     5-byte payloads with V2's fields: flip → arp → link
#
# Prints one line per operation, then one per operation of the C reference:
#
#   flip op=<op> ns_per_packet=<x> mpps=<y> mallocs_per_burst=<z> cpu_ns_per_packet=<u>
#   flip-c op=<op> ns_per_packet=<x> mpps=<y> cpu_ns_per_packet=<u> lana_over_c=<r>
#
# (median of the repetitions; per-repetition detail goes to stderr).
#
# Builds the Benchmarks package and runs `lana-bench flip` with the malloc
# interposer preloaded (Scripts/run-lana-bench.sh). Extra arguments go to
# `lana-bench flip`, e.g.
#
#   Scripts/bench-flip.sh --reps 3 --seconds 1
#   Scripts/bench-flip.sh --ops forward --packets 20000000
#   Scripts/bench-flip.sh --help
set -euo pipefail

exec "$(dirname "${BASH_SOURCE[0]}")/run-lana-bench.sh" flip "$@"
