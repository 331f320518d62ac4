#!/usr/bin/env bash
# Installs the Debian 12 packages timesync needs, only those that are missing.
#   deps.sh demo   what ./scripts/demo.sh needs: the compiler, the libraries the
#                  daemons build against, python3 and curl. Nothing that starts
#                  a service.
#   deps.sh test   what the whole test suite needs (./scripts/test.sh, CI): the
#                  above and GoogleTest, Google Benchmark and the tools of the
#                  operations and packaging tests. The default.
# Run by demo.sh and test.sh; safe to run on its own.
set -euo pipefail
what=${1:-test}
case $what in
  demo | test) ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 64 ;;
esac
# Building and running the demo.
TIMESYNC_PACKAGES=(
  g++ cmake ninja-build pkg-config python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev libgpiod-dev
  prometheus-cpp-dev libsystemd-dev
  # UDP exchange authentication (wire/: AES-256-GCM)
  libssl-dev
  # the demo shows the metrics each daemon serves
  curl
)
# The whole test suite, on top of those.
if [ "$what" = test ]; then
  TIMESYNC_PACKAGES+=(
    libgtest-dev libgmock-dev libbenchmark-dev
    # the multi-SoM test bed (network namespaces)
    iproute2
    # operations tests: alert rules (promtool: Debian ships it only in the
    # prometheus package, which also enables a Prometheus server on port 9090),
    # unit files, playbook, packages, TLS certificates
    prometheus systemd ansible-core dpkg-dev openssl
    # packaging tests: file(1) for CPack, lintian, man(1) for the manual pages
    file lintian man-db
    # fuzzing (fuzz/, scripts/fuzz.sh, the fuzz_smoke test): clang and libFuzzer
    clang-14 libclang-rt-14-dev
    # the Python module's tests, with Debian's /usr/bin/python3
    python3-cffi
    # the master's reference and the agent's refclock are tested against a
    # real chronyd -x (which never touches the clock) and real ptp4l/pmc
    chrony linuxptp
  )
fi
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
# Installing chrony starts a chronyd that would discipline this host's clock,
# the truth every test compares against: tests run their own `chronyd -x`.
if [ "$what" = test ] && systemctl is-enabled chrony >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo systemctl disable --now chrony >/dev/null 2>&1 || true
fi
