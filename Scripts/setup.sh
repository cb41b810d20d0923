#!/usr/bin/env bash
# Installs what LANA needs on a fresh Debian/Ubuntu machine (Swift itself
# must already be on PATH). Safe to run again: it installs only what is
# missing.
set -euo pipefail

packages=(
    libnl-3-dev libnl-genl-3-dev   # control channel (generic netlink messages)
    libpcap-dev                    # bpf block: tcpdump expressions
    pkg-config
    iproute2                       # network namespaces and veth pairs for tests
    tcpdump netsniff-ng arping     # real peers and oracles in the tests
    procps util-linux              # ps, setpriv
    valgrind
    python3                        # frame generator of the demo and tests
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
