#!/usr/bin/env bash
# Checks the systemd units offline with systemd-analyze.
# Usage: units_test.sh SYSTEMD_ANALYZE UNITS_DIR UNIT=MAX_EXPOSURE...
#   UNITS_DIR holds the rendered units (ExecStart= pointing at built binaries).
# 1. `systemd-analyze verify` accepts every unit and prints nothing: it exits 0
#    on warnings such as an unknown key, so its output is what is checked.
# 2. `systemd-analyze security --offline=yes` rates each unit at most MAX, and
#    every check it marks failed is one accepted here, with the reason.
# 3. The choices the units depend on are still there (see the comments in
#    deploy/systemd/*.service.in for why each is needed), among them a
#    LimitNOFILE= large enough for the role (the master's connections).
set -euo pipefail
analyze=$1
units=$2
shift 2
command -v "$analyze" >/dev/null || { echo "FAIL: $analyze not found (apt-get install systemd)"; exit 1; }
work=$(mktemp -d /tmp/timesync-units-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }

# The harness first: verify must complain about a broken unit (unknown key,
# missing binary), or an empty output below would prove nothing.
cat >"$work/broken.service" <<'EOF'
[Service]
ExecStart=/nonexistent/timesync-agent
Restrt=on-failure
EOF
if out=$("$analyze" verify "$work/broken.service" 2>&1) || [ -z "$out" ]; then
  failed "systemd-analyze verify did not reject a broken unit: '$out'"
fi

files=()
for spec in "$@"; do files+=("$units/${spec%%=*}"); done
# SYSTEMD_LOG_COLOR: plain text, so any output at all is a finding.
if ! out=$(SYSTEMD_LOG_COLOR=0 "$analyze" verify "${files[@]}" 2>&1); then
  failed "systemd-analyze verify failed:"; echo "$out"
elif [ -n "$out" ]; then
  failed "systemd-analyze verify printed warnings:"; echo "$out"
else
  echo "verify: ${files[*]##*/}: no output"
fi

# The checks `systemd-analyze security` may fail, and why each is accepted.
accepted_failures() {  # accepted_failures ROLE
  # Both daemons speak gRPC over IP, log and notify over UNIX sockets.
  echo 'RestrictAddressFamilies=~AF_(INET|INET6)'
  echo 'RestrictAddressFamilies=~AF_UNIX'
  echo 'PrivateNetwork='
  # The peers' addresses are site configuration, not known to the unit.
  echo 'IPAddressDeny='
  # gRPC reads /proc/sys/net/core/somaxconn (ProcSubset=pid would hide it).
  echo 'ProcSubset='
  # Packaged binaries and libraries run from the host's /usr.
  echo 'RootDirectory=/RootImage='
  # ProtectClock= itself adds a read-only ACL for the RTC devices.
  echo 'DeviceAllow='
  # RemoveIPC= would delete the agent's segment in /dev/shm when either
  # daemon stops: both run as the timesync user.
  echo 'RemoveIPC='
  if [ "$1" = agent ]; then
    # UMask=0022: the segment must be readable by every application.
    echo 'UMask='
  fi
}

for spec in "$@"; do
  unit=${spec%%=*}
  max=${spec#*=}
  out=$("$analyze" security --offline=yes --no-pager "$units/$unit" 2>&1) || true
  score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9][0-9.]*\) .*/\1/p')
  if [ -z "$score" ]; then
    failed "$unit: no exposure level in the output of systemd-analyze security:"; echo "$out"
  elif awk -v s="$score" -v m="$max" 'BEGIN { exit !(s > m) }'; then
    failed "$unit: exposure $score is above $max; the checks that failed:"
    printf '%s\n' "$out" | grep '✗' || true
  else
    echo "security: $unit: exposure $score (at most $max)"
  fi
  # Every check systemd-analyze marks failed must be one accepted below, so a
  # lost protection fails the test even when it barely moves the score.
  role=${unit#timesync-}; role=${role%.service}
  accepted=$(accepted_failures "$role")
  while IFS= read -r check; do
    [ -n "$check" ] || continue
    grep -qxF "$check" <<<"$accepted" ||
      failed "$unit: systemd-analyze security: '$check' fails and is not an accepted exposure"
  done < <(printf '%s\n' "$out" | sed -n 's/^✗ \([^ ]*\) .*/\1/p')
done

# Settings whose loss would not move the score much but would break the
# service, each with the reason it is required.
require() {  # require UNIT LINE REASON
  grep -qxF "$2" "$units/$1" || failed "$1: missing '$2' ($3)"
}
forbid() {  # forbid UNIT REGEX REASON
  ! grep -qE "$2" "$units/$1" || failed "$1: has '$(grep -E "$2" "$units/$1")' ($3)"
}
for spec in "$@"; do
  unit=${spec%%=*}
  role=${unit#timesync-}; role=${role%.service}
  config=/etc/timesync/$([ "$role" = agent ] && echo client || echo master).yaml
  bin=$(sed -n 's/^ExecStart=\([^ ]*\) .*/\1/p' "$units/$unit")
  require "$unit" "Type=notify" "the daemons report readiness with sd_notify"
  require "$unit" "NotifyAccess=main" "only the daemon itself may notify"
  grep -qE '^WatchdogSec=[1-9]' "$units/$unit" || failed "$unit: no WatchdogSec= (the daemons ping it)"
  require "$unit" "RestartPreventExitStatus=64 78" "usage and config errors are not retried"
  # The daemons bound their connections by the descriptor limit (issue 17):
  # it must be set, and large enough for their role.
  nofile=$(sed -n 's/^LimitNOFILE=\([0-9][0-9]*\)$/\1/p' "$units/$unit")
  min_nofile=$([ "$role" = master ] && echo 4096 || echo 1024)
  if [ -z "$nofile" ]; then
    failed "$unit: no numeric LimitNOFILE= (connections are bounded by it)"
  elif [ "$nofile" -lt "$min_nofile" ]; then
    failed "$unit: LimitNOFILE=$nofile is below $min_nofile"
  fi
  require "$unit" "ExecStartPre=$bin --config $config --check-config" "config checked before start"
  require "$unit" "ExecStart=$bin --config $config" "the installed config"
  forbid "$unit" '@[A-Z_]+@' "an unsubstituted template variable"
done
if [ -f "$units/timesync-master.service" ]; then
  u=timesync-master.service
  require $u "User=timesync" "a fixed user, so a root:timesync 0640 TLS key is readable"
  forbid $u '^DynamicUser=(yes|true|on|1)' "cannot be granted read access to the TLS key"
  forbid $u '^RemoveIPC=(yes|true|on|1)' "would delete the segment of an agent on the same SoM"
fi
if [ -f "$units/timesync-agent.service" ]; then
  u=timesync-agent.service
  require $u "User=timesync" "the segment's owner, created by the package"
  forbid $u '^DynamicUser=(yes|true|on|1)' "implies RemoveIPC=yes: deletes /dev/shm/timesync on stop"
  forbid $u '^RemoveIPC=(yes|true|on|1)' "deletes /dev/shm/timesync on stop"
  require $u "ReadWritePaths=/dev/shm" "the agent writes the segment"
  require $u "UMask=0022" "the segment and its lock file are world-readable"
fi

[ "$fail" -eq 0 ] && echo "units: OK"
exit "$fail"
