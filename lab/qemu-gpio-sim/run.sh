#!/usr/bin/env bash
# Run a host-built test binary as root inside a QEMU (TCG) guest whose kernel
# has a live gpio-sim chip, so the libgpiod v1 backend meets a real GPIO
# character device.
#
#   lab/qemu-gpio-sim/run.sh BINARY [ARGS...]
#
# Builds an initramfs holding static busybox, BINARY (at its host path) and
# every shared library `ldd` lists for it, boots the kernel from
# build-kernel.sh (built first if missing or stale) and streams the guest's
# serial console to stdout. In the guest, /init creates one gpio-sim chip
# (bank0: 8 lines, label "timesync-sim"), exports
#   TIMESYNC_GPIO_SIM_CHIP   /dev/gpiochipN
#   TIMESYNC_GPIO_SIM_LABEL  timesync-sim
#   TIMESYNC_GPIO_SIM_SYSFS  /sys/devices/platform/gpio-sim.K/gpiochipN
#                            (holds sim_gpioX/{value,pull})
# runs BINARY ARGS from /tmp and prints TIMESYNC-QEMU-EXIT=<rc>.
#
# Exit status: the guest's rc; 125 if the marker never appeared (timeout,
# kernel panic, setup failure); 77 if qemu, busybox or the kernel is not
# available and cannot be installed/built; 2 on bad usage.
#
# Environment knobs (see also common.sh):
#   TIMESYNC_QEMU_TIMEOUT      seconds before qemu is killed   (default 300)
#   TIMESYNC_QEMU_MEM          guest memory in MiB             (default 512)
#   TIMESYNC_QEMU_SMP          guest CPUs                      (default 1)
#   TIMESYNC_QEMU_PASS_ENV     names of host variables to export in the
#                              guest, space-separated (e.g. "GTEST_FILTER")
#   TIMESYNC_QEMU_EXTRA_FILES  host files/dirs to copy into the guest at the
#                              same path, space-separated (ELF files get
#                              their libraries too)
#   TIMESYNC_QEMU_APPEND       extra kernel command line arguments
#   TIMESYNC_QEMU_KEEP         set to 1: keep the work dir (initramfs tree,
#                              initrd.gz, console.log) for debugging
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ $# -lt 1 ]; then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
if [ ! -f "$1" ] || [ ! -x "$1" ]; then
  log "not an executable file: $1"
  exit 2
fi
binary=$(readlink -f "$1")
shift

TIMEOUT=${TIMESYNC_QEMU_TIMEOUT:-300}
MEM=${TIMESYNC_QEMU_MEM:-512}
SMP=${TIMESYNC_QEMU_SMP:-1}
BUSYBOX=/bin/busybox

# --- Tools and kernel (77 = cannot run here) --------------------------------
ensure_packages qemu-system-x86 busybox-static cpio || true
if ! command -v qemu-system-x86_64 >/dev/null; then
  log "qemu-system-x86_64 not available"
  exit 77
fi
# Needs a static busybox: the guest has no libraries but the test's own.
if [ ! -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
  log "no static busybox at $BUSYBOX (package busybox-static)"
  exit 77
fi
if ! "$QEMU_GPIO_SIM_DIR/build-kernel.sh"; then
  log "kernel not available and could not be built"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/qemu-gpio-sim.XXXXXX")
if [ "${TIMESYNC_QEMU_KEEP:-0}" = 1 ]; then
  log "keeping initramfs tree and console log in $work"
else
  trap 'rm -rf "$work"' EXIT
fi
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc}

# --- Root file system --------------------------------------------------------
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done

libdirs=()
# copy_elf FILE: copy FILE to the same path in the guest, with the libraries
# (and dynamic loader) that ldd resolves for it, at the paths ldd prints.
copy_elf() {
  local file=$1 lib
  install -D -m 0755 "$file" "$root$file"
  while IFS= read -r lib; do
    [ -e "$root$lib" ] && continue
    install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
    libdirs+=("$(dirname "$lib")")
  done < <(ldd "$file" 2>/dev/null \
             | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

copy_elf "$binary"
for extra in ${TIMESYNC_QEMU_EXTRA_FILES:-}; do
  extra=$(readlink -f "$extra")
  if [ -f "$extra" ] && [ "$(head -c4 "$extra" | tr -d '\177')" = ELF ]; then
    copy_elf "$extra"
  else
    cp -a --parents "$extra" "$root"
  fi
done

# A loader cache for the copied library dirs, so no LD_LIBRARY_PATH is needed
# (which would be ignored for set-uid programs anyway).
printf '%s\n' "${libdirs[@]}" | sort -u >"$root/etc/ld.so.conf"
ldconfig -r "$root"

# root plus an unprivileged user for tests that drop privileges. Debian names
# gid 65534 "nogroup"; "nobody" is listed too for lookups by that name.
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
EOF
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

# --- /init --------------------------------------------------------------------
# sq WORD: WORD quoted for the guest's /bin/sh.
sq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1 of the gpio-sim test VM (generated by lab/qemu-gpio-sim/run.sh).
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root

# Leave the VM: ACPI power-off ends qemu; should it fail, a reboot does too
# (qemu runs with -no-reboot), and so would PID 1 exiting (panic=-1).
finish() {
  echo
  echo "TIMESYNC-QEMU-EXIT=$1"
  sync
  poweroff -f
  sleep 2
  reboot -f
  sleep 10
}
fail() { echo "TIMESYNC-QEMU: setup failed: $*"; finish 125; }

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"
# A fresh tmpfs on /tmp; what the initramfs put there (a test binary built
# under /tmp on the host) is moved onto it.
mv /tmp /.initramfs-tmp && mkdir -m 1777 /tmp \
  && mount -t tmpfs -o mode=1777 tmpfs /tmp \
  && cp -a /.initramfs-tmp/. /tmp/ && rm -rf /.initramfs-tmp || fail "mount /tmp"
mount -t configfs configfs /sys/kernel/config || fail "mount configfs"
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
ip link set lo up 2>/dev/null
hostname timesync-qemu

# One gpio-sim chip: bank0 with 8 lines, label timesync-sim.
sim=/sys/kernel/config/gpio-sim/tschip
mkdir "$sim" && mkdir "$sim/bank0" \
  && echo 8 >"$sim/bank0/num_lines" \
  && echo timesync-sim >"$sim/bank0/label" \
  && echo 1 >"$sim/live" || fail "gpio-sim configfs setup"
chip=$(cat "$sim/bank0/chip_name")   # gpiochipN
dev=$(cat "$sim/dev_name")           # gpio-sim.K
i=0
while [ ! -c "/dev/$chip" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ -c "/dev/$chip" ] || fail "/dev/$chip did not appear"
export TIMESYNC_GPIO_SIM_CHIP=/dev/$chip
export TIMESYNC_GPIO_SIM_LABEL=timesync-sim
export TIMESYNC_GPIO_SIM_SYSFS=/sys/devices/platform/$dev/$chip
[ -e "$TIMESYNC_GPIO_SIM_SYSFS/sim_gpio0/pull" ] \
  || fail "no sim_gpio0/pull under $TIMESYNC_GPIO_SIM_SYSFS"
echo  # the BIOS's last line may lack its newline
echo "TIMESYNC-QEMU: kernel $(uname -r), TIMESYNC_GPIO_SIM_CHIP=$TIMESYNC_GPIO_SIM_CHIP" \
     "TIMESYNC_GPIO_SIM_LABEL=$TIMESYNC_GPIO_SIM_LABEL" \
     "TIMESYNC_GPIO_SIM_SYSFS=$TIMESYNC_GPIO_SIM_SYSFS"

cd /tmp
EOF
{
  echo "# Variables passed through from the host (TIMESYNC_QEMU_PASS_ENV)."
  for name in ${TIMESYNC_QEMU_PASS_ENV:-}; do
    [ -n "${!name+x}" ] && echo "export $name=$(sq "${!name}")"
  done
  cmd=$(sq "$binary")
  for arg in "$@"; do cmd+=" $(sq "$arg")"; done
  echo "echo $(sq "TIMESYNC-QEMU: running $cmd")"
  echo "$cmd"
  echo 'finish $?'
} >>"$root/init"
chmod 0755 "$root/init"

(cd "$root" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) \
  | gzip -1 >"$work/initrd.gz"

# --- Boot -----------------------------------------------------------------------
log "booting $(basename "$binary") in qemu (TCG, timeout ${TIMEOUT}s)"
qemu_rc=0
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 \
  -accel tcg -cpu max -m "$MEM" -smp "$SMP" \
  -nographic -no-reboot -nic none \
  -kernel "$BZIMAGE" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 ${TIMESYNC_QEMU_APPEND:-}" \
  </dev/null | sed -u 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' \
  | tee "$work/console.log" || qemu_rc=$?

marker=$(grep -ao 'TIMESYNC-QEMU-EXIT=[0-9]*' "$work/console.log" | tail -n1 || true)
if [ -z "$marker" ]; then
  [ "$qemu_rc" = 124 ] && log "timed out after ${TIMEOUT}s"
  log "no TIMESYNC-QEMU-EXIT marker (qemu status $qemu_rc)"
  exit 125
fi
exit "${marker#TIMESYNC-QEMU-EXIT=}"
