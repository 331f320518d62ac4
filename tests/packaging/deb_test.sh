#!/usr/bin/env bash
# Builds the Debian packages of a build tree with CPack and checks them:
#  1. exactly the six expected .deb files, named <package>_<version>_<arch>.deb
#     (python3-timesync is Architecture: all, the others this machine's);
#  2. control fields: Package, Version, Architecture, Maintainer, Section,
#     Description, Depends (dpkg-shlibdeps ran; libtimesync0 for every package
#     whose programs link it; -dev pins the exact runtime version; everything
#     else satisfiable on this system), conffiles, shlibs, the ldconfig trigger;
#  3. maintainer scripts: present, executable, valid sh, and run against stub
#     commands: what they do with and without a running systemd;
#  4. file lists, modes and ownership (the library in the multiarch directory,
#     copyright and changelog in every package, the manual pages), stripped
#     programs; copyright made from LICENSE, changelog.Debian.gz from
#     deploy/debian/changelog (gzip -9n) naming the packages' version;
#  5. unpacked into one root: the configs pass --check-config, the units name
#     the packaged paths, the sysusers.d entry creates the user, the programs
#     run with the packaged library, and the C (pkg-config) and C++
#     (find_package) consumers of tests/install/ build against the root alone
#     and read a segment written by timesync-sim-publisher; Debian's
#     /usr/bin/python3 imports the packaged Python module from the root, which
#     loads the packaged library by its soname and reads that segment.
# Usage: deb_test.sh --build DIR --source DIR --version X.Y.Z --libdir DIR
#                    --publisher PATH
set -euo pipefail

while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2 ;;
    --source) source=$2 ;;
    --version) upstream=$2 ;;
    --libdir) libdir_opt=$2 ;;
    --publisher) publisher=$2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

work=$(mktemp -d /tmp/timesync-deb-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }
# Stops at the first failure of a step later steps depend on.
fatal() { echo "FAIL: $*"; exit 1; }

# Where the library lands inside the packages (prefix /usr).
case $libdir_opt in
  /*) libdir=${libdir_opt#/} ;;
  *) libdir=usr/$libdir_opt ;;
esac
major=${upstream%%.*}
arch=$(dpkg --print-architecture)
packages=("libtimesync$major" libtimesync-dev timesync-master timesync-agent timesync-kuramoto
          python3-timesync)
# The Python module has no compiled code (cffi's ABI mode): one package for all.
pkg_arch() { if [ "$1" = python3-timesync ]; then echo all; else echo "$arch"; fi; }
pydir=usr/lib/python3/dist-packages

# --- 1. build -------------------------------------------------------------------
out=$work/out
start=$(date +%s)
if ! cpack --config "$build/CPackConfig.cmake" -G DEB -B "$out" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  fatal "cpack failed"
fi
echo "cpack: $(($(date +%s) - start)) s"
if grep -qi "warning" "$work/cpack.log"; then
  grep -i -A3 "warning" "$work/cpack.log"
  failed "cpack printed warnings"
fi

# One version for all six, the upstream version plus a Debian revision.
libdebs=("$out/libtimesync${major}_"*.deb)
version=$(dpkg-deb -f "${libdebs[0]}" Version 2>/dev/null) ||
  fatal "no libtimesync$major package in $(ls "$out")"
[[ $version =~ ^${upstream//./\\.}-[0-9]+$ ]] || failed "version '$version' is not $upstream-<revision>"
expected_debs=$(for p in "${packages[@]}"; do echo "${p}_${version}_$(pkg_arch "$p").deb"; done | sort)
actual_debs=$(find "$out" -maxdepth 1 -name "*.*deb" -printf "%f\n" | sort)
[ "$actual_debs" = "$expected_debs" ] ||
  fatal "packages built:"$'\n'"$actual_debs"$'\n'"expected:"$'\n'"$expected_debs"
deb() { echo "$out/${1}_${version}_$(pkg_arch "$1").deb"; }
for p in "${packages[@]}"; do
  echo "$p: $(stat -c %s "$(deb "$p")") bytes"
done

# --- 2. control fields -------------------------------------------------------------
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
# has_dep PACKAGE REGEX: one element of Depends matches REGEX entirely.
# (Outputs are captured before grep -q reads them: with pipefail, a writer
# killed by SIGPIPE after grep -q matched would turn a match into a failure.)
has_dep() {
  local deps
  deps=$(field "$1" Depends | tr ',' '\n' | sed 's/^ *//; s/ *$//')
  grep -qxE "$2" <<<"$deps"
}
declare -A section=([libtimesync$major]=libs [libtimesync-dev]=libdevel
                    [timesync-master]=net [timesync-agent]=net [timesync-kuramoto]=misc
                    [python3-timesync]=python)
vre=${version//./\\.}
for p in "${packages[@]}"; do
  [ "$(field "$p" Package)" = "$p" ] || failed "$p: Package is '$(field "$p" Package)'"
  [ "$(field "$p" Version)" = "$version" ] || failed "$p: Version is '$(field "$p" Version)'"
  [ "$(field "$p" Architecture)" = "$(pkg_arch "$p")" ] || failed "$p: Architecture is '$(field "$p" Architecture)'"
  [ "$(field "$p" Section)" = "${section[$p]}" ] || failed "$p: Section is '$(field "$p" Section)'"
  grep -qE '^[^<]+ <[^@> ]+@[^> ]+>$' <<<"$(field "$p" Maintainer)" ||
    failed "$p: Maintainer '$(field "$p" Maintainer)' is not 'Name <address>'"
  # A synopsis and an extended description, as Debian policy wants.
  desc=$(field "$p" Description)
  if [ "$(printf '%s\n' "$desc" | wc -l)" -lt 2 ] || [ -z "$(printf '%s\n' "$desc" | head -n1)" ]; then
    failed "$p: Description has no synopsis and extended text"
  fi
  echo "$p: Depends: $(field "$p" Depends)"
done
# dpkg-shlibdeps ran: the C library is always among the dependencies found.
for p in "libtimesync$major" timesync-master timesync-agent timesync-kuramoto; do
  has_dep "$p" 'libc6 \(>= [0-9.]+\)' || failed "$p: no libc6 in Depends (dpkg-shlibdeps did not run)"
done
has_dep timesync-kuramoto 'libgpiod[0-9]+ .*' || failed "timesync-kuramoto: no libgpiod in Depends"
has_dep timesync-master 'libgrpc\+\+[0-9.]+ .*' || failed "timesync-master: no libgrpc++ in Depends"
has_dep timesync-agent 'libgrpc\+\+[0-9.]+ .*' || failed "timesync-agent: no libgrpc++ in Depends"
has_dep libtimesync-dev "libtimesync$major \(= $vre\)" ||
  failed "libtimesync-dev: does not depend on libtimesync$major (= $version)"
# The Python module: the interpreter, cffi, and exactly the library whose C
# declarations it carries (it is built from the same tree).
has_dep python3-timesync "libtimesync$major \(= $vre\)" ||
  failed "python3-timesync: does not depend on libtimesync$major (= $version)"
has_dep python3-timesync 'python3' || failed "python3-timesync: does not depend on python3"
has_dep python3-timesync 'python3-cffi' || failed "python3-timesync: does not depend on python3-cffi"
has_dep timesync-master 'systemd \| systemd-sysusers' ||
  failed "timesync-master: no 'systemd | systemd-sysusers' (the postinst creates a user)"
has_dep timesync-agent 'systemd \| systemd-sysusers' ||
  failed "timesync-agent: no 'systemd | systemd-sysusers' (the postinst creates a user)"
# Everything but our own library must be installable here (names and versions
# that exist in Debian, alternatives and virtual packages resolved by dpkg).
for p in "${packages[@]}"; do
  deps=$(field "$p" Depends | tr ',' '\n' | sed 's/^ *//' | { grep -v "^libtimesync$major " || true; } |
         paste -sd, -)
  [ -z "$deps" ] || (cd "$work" && dpkg-checkbuilddeps -d "$deps" /dev/null) ||
    failed "$p: Depends not satisfiable on this system: $deps"
done

# The library's shlibs file, for packages built against libtimesync-dev.
dpkg-deb --ctrl-tarfile "$(deb "libtimesync$major")" | tar -xO ./shlibs >"$work/shlibs" 2>/dev/null ||
  failed "libtimesync$major: no shlibs file"
[ "$(cat "$work/shlibs")" = "libtimesync $major libtimesync$major (>= $version)" ] ||
  failed "libtimesync$major: shlibs is '$(cat "$work/shlibs")'"

# --- 3. maintainer scripts -------------------------------------------------------
declare -A conffile=([timesync-master]=/etc/timesync/master.yaml
                     [timesync-agent]=/etc/timesync/client.yaml)
for p in timesync-master timesync-agent; do
  ctl=$work/control/$p
  mkdir -p "$ctl"
  dpkg-deb -e "$(deb "$p")" "$ctl"
  [ "$(cat "$ctl/conffiles" 2>/dev/null)" = "${conffile[$p]}" ] ||
    failed "$p: conffiles is '$(cat "$ctl/conffiles" 2>/dev/null)', expected ${conffile[$p]}"
  for s in postinst prerm postrm; do
    [ -x "$ctl/$s" ] || { failed "$p: no executable $s"; continue; }
    [ "$(head -n1 "$ctl/$s")" = "#!/bin/sh" ] || failed "$p: $s does not start with #!/bin/sh"
    sh -n "$ctl/$s" || failed "$p: $s is not valid sh"
  done
done
# ldconfig from dpkg's trigger, and no maintainer script of the library's.
ctl=$work/control/libtimesync$major
mkdir -p "$ctl"
dpkg-deb -e "$(deb "libtimesync$major")" "$ctl"
grep -qx 'activate-noawait ldconfig' "$ctl/triggers" 2>/dev/null ||
  failed "libtimesync$major: no 'activate-noawait ldconfig' trigger"
for s in preinst postinst prerm postrm; do
  [ ! -e "$ctl/$s" ] || failed "libtimesync$major: has a $s:"$'\n'"$(cat "$ctl/$s")"
done
for p in libtimesync-dev timesync-kuramoto; do
  dpkg-deb -e "$(deb "$p")" "$work/control/$p"
  for s in preinst postinst prerm postrm; do
    [ ! -e "$work/control/$p/$s" ] || failed "$p: has a $s"
  done
done

# python3-timesync: byte-compiles in its postinst and cleans in its prerm, as
# dh_python3's scripts do; nothing before installing or after removing.
ctl=$work/control/python3-timesync
mkdir -p "$ctl"
dpkg-deb -e "$(deb python3-timesync)" "$ctl"
for s in postinst prerm; do
  [ -x "$ctl/$s" ] || { failed "python3-timesync: no executable $s"; continue; }
  [ "$(head -n1 "$ctl/$s")" = "#!/bin/sh" ] || failed "python3-timesync: $s does not start with #!/bin/sh"
  sh -n "$ctl/$s" || failed "python3-timesync: $s is not valid sh"
done
for s in preinst postrm conffiles; do
  [ ! -e "$ctl/$s" ] || failed "python3-timesync: has a $s"
done

# Run the scripts with PATH holding only stubs that log their arguments: a
# command they call that is not stubbed fails them (set -e), and nothing on
# this machine is changed. Whether systemd runs is read from the real
# /run/systemd/system, so both answers are checked, whichever this host gives.
make_stubs() {  # make_stubs DIR COMMAND...
  mkdir -p "$1"
  local dir=$1 c
  shift
  for c in "$@"; do
    # deb-systemd-helper was-enabled says yes.
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\nexit 0\n' "$c" "$work" >"$dir/$c"
    chmod +x "$dir/$c"
  done
}
stubs=$work/stubs
make_stubs "$stubs" systemd-sysusers deb-systemd-helper deb-systemd-invoke systemctl
run_script() {  # run_script STUBDIR PACKAGE SCRIPT ARGS...
  local dir=$1 p=$2 s=$3
  shift 3
  : >"$work/calls"
  env -i PATH="$dir" /bin/sh "$work/control/$p/$s" "$@" || failed "$p: $s $* exited $?"
}
called() { grep -qxF "$1" "$work/calls"; }
called_re() { grep -qxE "$1" "$work/calls"; }
if [ -d /run/systemd/system ]; then systemd_runs=1; else systemd_runs=0; fi
for p in timesync-master timesync-agent; do
  unit=$p.service
  run_script "$stubs" "$p" postinst configure ""
  sysusers=timesync.conf
  [ "$p" = timesync-agent ] || sysusers=timesync-master.conf
  called "systemd-sysusers $sysusers" || failed "$p: postinst did not create the user with systemd-sysusers"
  called "deb-systemd-helper enable $unit" || failed "$p: postinst did not enable $unit"
  if [ $systemd_runs = 1 ]; then
    called "deb-systemd-invoke start $unit" || failed "$p: postinst did not start $unit"
  else
    ! called_re "(deb-systemd-invoke|systemctl) .*" || failed "$p: postinst touched services without systemd:"$'\n'"$(cat "$work/calls")"
  fi
  run_script "$stubs" "$p" postinst configure 0.0.1-1   # an upgrade
  [ $systemd_runs = 0 ] || called "deb-systemd-invoke restart $unit" || failed "$p: postinst did not restart $unit on upgrade"
  run_script "$stubs" "$p" prerm upgrade "$version"
  ! called_re "deb-systemd-invoke stop .*" || failed "$p: prerm stopped the service for an upgrade"
  run_script "$stubs" "$p" prerm remove
  [ $systemd_runs = 0 ] || called "deb-systemd-invoke stop $unit" || failed "$p: prerm remove did not stop $unit"
  [ $systemd_runs = 1 ] || [ ! -s "$work/calls" ] || failed "$p: prerm remove without systemd ran: $(cat "$work/calls")"
  run_script "$stubs" "$p" postrm remove
  called "deb-systemd-helper mask $unit" || failed "$p: postrm remove did not mask $unit"
  run_script "$stubs" "$p" postrm purge
  called "deb-systemd-helper purge $unit" || failed "$p: postrm purge did not purge $unit's state"
done
# python3-timesync: py3compile on configure, py3clean on removal; without
# py3clean (python3 removed first) the prerm removes the module's __pycache__.
make_stubs "$work/pystubs" py3compile py3clean
run_script "$work/pystubs" python3-timesync postinst configure ""
called "py3compile -p python3-timesync" || failed "python3-timesync: postinst did not run py3compile -p python3-timesync"
run_script "$work/pystubs" python3-timesync prerm remove
called "py3clean -p python3-timesync" || failed "python3-timesync: prerm remove did not run py3clean -p python3-timesync"
make_stubs "$work/pystubs-nopy" rm
run_script "$work/pystubs-nopy" python3-timesync prerm remove
called "rm -rf /$pydir/timesync/__pycache__" ||
  failed "python3-timesync: prerm without py3clean did not remove the module's __pycache__"
run_script "$work/pystubs" python3-timesync prerm upgrade "$version"
called "py3clean -p python3-timesync" || failed "python3-timesync: prerm upgrade did not run py3clean"

# The user comes from sysusers.d alone (Depends: systemd | systemd-sysusers).
for p in timesync-agent timesync-master; do
  ! grep -qw adduser "$work/control/$p/postinst" || failed "$p: postinst still uses adduser"
done

# --- 4. file lists ----------------------------------------------------------------
# Expected files and symlinks (not directories) per package, as extended
# regular expressions, each with its mode; every file must match one and
# every line must match at least one file.
headers=$(cd "$source/libtimesync/include" && find timesync -type f | sort)
expect() {
  # Every package: copyright, changelog, and the lintian overrides it has.
  echo "-rw-r--r-- ./usr/share/doc/$1/copyright"
  echo "-rw-r--r-- ./usr/share/doc/$1/changelog\.Debian\.gz"
  [ ! -f "$source/deploy/debian/$1/lintian-overrides" ] ||
    echo "-rw-r--r-- ./usr/share/lintian/overrides/$1"
  case $1 in
    "libtimesync$major")
      echo "lrwxrwxrwx ./$libdir/libtimesync\.so\.$major -> libtimesync\.so\.${upstream//./\\.}"
      echo "-rw-r--r-- ./$libdir/libtimesync\.so\.${upstream//./\\.}" ;;
    libtimesync-dev)
      for h in $headers; do echo "-rw-r--r-- ./usr/include/${h//./\\.}"; done
      echo "lrwxrwxrwx ./$libdir/libtimesync\.so -> libtimesync\.so\.$major"
      echo "-rw-r--r-- ./$libdir/pkgconfig/timesync\.pc"
      echo "-rw-r--r-- ./$libdir/cmake/timesync/timesyncConfig\.cmake"
      echo "-rw-r--r-- ./$libdir/cmake/timesync/timesyncConfigVersion\.cmake"
      echo "-rw-r--r-- ./$libdir/cmake/timesync/timesyncTargets\.cmake"
      echo "-rw-r--r-- ./$libdir/cmake/timesync/timesyncTargets-[a-z]+\.cmake" ;;
    timesync-master)
      echo "-rwxr-xr-x ./usr/bin/timesync-master"
      echo "-rw-r--r-- ./usr/share/man/man1/timesync-master\.1\.gz"
      echo "-rw-r--r-- ./usr/share/man/man5/timesync-master\.yaml\.5\.gz"
      echo "-rw-r--r-- ./etc/timesync/master\.yaml"
      echo "-rw-r--r-- ./usr/lib/systemd/system/timesync-master\.service"
      echo "-rw-r--r-- ./usr/lib/sysusers\.d/timesync-master\.conf"
      echo "-rw-r--r-- ./usr/share/doc/timesync-master/README\.md" ;;
    timesync-agent)
      for b in timesync-agent timesyncctl timesync-now timesync-probe timesync-run; do
        echo "-rwxr-xr-x ./usr/bin/$b"
        echo "-rw-r--r-- ./usr/share/man/man1/$b\.1\.gz"
      done
      echo "-rw-r--r-- ./usr/share/man/man5/timesync-agent\.yaml\.5\.gz"
      echo "-rw-r--r-- ./etc/timesync/client\.yaml"
      echo "-rw-r--r-- ./usr/lib/systemd/system/timesync-agent\.service"
      echo "-rw-r--r-- ./usr/lib/sysusers\.d/timesync\.conf"
      echo "-rw-r--r-- ./usr/share/doc/timesync-agent/README\.md" ;;
    timesync-kuramoto)
      echo "-rwxr-xr-x ./usr/bin/timesync-kuramoto"
      echo "-rw-r--r-- ./usr/share/man/man1/timesync-kuramoto\.1\.gz" ;;
    python3-timesync)
      # The source alone: no __pycache__ (python/tests runs beside it).
      echo "-rw-r--r-- ./$pydir/timesync/__init__\.py" ;;
  esac
}
for p in "${packages[@]}"; do
  # "<mode> <path>[ -> <target>]" for everything but directories; all root-owned.
  dpkg-deb -c "$(deb "$p")" >"$work/$p.list"
  awk '$2 != "root/root" { print "  " $0 }' "$work/$p.list" | grep . &&
    failed "$p: files not owned by root/root"
  awk '$1 !~ /^d/ { $2 = $3 = $4 = $5 = ""; print }' "$work/$p.list" |
    sed -E 's/ +/ /g' >"$work/$p.files"
  expect "$p" >"$work/$p.expect"
  while IFS= read -r line; do
    grep -qxE -f "$work/$p.expect" <<<"$line" || failed "$p: unexpected file: $line"
  done <"$work/$p.files"
  while IFS= read -r re; do
    grep -qxE -- "$re" "$work/$p.files" || failed "$p: missing: $re"
  done <"$work/$p.expect"
  echo "$p: $(wc -l <"$work/$p.files") files"
done

# The library where Debian multiarch puts it (usr/lib/<triplet>).
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
[ "$libdir" = "usr/lib/$multiarch" ] || failed "the library is in /$libdir, not /usr/lib/$multiarch"

# --- 5. unpacked -------------------------------------------------------------------
root=$work/root
for p in "${packages[@]}"; do dpkg-deb -x "$(deb "$p")" "$root"; done
export LD_LIBRARY_PATH=$root/$libdir

# copyright: DEP-5, made from LICENSE (holder and year), the same in every package.
notice=$(sed -n 's/^ *\(Copyright [0-9][0-9-]* .*\)$/\1/p' "$source/LICENSE" | head -n1)
[ -n "$notice" ] || failed "LICENSE has no 'Copyright <year> <holder>' line"
for p in "${packages[@]}"; do
  c=$root/usr/share/doc/$p/copyright
  cmp -s "$c" "$root/usr/share/doc/timesync-master/copyright" || failed "$p: copyright differs from timesync-master's"
done
c=$root/usr/share/doc/timesync-master/copyright
head -n1 "$c" | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' ||
  failed "copyright: not DEP-5 (Format: line)"
grep -qx "Copyright: ${notice#Copyright }" "$c" || failed "copyright: no 'Copyright: ${notice#Copyright }' (LICENSE's notice)"
grep -qx 'License: Apache-2.0' "$c" || failed "copyright: no 'License: Apache-2.0'"
grep -qF '/usr/share/common-licenses/Apache-2.0' "$c" || failed "copyright: does not point to common-licenses"

# changelog.Debian.gz: deploy/debian/changelog, gzip -9n, newest entry = Version.
for p in "${packages[@]}"; do
  gz=$root/usr/share/doc/$p/changelog.Debian.gz
  gzip -dc "$gz" | cmp -s - "$source/deploy/debian/changelog" || failed "$p: changelog.Debian.gz is not deploy/debian/changelog"
  read -r _ _ _ flags t0 t1 t2 t3 <<<"$(od -An -tu1 -N8 "$gz" | tr -s ' ')"
  [ $((flags & 8)) -eq 0 ] && [ "$t0$t1$t2$t3" = 0000 ] || failed "$p: changelog.Debian.gz stores a name or time (not gzip -n)"
done
newest=$(dpkg-parsechangelog -l "$source/deploy/debian/changelog" -SVersion)
[ "$newest" = "$version" ] || failed "deploy/debian/changelog's newest entry is $newest, the packages are $version"

# Stripped: CPACK_STRIP_FILES drops the DWARF a RelWithDebInfo build carries.
for f in "$root"/usr/bin/* "$root/$libdir"/libtimesync.so.*.*; do
  sections=$(readelf -S "$f")
  ! grep -q '\.debug_info' <<<"$sections" || failed "${f#"$root"/} is not stripped"
done

# Each program resolves libtimesync.so.0 to the unpacked copy, and a package
# with a program that links it depends on libtimesync0: derived from the ELF
# files, so a program that starts linking the library needs the dependency.
linked_by=()
for p in timesync-master timesync-agent timesync-kuramoto; do
  links=0
  while read -r f; do
    dynamic=$(readelf -d "$root/$f")
    if grep -q "NEEDED.*\[libtimesync\.so\.$major\]" <<<"$dynamic"; then
      links=1
      where=$(ldd "$root/$f" | awk -v so="libtimesync.so.$major" '$1 == so { print $3 }')
      [ "$where" = "$root/$libdir/libtimesync.so.$major" ] ||
        failed "${f#./}: libtimesync.so.$major resolves to '$where', not the unpacked library"
    fi
  done < <(awk '$1 ~ /^-..x/ { print $2 }' "$work/$p.files")
  if [ $links = 1 ]; then
    linked_by+=("$p")
    has_dep "$p" "libtimesync$major \((>=|=) $vre\)" ||
      failed "$p: its programs link libtimesync.so.$major but Depends lacks libtimesync$major (>= $version)"
  fi
done
[[ " ${linked_by[*]} " == *" timesync-agent "* ]] ||
  failed "timesync-agent's programs do not link libtimesync.so.$major (test assumption broken)"
echo "packages whose programs link libtimesync.so.$major: ${linked_by[*]}"

# The packaged configurations are valid for the packaged daemons.
for pair in timesync-agent:client timesync-master:master; do
  bin=${pair%%:*}
  cfg=$root/etc/timesync/${pair#*:}.yaml
  if msg=$("$root/usr/bin/$bin" --config "$cfg" --check-config 2>&1); then
    echo "$bin --check-config: $msg"
  else
    failed "$bin --check-config $cfg: exit $?: $msg"
  fi
done
grep -qx 'master: "timesync-master.local:7450"' "$root/etc/timesync/client.yaml" ||
  failed "client.yaml: no placeholder master"
grep -q 'SET THIS' "$root/etc/timesync/client.yaml" || failed "client.yaml: no comment asking to set master"

# The units name the packaged paths.
for pair in timesync-agent:client timesync-master:master; do
  bin=${pair%%:*}
  unit=$root/usr/lib/systemd/system/$bin.service
  grep -qxF "ExecStart=/usr/bin/$bin --config /etc/timesync/${pair#*:}.yaml" "$unit" ||
    failed "$bin.service: ExecStart= is '$(grep '^ExecStart=' "$unit")'"
  ! grep -nE '@[A-Z_]+@|/usr/local|'"$build" "$unit" || failed "$bin.service: template or build paths left"
done

# The sysusers.d entry creates the agent's user (in a scratch root).
mkdir -p "$work/sysroot/etc"
systemd-sysusers --root="$work/sysroot" "$root/usr/lib/sysusers.d/timesync.conf" >/dev/null 2>&1 ||
  failed "systemd-sysusers rejected usr/lib/sysusers.d/timesync.conf"
grep -qE '^timesync:x:[0-9]+:[0-9]+:[^:]*:/nonexistent:/usr/sbin/nologin$' "$work/sysroot/etc/passwd" 2>/dev/null ||
  failed "sysusers.d entry did not create a nologin system user timesync: $(cat "$work/sysroot/etc/passwd" 2>/dev/null)"

# The programs run with the packaged library.
"$root/usr/bin/timesyncctl" --help >"$work/ctl-help" 2>&1 || failed "timesyncctl --help: exit $?"
grep -q "usage" "$work/ctl-help" || failed "timesyncctl --help printed no usage"
seg=$work/segment
"$publisher" --path "$seg" --once >/dev/null
if msg=$("$root/usr/bin/timesync-now" --path "$seg" 2>&1); then
  echo "timesync-now: $msg"
else
  failed "timesync-now --path $seg: exit $?: $msg"
fi

# The Python module, with Debian's /usr/bin/python3 and python3-cffi, imported
# from the unpacked root: it dlopens libtimesync.so.$major by its soname, which
# ld.so finds here through LD_LIBRARY_PATH (TIMESYNC_LIBRARY unset) and on an
# installed system in the multiarch directory, a directory of ld.so.conf.
soname=$(readelf -d "$root/$libdir/libtimesync.so.$major" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ "$soname" = "libtimesync.so.$major" ] || failed "the library's SONAME is '$soname'"
grep -qF "\"libtimesync.so.$major\")" "$root/$pydir/timesync/__init__.py" ||
  failed "the packaged module does not dlopen libtimesync.so.$major by its soname"
# ld.so's built-in search path and ld.so.conf's directories (read whole before
# grep -q, see has_dep).
ld_dirs=$({ ld.so --help 2>/dev/null | sed -n 's/^ *\(\/[^ ]*\) (system search path)$/\1/p'
            cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null; } || true)
grep -qx "/usr/lib/$multiarch" <<<"$ld_dirs" ||
  failed "/usr/lib/$multiarch is neither in ld.so's search path nor in ld.so.conf: an installed python3-timesync would not find libtimesync.so.$major"
"$publisher" --path "$seg" --once >/dev/null
if msg=$(cd "$work" && env -u TIMESYNC_LIBRARY PYTHONPATH="$root/$pydir" PYTHONDONTWRITEBYTECODE=1 \
         /usr/bin/python3 -c '
import os, sys, timesync
lib = [l.split()[-1] for l in open("/proc/self/maps") if "libtimesync.so" in l]
print(timesync.__file__, lib[0] if lib else None)
t = timesync.Clock(sys.argv[1]).get_timestamp_with_error()
print(t.time_ns, t.bound_ns)
' "$seg" 2>&1); then
  read -r modfile libfile <<<"$(head -n1 <<<"$msg")"
  [ "$modfile" = "$root/$pydir/timesync/__init__.py" ] || failed "python3 imported timesync from $modfile"
  [ "$(realpath "$libfile")" = "$(realpath "$root/$libdir/libtimesync.so.$major")" ] ||
    failed "the Python module loaded libtimesync from '$libfile', not the unpacked library"
  echo "python3 -c 'import timesync': $(tail -n1 <<<"$msg") (time_ns bound_ns)"
else
  failed "/usr/bin/python3 could not import and use the packaged timesync module: $msg"
fi
[ ! -e "$root/$pydir/timesync/__pycache__" ] || failed "byte code written into the unpacked root"

# Consumers built against the unpacked root alone, never the build or source
# tree: pkg-config for C, find_package for C++.
export PKG_CONFIG_PATH=$root/$libdir/pkgconfig
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH  # not the system's .pc files
pc_libdir=$(realpath "$(pkg-config --variable=libdir timesync)")
[ "$pc_libdir" = "$(realpath "$root/$libdir")" ] || failed "pkg-config libdir is $pc_libdir"
# shellcheck disable=SC2046  # the flags are separate words
cc -std=c11 -Wall -Wextra -Werror "$source/tests/install/consumer.c" -o "$work/c_consumer" \
  $(pkg-config --cflags --libs timesync) || fatal "C consumer did not build"
cmake -S "$source/tests/install" -B "$work/cxx" -DCMAKE_PREFIX_PATH="$root/usr" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF \
  >"$work/cxx.log" 2>&1 || { cat "$work/cxx.log"; fatal "C++ consumer did not configure"; }
found=$(sed -n 's/^timesync_DIR:PATH=//p' "$work/cxx/CMakeCache.txt")
[ "$(realpath "$found")" = "$(realpath "$root/$libdir/cmake/timesync")" ] ||
  failed "find_package(timesync) found $found, not the unpacked package"
cmake --build "$work/cxx" >"$work/cxx-build.log" 2>&1 ||
  { cat "$work/cxx-build.log"; fatal "C++ consumer did not build"; }
for exe in "$work/c_consumer" "$work/cxx/cxx_consumer"; do
  where=$(ldd "$exe" | awk -v so="libtimesync.so.$major" '$1 == so { print $3 }')
  [ "$where" = "$root/$libdir/libtimesync.so.$major" ] || failed "${exe##*/} loads libtimesync from '$where'"
done
# The segment is valid for 5 s after it is published; the builds above may take
# longer on a loaded machine, so it is published again.
"$publisher" --path "$seg" --once >/dev/null
"$work/c_consumer" "$work/missing" "$seg" || failed "C consumer failed"
"$work/cxx/cxx_consumer" "$seg" || failed "C++ consumer failed"

[ "$fail" -eq 0 ] && echo "packages: OK"
exit "$fail"
