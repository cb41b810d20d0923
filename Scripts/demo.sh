#!/usr/bin/env bash
# The LANA demo: installs what is missing, builds, creates two network
# namespaces joined by a veth pair, starts lanad on one end, builds the
# thesis's Appendix C.3 graph, sends known traffic from the other end,
# prints the counters, tears the graph down in the walkthrough's order and
# cleans up. Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(Scripts/build-tools.sh)

ns_lana=lana-demo-$$; ns_peer=lana-peer-$$; run=$(mktemp -d /tmp/lana-demo.XXXXXX)
lanad_pid=""
cleanup() {
    [ -n "$lanad_pid" ] && kill -TERM "$lanad_pid" 2>/dev/null && wait "$lanad_pid" 2>/dev/null || true
    ip netns del "$ns_lana" 2>/dev/null || true
    ip netns del "$ns_peer" 2>/dev/null || true
    rm -rf "$run"
}
trap cleanup EXIT

ip netns add "$ns_lana"; ip netns add "$ns_peer"
ip link add eth0 netns "$ns_lana" type veth peer name peer0 netns "$ns_peer"
for ns in "$ns_lana" "$ns_peer"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip netns exec "$ns_lana" ip link set eth0 up
ip netns exec "$ns_peer" ip link set peer0 up

in_lana() { ip netns exec "$ns_lana" "$@"; }
say() { printf '\n$ %s\n' "$*"; }
fbctl() { say "fbctl $*"; in_lana "$bin/fbctl" --run-dir "$run/lana" "$@"; }
vlink() { say "vlink $*"; in_lana "$bin/vlink" --run-dir "$run/lana" "$@"; }

# Not through in_lana: a function in the background is a subshell, and $!
# must be lanad itself for the cleanup to stop it.
ip netns exec "$ns_lana" "$bin/lanad" --run-dir "$run/lana" --engines 2 --force 2>"$run/lanad.log" &
lanad_pid=$!
for _ in $(seq 100); do [ -S "$run/lana/control" ] && break; sleep 0.05; done
[ -S "$run/lana/control" ] || { cat "$run/lanad.log"; exit 1; }

echo "== Appendix C.3 with LANA for Swift"
vlink ethernet hook eth0
fbctl add fb2 tee
fbctl add fb3 bpf
fbctl add fb4 counter
fbctl add fb5 bpf
fbctl add fb6 counter
say "cat Configs/ipv4.bpf"; cat Configs/ipv4.bpf
say "cat Configs/arp.bpf"; cat Configs/arp.bpf
# The thesis pipes bpfc's output into the block; fbctl reads it from stdin
# with bpf=- (and assembles the source itself with bpf=@file).
fbctl set fb3 bpf=@Configs/ipv4.bpf
say "bpfc Configs/arp.bpf | fbctl set fb5 bpf=-"
bpfc Configs/arp.bpf | in_lana "$bin/fbctl" --run-dir "$run/lana" set fb5 bpf=-
# The state files follow each operation within 200 ms (the reply of fbctl
# is the synchronous truth): wait for them before showing them.
settle() { # FILE EXTENDED-REGEX (or "" for an empty file)
    for _ in $(seq 40); do
        if [ -z "$2" ]; then [ ! -s "$1" ] && return; else grep -Eq "$2" "$1" 2>/dev/null && return; fi
        sleep 0.05
    done
}
settle "$run/lana/fblock/fb3" "0x00000800"
settle "$run/lana/fblock/fb5" "0x00000806"
say "cat /run/lana/fblock/fb3"; cat "$run/lana/fblock/fb3"
say "cat /run/lana/fblock/fb5"; cat "$run/lana/fblock/fb5"
fbctl bind fb2 eth0
fbctl bind fb3 fb2
fbctl bind fb5 fb2
fbctl bind fb4 fb3
fbctl bind fb6 fb5
settle "$run/lana/fblocks" "^fb6 counter 6 2 "
say "cat /run/lana/fblocks"; cat "$run/lana/fblocks"

say "send 1000 IPv4, 500 ARP and 250 other frames from the peer"
ip netns exec "$ns_peer" python3 Scripts/lana-send.py peer0 1000 --kind ipv4 --size 98
ip netns exec "$ns_peer" python3 Scripts/lana-send.py peer0 500 --kind arp
ip netns exec "$ns_peer" python3 Scripts/lana-send.py peer0 250 --kind other
# Wait until fb4 has counted every IPv4 frame and fb6 every ARP frame (the
# tee gives each filter its own copy; the rest is dropped as filtered).
# The state files follow within 200 ms: wait until ppe has all 1,750 too.
for _ in $(seq 100); do
    [ "$(cut -d' ' -f1 "$run/lana/fblock/fb4")" = 1000 ] && [ "$(cut -d' ' -f1 "$run/lana/fblock/fb6")" = 500 ] \
        && [ "$(awk -F'\t' '/^CPU/ { n += $2 } END { print n + 0 }' "$run/lana/ppe")" = 1750 ] && break
    sleep 0.05
done
say "cat /run/lana/fblock/fb4"; cat "$run/lana/fblock/fb4"
say "cat /run/lana/fblock/fb6"; cat "$run/lana/fblock/fb6"
say "cat /run/lana/ppe"; cat "$run/lana/ppe"
say "cat /run/lana/drops"; cat "$run/lana/drops"
fbctl show eth0
fbctl show fb3

echo; echo "== teardown, in the walkthrough's order"
fbctl unbind fb6 fb5
fbctl unbind fb4 fb3
fbctl unbind fb5 fb2
fbctl unbind fb3 fb2
fbctl unbind fb2 eth0
vlink ethernet unhook eth0
for b in fb2 fb3 fb4 fb5 fb6; do fbctl rm "$b"; done
settle "$run/lana/fblocks" ""
say "cat /run/lana/fblocks"; cat "$run/lana/fblocks"; echo "(empty)"
