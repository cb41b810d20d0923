#!/usr/bin/env bash
# The project's test command: installs what is missing, builds, runs every
# test suite, then checks the release build's hot path for reference
# counting and allocation (Scripts/check-hot-path.sh; skipped when test
# arguments narrow the run). Integration tests create network namespaces,
# so run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

Scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
if [[ $# -eq 0 ]]; then Scripts/check-hot-path.sh; fi
