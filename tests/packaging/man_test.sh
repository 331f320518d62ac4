#!/usr/bin/env bash
# The manual pages, as `cmake --install` places them:
#  1. every installed program has its page in man1, and every page in man1
#     and man5 is gzip -9n and formats without a warning from man/groff
#     (the check lintian makes);
#  2. every option and subcommand in a program's usage text (--help, or what
#     it prints for a bad option) appears on its page: the hand-written pages
#     follow the programs;
#  3. the generated configuration pages list every key and every rule the
#     daemon's --print-schema prints, with its type.
# Usage: man_test.sh --build DIR
set -euo pipefail

while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

command -v man >/dev/null || { echo "FAIL: man not found (apt-get install man-db; scripts/deps.sh test)"; exit 1; }
work=$(mktemp -d /tmp/timesync-man-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }

prefix=$work/prefix
for component in lib master agent kuramoto; do
  cmake --install "$build" --prefix "$prefix" --component "$component" >/dev/null
done
libdir=$(dirname "$(find "$prefix" -name 'libtimesync.so.*' | head -n1)")
export LD_LIBRARY_PATH=$libdir
man1=$prefix/share/man/man1
man5=$prefix/share/man/man5

# The page's source with roff's escaped hyphens made plain, for grep -F.
source_of() { gzip -dc "$1" | sed 's/\\-/-/g'; }

# 1. A page per program; every page gzip -9n and clean.
for prog in "$prefix"/bin/*; do
  [ -f "$man1/${prog##*/}.1.gz" ] || failed "${prog##*/}: no manual page (man/${prog##*/}.1.in)"
done
for page in "$man1"/*.gz "$man5"/*.gz; do
  name=${page##*/}
  # gzip header: no file name stored (flag 0x08) and no time stamp (bytes 4-7).
  header=$(od -An -tu1 -N8 "$page" | tr -s ' ')
  read -r _ _ _ flags t0 t1 t2 t3 <<<"$header"
  [ $((flags & 8)) -eq 0 ] && [ "$t0$t1$t2$t3" = 0000 ] || failed "$name: not gzip -n (name or time stored)"
  warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) ||
    failed "$name: man failed"
  [ -z "$warnings" ] || failed "$name: warnings from man:"$'\n'"$warnings"
  gzip -dc "$page" | grep -q '^\.SH NAME' || failed "$name: no NAME section"
done
echo "pages: $(ls "$man1" | wc -l) in man1, $(ls "$man5" | wc -l) in man5"

# 2. Options and subcommands of each program on its page.
for prog in "$prefix"/bin/*; do
  name=${prog##*/}
  page=$man1/$name.1.gz
  [ -f "$page" ] || continue
  # A program without --help prints its usage after "unknown option '--help'";
  # that line names no option of its own.
  usage=$("$prog" --help 2>&1 | grep -v "unknown \(option\|command\) '--help'" || true)
  grep -qi 'usage' <<<"$usage" || { failed "$name --help printed no usage"; continue; }
  source_of "$page" >"$work/page"
  words=$( { grep -oE -- '--[a-z][a-z0-9-]*' <<<"$usage" || true
             grep -oE "^ *(usage: )?$name [a-z]+" <<<"$usage" | awk '{ print $NF }' || true; } | sort -u)
  missing=""
  for w in $words; do
    grep -qF -- "$w" "$work/page" || missing="$missing $w"
  done
  [ -z "$missing" ] || failed "$name: on --help but not on its page:$missing"
  echo "$name: $(wc -w <<<"$words") options and commands, all on the page"
done

# 3. The configuration pages against the schema.
for pair in timesync-master:timesync-master.yaml timesync-agent:timesync-agent.yaml; do
  prog=$prefix/bin/${pair%%:*}
  page=$man5/${pair#*:}.5.gz
  [ -x "$prog" ] || continue
  [ -f "$page" ] || { failed "no ${page##*/}"; continue; }
  source_of "$page" >"$work/page"
  "$prog" --print-schema >"$work/schema"
  keys=0
  while read -r key type _; do
    grep -qF "\\fB$key\\fR ($type)" "$work/page" || failed "${page##*/}: key $key ($type) missing"
    keys=$((keys + 1))
  done < <(grep -E '^[a-z]' "$work/schema" | grep -v '^Keys of\|^Also checked')
  rules=0
  while read -r rule; do
    grep -qxF "$rule" "$work/page" || failed "${page##*/}: rule '$rule' missing"
    rules=$((rules + 1))
  done < <(sed -n '/^Also checked:/,$p' "$work/schema" | sed -n 's/^  //p')
  [ "$keys" -gt 0 ] || failed "${page##*/}: no keys read from --print-schema"
  echo "${page##*/}: $keys keys and $rules rules of the schema, all on the page"
done

[ "$fail" -eq 0 ] && echo "manual pages: OK"
exit "$fail"
