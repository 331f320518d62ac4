#!/usr/bin/env bash
# Builds the Debian packages of a build tree with CPack and runs lintian on
# every one. Fails on:
#  - any error (E:) or warning (W:) lintian does not report as overridden;
#  - an override that no longer matches anything (unused-override, or
#    mismatched-override: the tag changed under it);
#  - an override in the tree without a comment saying why, on the line(s)
#    right above it.
# Overrides live in deploy/debian/<package>/lintian-overrides and ship in the
# package as /usr/share/lintian/overrides/<package>, where lintian reads them.
# Prints lintian's whole report, the overridden tags included (O:).
# Usage: lintian_test.sh --build DIR --source DIR
set -euo pipefail

while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2 ;;
    --source) source=$2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

command -v lintian >/dev/null || { echo "FAIL: lintian not found (apt-get install lintian; scripts/deps.sh test)"; exit 1; }
work=$(mktemp -d /tmp/timesync-lintian-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }

# Every override has its reason: a comment directly above it (comments may
# run over several lines; a blank line ends one).
for f in "$source"/deploy/debian/*/lintian-overrides; do
  [ -e "$f" ] || continue
  awk -v file="${f#"$source"/}" '
    /^[ \t]*#/ { commented = 1; next }
    /^[ \t]*$/ { commented = 0; next }
    { if (!commented) { printf "FAIL: %s:%d: override without a comment saying why: %s\n", file, NR, $0; bad = 1 }
      commented = 0 }
    END { exit bad }' "$f" || fail=1
done

out=$work/out
if ! cpack --config "$build/CPackConfig.cmake" -G DEB -B "$out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack failed"
  exit 1
fi
mapfile -t debs < <(find "$out" -maxdepth 1 -name '*.deb' | sort)
[ ${#debs[@]} -gt 0 ] || { echo "FAIL: cpack made no .deb in $out"; exit 1; }

lintian --version
# -I and --show-overrides: the info tags (unused-override among them) and the
# overridden ones are shown too, so the report says everything lintian found.
# Exit 1 is "found errors" (counted below); 2 and above, lintian itself failed.
rc=0
lintian --display-info --show-overrides --tag-display-limit 0 "${debs[@]}" >"$work/report" 2>"$work/stderr" || rc=$?
# Lintian's own complaints (not about the packages) go to stderr; running as
# root is one it makes and that is not the packages' business.
grep -v -e 'running with root privileges is not recommended' "$work/stderr" || true
cat "$work/report"

count() { grep -c "^$1: " "$work/report" || true; }
for p in "${debs[@]}"; do
  name=$(dpkg-deb -f "$p" Package)
  printf '%-20s E %s  W %s  I %s  overridden %s\n' "$name" \
    "$(grep -c "^E: $name[ :]" "$work/report" || true)" "$(grep -c "^W: $name[ :]" "$work/report" || true)" \
    "$(grep -c "^I: $name[ :]" "$work/report" || true)" "$(grep -c "^O: $name[ :]" "$work/report" || true)"
done
errors=$(count E)
warnings=$(count W)
echo "lintian: $errors errors, $warnings warnings (not overridden) in ${#debs[@]} packages"
[ "$errors" -eq 0 ] && [ "$warnings" -eq 0 ] || failed "lintian errors or warnings; fix them or override them with a reason in deploy/debian/<package>/lintian-overrides"
! grep -E '^[IW]: .*(unused-override|mismatched-override)' "$work/report" ||
  failed "overrides that no longer match: remove or adjust them"
[ "$rc" -le 1 ] || failed "lintian exited $rc: it could not check the packages (above)"

[ "$fail" -eq 0 ] && echo "lintian: OK"
exit "$fail"
