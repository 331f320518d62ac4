#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every
# test: the full suite, then libtimesync's suite again under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh default
ctest --preset default
bash scripts/build.sh tsan
ctest --preset tsan
