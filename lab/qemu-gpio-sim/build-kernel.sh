#!/usr/bin/env bash
# Build the minimal x86_64 test kernel (with gpio-sim) that run.sh boots.
#
#   lab/qemu-gpio-sim/build-kernel.sh [--force]
#
# Idempotent: extracts Debian's linux-source-6.1 into the cache dir
# (default /var/cache/timesync-qemu, see common.sh), configures it as
# `make tinyconfig` + kernel.config (merge_config.sh, then olddefconfig),
# checks that every "=y" of the fragment made it into .config, and builds
# bzImage. The result is cached as $CACHE_DIR/bzImage together with a stamp
# (hash of kernel.config, this script and the linux-source package version);
# when the stamp still matches the build is skipped. Installs missing build
# dependencies with apt-get when run as root (TIMESYNC_QEMU_NO_APT=1: don't).
# About 7 minutes on 2 cores the first time (runs under nice -n 19).
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SELF=$(readlink -f "${BASH_SOURCE[0]}")

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

KERNEL_PKG=linux-source-6.1
BUILD_DEPS=("$KERNEL_PKG" build-essential flex bison bc libelf-dev xz-utils)
JOBS=${TIMESYNC_QEMU_JOBS:-2}
# make ARCH=x86_64 (not x86) so tinyconfig cannot drop 64BIT.
MAKE=(nice -n 19 make ARCH=x86_64 -j"$JOBS")

mkdir -p "$CACHE_DIR"
# Serialise concurrent builds (two test runs starting at once).
exec 9>"$CACHE_DIR/.build.lock"
flock 9

stamp_of() {
  local pkg_version
  pkg_version=$(dpkg-query -W -f='${Version}' "$KERNEL_PKG" 2>/dev/null || echo none)
  { echo "$pkg_version"; cat "$FRAGMENT" "$SELF"; } | sha256sum | cut -d' ' -f1
}

if [ "$force" = 0 ] && [ -s "$BZIMAGE" ] && [ -f "$BZIMAGE.stamp" ] \
   && [ "$(cat "$BZIMAGE.stamp")" = "$(stamp_of)" ]; then
  log "kernel up to date: $BZIMAGE"
  exit 0
fi

ensure_packages "${BUILD_DEPS[@]}"
pkg_version=$(dpkg-query -W -f='${Version}' "$KERNEL_PKG")
tarballs=(/usr/src/"$KERNEL_PKG".tar.*)
tarball=${tarballs[0]}
[ -f "$tarball" ] || { log "no /usr/src/$KERNEL_PKG.tar.* (is $KERNEL_PKG installed?)"; exit 1; }

# Extract once per package version (the tarball's top dir is $KERNEL_PKG/).
src=$CACHE_DIR/$KERNEL_PKG
if [ "$(cat "$src/.timesync-extracted" 2>/dev/null)" != "$pkg_version" ]; then
  log "extracting $tarball into $CACHE_DIR (about a minute)"
  rm -rf "$src"
  nice -n 19 tar -xf "$tarball" -C "$CACHE_DIR"
  echo "$pkg_version" >"$src/.timesync-extracted"
fi

cd "$src"
log "configuring: tinyconfig + $FRAGMENT (log: $CACHE_DIR/config.log)"
{
  "${MAKE[@]}" tinyconfig
  scripts/kconfig/merge_config.sh -m .config "$FRAGMENT"
  "${MAKE[@]}" olddefconfig
} >"$CACHE_DIR/config.log" 2>&1 || { cat "$CACHE_DIR/config.log" >&2; exit 1; }

# Every CONFIG_FOO=y of the fragment must have survived (unmet dependencies
# are silently dropped by Kconfig).
missing=()
while IFS= read -r line; do
  grep -qx "$line" .config || missing+=("$line")
done < <(grep -E '^CONFIG_[A-Za-z0-9_]+=y$' "$FRAGMENT")
if [ ${#missing[@]} -gt 0 ]; then
  log "config symbols not enabled in .config: ${missing[*]}"
  exit 1
fi

log "building bzImage (make -j$JOBS, nice 19)"
start=$(date +%s)
"${MAKE[@]}" -s bzImage
log "kernel built in $(( $(date +%s) - start )) s"

cp .config "$CACHE_DIR/kernel.config.used"
cp arch/x86/boot/bzImage "$BZIMAGE.tmp"
mv "$BZIMAGE.tmp" "$BZIMAGE"
stamp_of >"$BZIMAGE.stamp"
log "kernel ready: $BZIMAGE"
