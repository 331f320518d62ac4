#!/usr/bin/env bash
# The packages under a real systemd (manual check; not in CTest: it needs root,
# downloads a Debian kernel and takes about 6 minutes on 2 cores without KVM).
#
# Boots Debian 12's kernel in QEMU with this host's root file system as a
# read-only 9p lower layer under a tmpfs overlay, and systemd (252) as PID 1,
# into a target with the basic system only. There it installs the four .deb
# files with dpkg and checks: the postinst creates the user, enables and
# starts both units (Type=notify: they become active only on READY=1); the
# agent publishes a segment owned by timesync, 0644, that another user reads
# as synchronized; both daemons run with a seccomp filter, no capabilities and
# no_new_privs; the agent's private /dev has the host's /dev/shm (same inode);
# neither is restarted in 25 s (the watchdog is fed); a SIGSTOPped agent is
# killed by the watchdog and restarted; a bad client.yaml stops at the start
# limit; a stopped agent leaves its segment (no RemoveIPC), refusing time;
# dpkg -r stops both; dpkg -P removes the conffiles.
#
# Usage: sudo vm_check.sh --debs DIR | --build BUILD_DIR   [--kvm]
#   --build runs cpack on BUILD_DIR first. --kvm uses KVM (TCG otherwise).
# Needs: qemu-system-x86, busybox-static, cpio; apt-get download for the kernel
# (kept in ${TIMESYNC_VM_CACHE:-/var/cache/timesync-vm}). Exit 0 on PASS.
set -euo pipefail
debs="" build="" accel=tcg
while [ $# -gt 0 ]; do
  case $1 in
    --debs) debs=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --kvm) accel=kvm; shift ;;
    *) echo "usage: $0 --debs DIR | --build BUILD_DIR [--kvm]" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "needs root (9p export of /, apt-get download)" >&2; exit 2; }
for t in qemu-system-x86_64 busybox cpio gzip dpkg-deb; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install qemu-system-x86 busybox-static cpio)" >&2; exit 2; }
done
file -L "$(command -v busybox)" | grep -q "statically linked" ||
  { echo "busybox must be static (apt-get install busybox-static)" >&2; exit 2; }

work=$(mktemp -d /tmp/timesync-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ -n "$build" ]; then
  cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; exit 1; }
  debs=$work/cpack
fi
if [ -z "$debs" ] || [ "$(find "$debs" -maxdepth 1 -name '*.deb' | wc -l)" != 4 ]; then
  echo "need the four .deb files (--debs DIR or --build BUILD_DIR)" >&2
  exit 2
fi

# The kernel: Debian 12's, as a package (its 9p and overlay are modules).
cache=${TIMESYNC_VM_CACHE:-/var/cache/timesync-vm}
mkdir -p "$cache"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -d "$cache/$kpkg" ] || {
  (cd "$cache" && apt-get download "$kpkg" >/dev/null 2>&1)
  dpkg-deb -x "$cache/${kpkg}"_*.deb "$cache/$kpkg"
}
kver=${kpkg#linux-image-}
vmlinuz=$cache/$kpkg/boot/vmlinuz-$kver
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         netfs fscache 9pnet 9pnet_virtio 9p overlay)

ird=$work/initrd
mkdir -p "$ird"/{bin,proc,sys,dev,m,debs}
cp "$(command -v busybox)" "$ird/bin/busybox"
for m in "${modules[@]}"; do
  cp "$(find "$cache/$kpkg/lib/modules" -name "$m.ko")" "$ird/m/"
done
cp "$debs"/*.deb "$ird/debs/"

# /init: host root (read-only 9p) + tmpfs overlay, the check as the default
# target, then systemd.
cat >"$ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${modules[*]}; do insmod /m/\$m.ko || echo "insmod \$m failed"; done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostroot /lower
mount -t tmpfs -o size=1500m tmpfs /rw; mkdir -p /rw/u /rw/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/u,workdir=/rw/w /newroot
mkdir -p /newroot/vmtest-debs; cp /debs/*.deb /newroot/vmtest-debs/
cp /guest.sh /newroot/vmtest-guest.sh; chmod +x /newroot/vmtest-guest.sh
cp /vmtest.service /vmtest.target /newroot/etc/systemd/system/
ln -sf /etc/systemd/system/vmtest.target /newroot/etc/systemd/system/default.target
# A container image's policy-rc.d (exit 101) would stop deb-systemd-invoke
# from starting anything; a SoM has none.
rm -f /newroot/usr/sbin/policy-rc.d
: > /newroot/etc/machine-id
umount /proc /sys /dev
exec switch_root /newroot /lib/systemd/systemd
EOF
chmod +x "$ird/init"
cat >"$ird/vmtest.target" <<'EOF'
[Unit]
Description=timesync VM check (the basic system only, none of the host's services)
Requires=basic.target vmtest.service
After=basic.target
# Boot starts the default unit in isolate mode.
AllowIsolate=yes
EOF
cat >"$ird/vmtest.service" <<'EOF'
[Unit]
Description=timesync VM check
After=basic.target
[Service]
Type=oneshot
ExecStart=/vmtest-guest.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
EOF
cat >"$ird/guest.sh" <<'GUEST'
#!/bin/sh
log() { echo "VMTEST: $*"; }
fail=0
check() {  # check DESCRIPTION SHELL-CONDITION
  if sh -c "$2" >/tmp/check.out 2>&1; then log "ok: $1"; else
    log "FAIL: $1"; sed 's/^/VMTEST:   /' /tmp/check.out; fail=1; fi
}
log "$(systemctl --version | head -n1)"
DEBIAN_FRONTEND=noninteractive dpkg -i /vmtest-debs/*.deb >/tmp/dpkg.log 2>&1 ||
  { log "FAIL: dpkg -i"; fail=1; }
sed 's/^/VMTEST: dpkg: /' /tmp/dpkg.log | grep -v "Reading database"
sleep 3
check "user timesync: $(getent passwd timesync)" "getent passwd timesync | grep -q ':/usr/sbin/nologin$'"
for u in timesync-master timesync-agent; do
  check "$u enabled and active after dpkg -i" "systemctl is-enabled $u && systemctl is-active $u"
done
# The packaged placeholder master; the emulated loopback here has delays of
# several ms, so the bound limit is raised for the agent to lock.
sed -i 's/^master: .*/master: "127.0.0.1:7450"/; s/^  max_error_us: .*/  max_error_us: 100000/' \
  /etc/timesync/client.yaml
systemctl restart timesync-agent
check "agent active after restart" "systemctl is-active timesync-agent"
i=0
until runuser -u nobody -- timesync-now --path /dev/shm/timesync >/tmp/now.out 2>&1 || [ $i -ge 120 ]; do
  sleep 0.5; i=$((i + 1))
done
check "user nobody reads a synchronized time: $(cat /tmp/now.out)" \
  "runuser -u nobody -- timesync-now --path /dev/shm/timesync"
check "segment and lock owned by timesync, 0644: $(stat -c '%U %a' /dev/shm/timesync /dev/shm/timesync.lock | tr '\n' ' ')" \
  "[ \"\$(stat -c '%U %a' /dev/shm/timesync /dev/shm/timesync.lock | tr '\n' ' ')\" = 'timesync 644 timesync 644 ' ]"
check "user nobody cannot write the segment" "! runuser -u nobody -- sh -c 'echo x >> /dev/shm/timesync'"
for u in timesync-master timesync-agent; do
  pid=$(systemctl show -p MainPID --value $u)
  log "$u: $(systemctl show -p User,WatchdogUSec,StatusText $u | tr '\n' ' ')"
  check "$u: seccomp filter, no_new_privs, no capabilities" \
    "grep -q '^Seccomp:.2' /proc/$pid/status && grep -q '^NoNewPrivs:.1' /proc/$pid/status && grep -q '^CapEff:.0000000000000000' /proc/$pid/status"
done
apid=$(systemctl show -p MainPID --value timesync-agent)
check "agent's private /dev has the host's /dev/shm (same inode)" \
  "[ \"\$(stat -c %i /proc/$apid/root/dev/shm/timesync)\" = \"\$(stat -c %i /dev/shm/timesync)\" ]"
check "agent's private /dev has no disks" "! ls /proc/$apid/root/dev | grep -q '^vd\|^sd'"
sleep 25
for u in timesync-master timesync-agent; do
  check "$u: active and not restarted after 25 s (watchdog fed)" \
    "[ \"\$(systemctl show -p NRestarts --value $u)\" = 0 ] && systemctl is-active $u"
done
check "timesyncctl status as user nobody" "runuser -u nobody -- timesyncctl status"
systemctl kill -s SIGSTOP timesync-agent
sleep 14
check "SIGSTOPped agent killed by the watchdog and restarted: $(systemctl show -p NRestarts timesync-agent)" \
  "[ \"\$(systemctl show -p NRestarts --value timesync-agent)\" -ge 1 ]"
sleep 3
check "agent active again" "systemctl is-active timesync-agent"
cp /etc/timesync/client.yaml /tmp/client.yaml.good
echo "bogus_key: 1" >>/etc/timesync/client.yaml
systemctl restart timesync-agent
# ExecStartPre exits 78 each time; RestartPreventExitStatus= does not cover
# it, so the retries go on until StartLimitBurst= (5 starts in 60 s).
i=0
until systemctl is-failed --quiet timesync-agent || [ $i -ge 60 ]; do sleep 1; i=$((i + 1)); done
log "bad config: $(systemctl show -p ActiveState,Result,NRestarts timesync-agent | tr '\n' ' ')"
check "bad config: agent failed and left failed (start limit)" "systemctl is-failed timesync-agent"
cp /tmp/client.yaml.good /etc/timesync/client.yaml
systemctl reset-failed timesync-agent
systemctl start timesync-agent
check "agent back with the good config" "systemctl is-active timesync-agent"
systemctl stop timesync-agent
check "segment kept after stop (no RemoveIPC)" "[ -f /dev/shm/timesync ]"
check "stopped agent: time refused" "! runuser -u nobody -- timesync-now --path /dev/shm/timesync"
systemctl start timesync-agent
dpkg -r timesync-agent timesync-master >/tmp/dpkg-r.log 2>&1 || { log "FAIL: dpkg -r"; fail=1; }
check "dpkg -r stopped both" "! systemctl is-active timesync-agent && ! systemctl is-active timesync-master"
check "conffiles kept after dpkg -r" "[ -f /etc/timesync/client.yaml ]"
dpkg -P timesync-agent timesync-master libtimesync-dev libtimesync0 >/tmp/dpkg-p.log 2>&1 ||
  { log "FAIL: dpkg -P"; fail=1; }
check "conffiles gone after dpkg -P" "[ ! -e /etc/timesync/client.yaml ] && [ ! -e /etc/timesync/master.yaml ]"
journalctl -u timesync-agent -u timesync-master --no-pager -o short-monotonic | tail -n 40 |
  sed 's/^/VMTEST: journal: /'
if [ $fail = 0 ]; then log "RESULT PASS"; else log "RESULT FAIL"; fi
systemctl poweroff --no-block
GUEST
chmod +x "$ird/guest.sh"
(cd "$ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1 >"$work/initrd.gz")

accel_opts=(-accel tcg -cpu max)
[ "$accel" = kvm ] && accel_opts=(-accel kvm)
timeout 900 qemu-system-x86_64 "${accel_opts[@]}" -m 2048 -smp 2 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyS0 panic=-1 loglevel=4" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on >"$work/console.log" 2>&1 || true
grep -a "VMTEST" "$work/console.log" || { tail -n 40 "$work/console.log"; echo "no output from the check"; exit 1; }
grep -aq "VMTEST: RESULT PASS" "$work/console.log"
