#!/usr/bin/env bash
# Runs the whole benchmark suite in one go, each benchmark beside its
# reference (see the README's Benchmarks section):
#
#   engine  — Scripts/bench-engine.sh   (in-memory source, 1/5/10 dummies; C pipeline)
#   bpf     — lana-bench bpf            (the BPF machine; libpcap's bpf_filter)
#   flip    — Scripts/bench-flip.sh     (flip and arp: deliver, forward, send; the same in C)
#   control — Scripts/bench-control.sh  (bind+unbind round trip; socket-pair echo)
#   rx      — Scripts/bench-rx.sh       (eth receive, idle, reconfiguration; C TPACKET_V3)
#
# Result lines go to standard output, details to standard error. Needs root
# (network namespaces, the control socket). Takes about ten minutes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

Scripts/setup.sh >&2
Scripts/bench-engine.sh
bin="$(swift build -c release --package-path Benchmarks --show-bin-path)"
"$bin/lana-bench" bpf --reps 21 --cpu 1
Scripts/bench-flip.sh
Scripts/bench-control.sh
Scripts/bench-rx.sh
