# shellcheck shell=bash disable=SC2034  # variables are used by the sourcing scripts
# Shared settings and helpers for build-kernel.sh and run.sh (sourced, not run).
#
# Environment knobs (all optional):
#   TIMESYNC_QEMU_CACHE   cache/output dir          (default /var/cache/timesync-qemu)
#   TIMESYNC_QEMU_JOBS    make -j for the kernel    (default 2)
#   TIMESYNC_QEMU_NO_APT  set to 1: never apt-get install missing packages

QEMU_GPIO_SIM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_DIR=${TIMESYNC_QEMU_CACHE:-/var/cache/timesync-qemu}
BZIMAGE=$CACHE_DIR/bzImage
FRAGMENT=$QEMU_GPIO_SIM_DIR/kernel.config

log() { printf '[qemu-gpio-sim] %s\n' "$*" >&2; }

# ensure_packages PKG...: install the Debian packages that are not installed
# yet (as root, with apt-get). Returns non-zero if something is still missing.
ensure_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "${TIMESYNC_QEMU_NO_APT:-0}" = 1 ] || [ "$(id -u)" -ne 0 ] \
     || ! command -v apt-get >/dev/null; then
    log "missing packages: ${missing[*]} (not installing: need root + apt-get)"
    return 1
  fi
  log "installing: ${missing[*]}"
  apt-get update -qq >&2 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
}
