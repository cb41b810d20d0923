#!/usr/bin/env bash
# The project's test command: installs what is missing, builds, runs every
# test suite. Integration tests create network namespaces, so run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

Scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
