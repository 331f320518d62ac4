#!/usr/bin/env bash
# Installs the Debian 12 packages timesync needs, only those that are missing.
# Sourced by demo.sh and test.sh; safe to run on its own.
set -euo pipefail
TIMESYNC_PACKAGES=(
  g++ cmake ninja-build pkg-config python3 iproute2
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev libgpiod-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libsystemd-dev
  # UDP exchange authentication (wire/: AES-256-GCM)
  libssl-dev
  # operations tests: alert rules, unit files, playbook, packages, TLS certificates
  prometheus systemd ansible-core dpkg-dev openssl curl
)
missing=()
for p in "${TIMESYNC_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
