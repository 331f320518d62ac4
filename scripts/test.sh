#!/usr/bin/env bash
# The README's test command (and CI's, .ci/run): installs what is missing for
# the whole suite (scripts/deps.sh test), builds, and runs every test: the full
# suite, then libtimesync's suite again under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test
bash scripts/build.sh default
ctest --preset default
bash scripts/build.sh tsan
ctest --preset tsan
