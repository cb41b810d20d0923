#!/usr/bin/env bash
# Installs what the project needs (Scripts/setup.sh), builds lanad, fbctl
# and vlink with plain `-c release`, and prints the directory that holds
# them. The demos start with it: bin=$(Scripts/build-tools.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

Scripts/setup.sh >&2
for product in lanad fbctl vlink; do swift build -c release --product "$product" >/dev/null; done
swift build -c release --show-bin-path
