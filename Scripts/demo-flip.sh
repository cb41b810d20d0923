#!/usr/bin/env bash
# The FLIP demo: installs what is missing, builds, and puts four network
# namespaces on one bridge: two FLIP nodes (x, y) and a forwarder (f), each
# a lanad with eth ← arp ← flip, and a plain Linux host (h). h resolves x
# with arping (RFC 826), then sends FLIP frames: through f to y's object id
# (f resolves it with ARP-over-FLIP and forwards with TTL − 1), to x's echo
# block from y's object id (x resolves it and answers), and with TTL 1
# (dropped at f). Prints the counters and the ARP tables, then removes
# everything it created. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(Scripts/build-tools.sh)

run=$(mktemp -d /tmp/lana-demo-flip.XXXXXX)
nodes=(x f y)
ns_sw=lana-flip-sw-$$
declare -A ns mac pid
for n in "${nodes[@]}" h; do ns[$n]=lana-flip-$n-$$; done
mac[x]=02:00:00:00:00:10; mac[f]=02:00:00:00:00:0f; mac[y]=02:00:00:00:00:20; mac[h]=02:00:00:00:00:99

cleanup() {
    for n in "${nodes[@]}"; do
        [ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null && wait "${pid[$n]}" 2>/dev/null || true
    done
    for n in "${nodes[@]}" h; do ip netns del "${ns[$n]}" 2>/dev/null || true; done
    ip netns del "$ns_sw" 2>/dev/null || true
    rm -rf "$run"
}
trap cleanup EXIT

say() { printf '\n%s$ %s\n' "$1" "${*:2}"; }
in_ns() { ip netns exec "${ns[$1]}" "${@:2}"; }
fbctl() { say "[$1] " "fbctl ${*:2}"; in_ns "$1" "$bin/fbctl" --run-dir "$run/$1" "${@:2}"; }
vlink() { say "[$1] " "vlink ${*:2}"; in_ns "$1" "$bin/vlink" --run-dir "$run/$1" "${@:2}"; }
show() { say "[$1] " "cat /run/lana/$2"; cat "$run/$1/$2"; }
# Waits up to 5 s for a condition (a command); the demo goes on either way
# and the output shows what happened.
wait_for() { for _ in $(seq 100); do "$@" && return 0; sleep 0.05; done; echo "(still waiting after 5 s: $*)"; }
packets() { cut -d' ' -f1 "$run/$1/fblock/$2" 2>/dev/null || echo 0; }
at_least() { [ "$(packets "$1" "$2")" -ge "$3" ]; }

# One segment: a bridge in a namespace of its own, one veth per host. IPv6
# and the bridge's multicast snooping off, so every frame is one of the
# demo's; every MAC is a static entry of the bridge, so unicast frames
# reach their addressee alone.
ip netns add "$ns_sw"
ip netns exec "$ns_sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ns_sw" link add br0 type bridge mcast_snooping 0
ip -n "$ns_sw" link set br0 up
for n in "${nodes[@]}" h; do
    ip netns add "${ns[$n]}"
    in_ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip link add eth0 netns "${ns[$n]}" address "${mac[$n]}" type veth peer name "${n}0" netns "$ns_sw"
    ip -n "$ns_sw" link set "${n}0" master br0 up
    bridge -n "$ns_sw" fdb add "${mac[$n]}" dev "${n}0" master static
    ip -n "${ns[$n]}" link set eth0 up
done
ip -n "${ns[h]}" addr add 10.0.0.99/24 dev eth0
# h records replies to arping's requests (not its kernel's own) in its
# neighbour table.
in_ns h sysctl -qw net.ipv4.conf.eth0.arp_accept=1

for n in "${nodes[@]}"; do
    # Not through in_ns: $! must be lanad itself for the cleanup to stop it.
    ip netns exec "${ns[$n]}" "$bin/lanad" --run-dir "$run/$n" --engines 1 2>"$run/lanad-$n.log" &
    pid[$n]=$!
done
for n in "${nodes[@]}"; do
    for _ in $(seq 100); do [ -S "$run/$n/control" ] && break; sleep 0.05; done
    [ -S "$run/$n/control" ] || { cat "$run/lanad-$n.log"; exit 1; }
done

# Object ids: the vectors' A and B (docs/flip.md §9).
obj_x=0102030405060708090a0b0c0d0e0f10; obj_y=1112131415161718191a1b1c1d1e1f20
echo "== three FLIP nodes: x (10.0.0.10, object id $obj_x), forwarder f (10.0.0.1), y (10.0.0.20, object id $obj_y)"
declare -A addresses=([x]=10.0.0.10,$obj_x [f]=10.0.0.1 [y]=10.0.0.20,$obj_y)
for n in "${nodes[@]}"; do
    vlink "$n" ethernet hook eth0
    fbctl "$n" add a arp
    fbctl "$n" add f flip
    fbctl "$n" set f "address=${addresses[$n]}"
    [ "$n" = f ] && fbctl "$n" set f forward=on
    fbctl "$n" bind f a
    fbctl "$n" bind a eth0
    fbctl "$n" add up counter
    fbctl "$n" bind up f
done
fbctl x add e echo
fbctl x bind e f up.type.0x88b5

echo; echo "== h (Linux, 10.0.0.99) resolves x with RFC 826"
say "[h] " "arping -c 3 -I eth0 10.0.0.10"
in_ns h arping -c 3 -I eth0 10.0.0.10 || true
say "[h] " "ip neigh"; in_ns h ip neigh

echo; echo "== h sends 5 FLIP frames to y's object id through f, TTL 8"
say "[h] " "lana-send.py eth0 5 --kind flip --to ${mac[f]} --dst $obj_y --src 0x0063 --type 0x88b5 --ttl 8"
in_ns h python3 Scripts/lana-send.py eth0 5 --kind flip --to "${mac[f]}" --dst $obj_y --src 0x0063 --type 0x88b5 --ttl 8
wait_for at_least y up 5
show y fblock/up

echo; echo "== h sends 5 FLIP frames to x's object id from y's: x's echo answers to y"
say "[h] " "lana-send.py eth0 5 --kind flip --to ${mac[x]} --dst $obj_x --src $obj_y --type 0x88b5 --ttl 64 --first 5"
in_ns h python3 Scripts/lana-send.py eth0 5 --kind flip --to "${mac[x]}" --dst $obj_x --src $obj_y --type 0x88b5 --ttl 64 --first 5
wait_for at_least y up 10
show y fblock/up

echo; echo "== h sends 3 frames with TTL 1 through f: dropped there as ttl-expired"
say "[h] " "lana-send.py eth0 3 --kind flip --to ${mac[f]} --dst $obj_y --src 0x0063 --type 0x88b5 --ttl 1 --first 10"
in_ns h python3 Scripts/lana-send.py eth0 3 --kind flip --to "${mac[f]}" --dst $obj_y --src 0x0063 --type 0x88b5 --ttl 1 --first 10
wait_for grep -q '^ttl-expired 3$' "$run/f/drops"

echo; echo "== counters and ARP tables (<address> <mac> <learned|static|incomplete> <packets queued>)"
for n in "${nodes[@]}"; do
    fbctl "$n" show f
    fbctl "$n" show a
    show "$n" fblock/a
done
say "[f] " "grep -v ' 0\$' /run/lana/drops"; grep -v ' 0$' "$run/f/drops" || true

echo; echo "== teardown"
for n in "${nodes[@]}"; do
    [ "$n" = x ] && fbctl x unbind e f && fbctl x rm e
    fbctl "$n" unbind up f
    fbctl "$n" unbind a eth0
    fbctl "$n" unbind f a
    vlink "$n" ethernet unhook eth0
    for b in up f a; do fbctl "$n" rm "$b"; done
done
