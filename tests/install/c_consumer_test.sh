#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds a C program with
# pkg-config and a C++ program with find_package against what was installed, and
# runs both against a segment published by timesync-sim-publisher.
# Usage: c_consumer_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d /tmp/timesync-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

# Only what a library user gets (the libtimesync0 and libtimesync-dev packages):
# the consumers must build and run with these two components alone.
for component in lib dev; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >/dev/null
done
[ ! -e "$prefix/bin" ] || { echo "the library components installed programs:"; ls "$prefix/bin"; exit 1; }
pc=$(dirname "$(find "$prefix" -name timesync.pc | head -n1)")
[ -f "$pc/timesync.pc" ] || { echo "timesync.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$pc
libdir=$(pkg-config --variable=libdir timesync)
echo "pkg-config: $(pkg-config --cflags --libs timesync)"

# The consumers must see only the installed headers, never the source tree.
cc -std=c11 -Wall -Wextra -Werror "$(dirname "$0")/consumer.c" -o "$work/c_consumer" \
   $(pkg-config --cflags --libs timesync)
cmake -S "$(dirname "$0")" -B "$work/cxx" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cxx" >/dev/null

seg=$work/segment
"$build/tools/timesync-sim-publisher" --path "$seg" --once
LD_LIBRARY_PATH=$libdir "$work/c_consumer" "$work/missing" "$seg"
LD_LIBRARY_PATH=$libdir "$work/cxx/cxx_consumer" "$seg"
echo "install consumers: OK"
