# Debian packages (CPack DEB, one package per install component) and the
# deployment files they carry: systemd units, /etc/timesync configs, the
# sysusers.d entry for the agent's user, maintainer scripts, and in every
# package /usr/share/doc/<package>/{copyright,changelog.Debian.gz} and the
# manual pages of its programs (man/).
#
#   cmake -S . -B build/pkg -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#         -DCMAKE_INSTALL_PREFIX=/usr -DTIMESYNC_BUILD_BENCH=OFF
#   cmake --build build/pkg
#   cpack --config build/pkg/CPackConfig.cmake -B build/pkg/packages
#
# component  package           contents
# lib        libtimesync0      libtimesync.so.0 (SOVERSION = the major version)
# dev        libtimesync-dev   headers, libtimesync.so, timesync.pc, CMake package
# master     timesync-master   timesync-master, its unit, /etc/timesync/master.yaml
# agent      timesync-agent    timesync-agent, timesyncctl, timesync-now,
#                              timesync-run, timesync-probe, its unit,
#                              /etc/timesync/client.yaml, sysusers.d/timesync.conf
#                              (the "timesync" user)
# kuramoto   timesync-kuramoto timesync-kuramoto (masterless GPIO mode: no master,
#                              no agent, no user, no service)
# python     python3-timesync  the Python module (python/timesync: cffi in ABI
#                              mode over libtimesync.so.0) in
#                              /usr/lib/python3/dist-packages; Architecture: all
#
# Packages always install under /usr, whatever CMAKE_INSTALL_PREFIX the build
# was configured with; the library goes to the multiarch directory
# /usr/lib/<triplet> (cmake/TimesyncInstallDirs.cmake). A plain
# `cmake --install <build> --prefix X` keeps putting everything under X.
#
# Sources of the Debian metadata, all in the tree:
#   LICENSE                          -> copyright (DEP-5, deploy/debian/copyright.in)
#   deploy/debian/changelog          -> changelog.Debian.gz; its newest version
#                                       must be <project version>-<release>
#   deploy/debian/<package>/         maintainer scripts, conffiles, triggers,
#                                    lintian-overrides (each override with its why)
# tests/packaging/lintian_test.sh fails on any lintian error or warning that
# is not overridden there.

set(TIMESYNC_PACKAGE_MAINTAINER
    "timesync maintainers <maintainers@users.noreply.h-seed-7a952b90.example>"
    CACHE STRING "Maintainer field of the Debian packages")
set(TIMESYNC_PACKAGE_RELEASE 1 CACHE STRING
    "Debian revision of the packages (the part after the upstream version)")
# Relative to the install prefix: /usr/lib/systemd/system in the packages
# (Debian 12 merges /lib into /usr/lib, and systemd reads both).
set(TIMESYNC_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where the systemd units are installed, relative to the install prefix")
set(TIMESYNC_SYSUSERSDIR "lib/sysusers.d" CACHE STRING
    "Where the sysusers.d entry is installed, relative to the install prefix")

set(_ts_deploy "${PROJECT_SOURCE_DIR}/deploy")

if(TIMESYNC_BUILD_SERVICES)
  set(_ts_components lib dev master agent kuramoto python)
else()
  # No daemons without the services (e.g. the TSan preset).
  set(_ts_components lib dev kuramoto python)
endif()
set(_ts_lib_pkg "libtimesync${PROJECT_VERSION_MAJOR}")  # SOVERSION = major
# component -> package
set(_ts_pkg_lib ${_ts_lib_pkg})
set(_ts_pkg_dev libtimesync-dev)
set(_ts_pkg_master timesync-master)
set(_ts_pkg_agent timesync-agent)
set(_ts_pkg_kuramoto timesync-kuramoto)
set(_ts_pkg_python python3-timesync)

# ---------------------------------------------------------------------------
# Deployment files. Units and configs depend on the install prefix chosen at
# install time (`--prefix`, or /usr under CPack), not at configure time, so
# they are placed by install(CODE) that computes the directories then:
#   bindir      <prefix>/bin
#   sysconfdir  /etc for the prefixes / and /usr, /etc/opt/X for /opt/X,
#               <prefix>/etc otherwise (the rule GNUInstallDirs applies)
#   docdir      <prefix>/share/doc
# file(INSTALL) adds $DESTDIR itself, so a staged install keeps the real
# paths inside the units.

# The install-time directory computation, shared by every file below.
string(CONFIGURE [=[
  string(REGEX REPLACE "/+$" "" _ts_prefix "${CMAKE_INSTALL_PREFIX}")
  if(IS_ABSOLUTE "@CMAKE_INSTALL_BINDIR@")
    set(TIMESYNC_UNIT_BINDIR "@CMAKE_INSTALL_BINDIR@")
  else()
    set(TIMESYNC_UNIT_BINDIR "${_ts_prefix}/@CMAKE_INSTALL_BINDIR@")
  endif()
  if(IS_ABSOLUTE "@CMAKE_INSTALL_SYSCONFDIR@")
    set(TIMESYNC_UNIT_SYSCONFDIR "@CMAKE_INSTALL_SYSCONFDIR@")
  elseif("@CMAKE_INSTALL_SYSCONFDIR@" STREQUAL "etc" AND _ts_prefix MATCHES "^(/usr)?$")
    set(TIMESYNC_UNIT_SYSCONFDIR "/etc")
  elseif("@CMAKE_INSTALL_SYSCONFDIR@" STREQUAL "etc" AND _ts_prefix MATCHES "^/opt/(.*)")
    set(TIMESYNC_UNIT_SYSCONFDIR "/etc/opt/${CMAKE_MATCH_1}")
  else()
    set(TIMESYNC_UNIT_SYSCONFDIR "${_ts_prefix}/@CMAKE_INSTALL_SYSCONFDIR@")
  endif()
  set(TIMESYNC_UNIT_DOCDIR "${_ts_prefix}/@CMAKE_INSTALL_DATAROOTDIR@/doc")
]=] _ts_install_dirs_code @ONLY)

# timesync_install_deploy_file(<component> <source> <dest-dir> <name> [RENDER])
# Installs <source> as <dest-dir>/<name>, 0644. <dest-dir> is SYSCONFDIR/...
# (the sysconfdir rule above) or relative to the prefix. RENDER substitutes
# @TIMESYNC_UNIT_BINDIR@, @TIMESYNC_UNIT_SYSCONFDIR@, @TIMESYNC_UNIT_DOCDIR@.
function(timesync_install_deploy_file component source dest name)
  # <source> is read at install time, so editing it needs no new configure.
  cmake_parse_arguments(A "RENDER" "" "" ${ARGN})
  if(dest MATCHES "^SYSCONFDIR(/.*)?$")
    set(dest_code "\${TIMESYNC_UNIT_SYSCONFDIR}${CMAKE_MATCH_1}")
  else()
    set(dest_code "\${_ts_prefix}/${dest}")
  endif()
  set(render_code "")
  if(A_RENDER)
    # Rendered into the build tree under a name derived from the content, via
    # a private temporary and a rename: a cpack and a `cmake --install` of the
    # same build may run at once (the packaging test does).
    set(render_code [=[
  file(READ "${_ts_src}" _ts_text)
  string(CONFIGURE "${_ts_text}" _ts_text @ONLY)
  string(SHA256 _ts_hash "${_ts_text}")
  set(_ts_out "@PROJECT_BINARY_DIR@/deploy-rendered/${_ts_hash}/@name@")
  if(NOT EXISTS "${_ts_out}")
    string(RANDOM LENGTH 12 _ts_rand)
    file(WRITE "${_ts_out}.${_ts_rand}" "${_ts_text}")
    file(RENAME "${_ts_out}.${_ts_rand}" "${_ts_out}")
  endif()
  set(_ts_src "${_ts_out}")
]=])
    string(CONFIGURE "${render_code}" render_code @ONLY)
  endif()
  install(CODE "${_ts_install_dirs_code}
  set(_ts_src \"${source}\")
${render_code}
  file(INSTALL DESTINATION \"${dest_code}\" TYPE FILE RENAME \"${name}\"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"\${_ts_src}\")"
    COMPONENT ${component})
endfunction()

if(TIMESYNC_BUILD_SERVICES)
  # The packaged client.yaml is the documented config/client.yaml with a
  # placeholder master (the key is required and has no default), so the agent
  # starts, reports the master unreachable and waits to be configured.
  set(_ts_client_src "${PROJECT_SOURCE_DIR}/config/client.yaml")
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY
               CMAKE_CONFIGURE_DEPENDS "${_ts_client_src}")
  file(READ "${_ts_client_src}" _ts_client)
  string(REGEX REPLACE "\nmaster:[^\n]*\n"
    "\n# SET THIS to your master SoM's address; the package ships a placeholder.\n# Then: systemctl restart timesync-agent\nmaster: \"timesync-master.local:7450\"\n"
    _ts_client_pkg "${_ts_client}")
  if(_ts_client_pkg STREQUAL _ts_client)
    # tests/packaging checks the packaged file for the placeholder too.
    message(WARNING "Packaging: no 'master:' line in ${_ts_client_src}; "
                    "the packaged client.yaml keeps the example's master")
  endif()
  # Written as is (no @VAR@ substitution), and only when it changed.
  set(_ts_client_out "${PROJECT_BINARY_DIR}/deploy/client.yaml")
  set(_ts_client_old "")
  if(EXISTS "${_ts_client_out}")
    file(READ "${_ts_client_out}" _ts_client_old)
  endif()
  if(NOT _ts_client_old STREQUAL _ts_client_pkg)
    file(WRITE "${_ts_client_out}" "${_ts_client_pkg}")
  endif()

  timesync_install_deploy_file(master "${PROJECT_SOURCE_DIR}/config/master.yaml"
    SYSCONFDIR/timesync master.yaml)
  timesync_install_deploy_file(master "${_ts_deploy}/systemd/timesync-master.service.in"
    "${TIMESYNC_SYSTEMD_UNITDIR}" timesync-master.service RENDER)
  timesync_install_deploy_file(master "${_ts_deploy}/systemd/timesync.sysusers.conf"
    "${TIMESYNC_SYSUSERSDIR}" timesync-master.conf)
  timesync_install_deploy_file(master "${PROJECT_SOURCE_DIR}/README.md"
    "${CMAKE_INSTALL_DATAROOTDIR}/doc/timesync-master" README.md)

  timesync_install_deploy_file(agent "${_ts_client_out}"
    SYSCONFDIR/timesync client.yaml)
  timesync_install_deploy_file(agent "${_ts_deploy}/systemd/timesync-agent.service.in"
    "${TIMESYNC_SYSTEMD_UNITDIR}" timesync-agent.service RENDER)
  timesync_install_deploy_file(agent "${_ts_deploy}/systemd/timesync.sysusers.conf"
    "${TIMESYNC_SYSUSERSDIR}" timesync.conf)
  timesync_install_deploy_file(agent "${PROJECT_SOURCE_DIR}/README.md"
    "${CMAKE_INSTALL_DATAROOTDIR}/doc/timesync-agent" README.md)
endif()

# The Python module: pure Python (cffi's ABI mode dlopens libtimesync.so.0 by
# its soname, which ld.so finds in the multiarch directory through
# ld.so.cache), so one file serves every Python 3 version, in Debian's
# version-independent directory. Only the source: the __pycache__ that running
# python/tests leaves beside it is not shipped (lintian errs on it); the
# postinst byte-compiles with py3compile, as dh_python3's does.
install(FILES "${PROJECT_SOURCE_DIR}/python/timesync/__init__.py"
        DESTINATION lib/python3/dist-packages/timesync COMPONENT python)

# ---------------------------------------------------------------------------
# What every package carries in /usr/share/doc/<package>: copyright and
# changelog.Debian.gz; and, where the tree has one, its lintian overrides.

# copyright: DEP-5, the holder and years read from LICENSE's notice
# ("Copyright 2026 The timesync authors"), the text of the license referred to
# in /usr/share/common-licenses (Debian policy 12.5; lintian errs on a full
# Apache-2.0 text in a copyright file).
set(_ts_license "${PROJECT_SOURCE_DIR}/LICENSE")
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${_ts_license}" "${_ts_deploy}/debian/copyright.in" "${_ts_deploy}/debian/changelog")
file(READ "${_ts_license}" _ts_license_text)
if(NOT _ts_license_text MATCHES "^[ \n]*Apache License\n *Version 2\\.0, January 2004\n")
  message(FATAL_ERROR "LICENSE is not the Apache License 2.0; deploy/debian/copyright.in names it")
endif()
if(NOT _ts_license_text MATCHES "\n *Copyright ([0-9]+(-[0-9]+)?) ([^\n]+)\n")
  message(FATAL_ERROR "LICENSE has no 'Copyright <year> <holder>' line")
endif()
set(TIMESYNC_COPYRIGHT_YEARS "${CMAKE_MATCH_1}")
set(TIMESYNC_COPYRIGHT_HOLDER "${CMAKE_MATCH_3}")
configure_file("${_ts_deploy}/debian/copyright.in" "${PROJECT_BINARY_DIR}/deploy/copyright" @ONLY)

# changelog.Debian.gz: deploy/debian/changelog, gzip -9n (no name, no time:
# the same bytes from every build). Its newest entry is the packages' version.
set(_ts_changelog "${_ts_deploy}/debian/changelog")
file(STRINGS "${_ts_changelog}" _ts_changelog_head LIMIT_COUNT 1)
set(_ts_deb_version "${PROJECT_VERSION}-${TIMESYNC_PACKAGE_RELEASE}")
if(NOT _ts_changelog_head MATCHES "^timesync \\(([^)]+)\\) ")
  message(FATAL_ERROR "${_ts_changelog}: the first line is not 'timesync (<version>) ...'")
elseif(NOT CMAKE_MATCH_1 STREQUAL _ts_deb_version)
  message(WARNING "${_ts_changelog}: newest entry ${CMAKE_MATCH_1}, but the packages are "
                  "${_ts_deb_version}: add an entry (dch -v ${_ts_deb_version}) before releasing")
endif()
set(_ts_changelog_gz "${PROJECT_BINARY_DIR}/deploy/changelog.Debian.gz")
add_custom_command(OUTPUT "${_ts_changelog_gz}"
  COMMAND ${CMAKE_COMMAND} -E copy "${_ts_changelog}" "${PROJECT_BINARY_DIR}/deploy/changelog.Debian"
  COMMAND gzip -9nf "${PROJECT_BINARY_DIR}/deploy/changelog.Debian"
  DEPENDS "${_ts_changelog}"
  COMMENT "Compressing the Debian changelog"
  VERBATIM)
add_custom_target(timesync-changelog ALL DEPENDS "${_ts_changelog_gz}")

foreach(_ts_c IN LISTS _ts_components)
  set(_ts_p ${_ts_pkg_${_ts_c}})
  install(FILES "${PROJECT_BINARY_DIR}/deploy/copyright" "${_ts_changelog_gz}"
          DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${_ts_p}" COMPONENT ${_ts_c})
  if(EXISTS "${_ts_deploy}/debian/${_ts_p}/lintian-overrides")
    install(FILES "${_ts_deploy}/debian/${_ts_p}/lintian-overrides"
            DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides" RENAME ${_ts_p}
            COMPONENT ${_ts_c})
  endif()
endforeach()

# The manual pages (man/), after every program's target exists.
add_subdirectory("${PROJECT_SOURCE_DIR}/man" "${PROJECT_BINARY_DIR}/man")

# ---------------------------------------------------------------------------
# CPack.
set(CPACK_PACKAGE_NAME timesync)
set(CPACK_PACKAGE_VENDOR "timesync")
set(CPACK_PACKAGE_CONTACT "${TIMESYNC_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
# Each package's Description is its CPACK_COMPONENT_<C>_DESCRIPTION: the
# first line is the synopsis, CPackDeb indents the others. CPackDeb prepends CPACK_PACKAGE_DESCRIPTION_SUMMARY
# to it unless that is CPack's own default text, so that default it is.
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${CMAKE_PROJECT_NAME} built using CMake")
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${_ts_components})
# Install with CMAKE_INSTALL_PREFIX=/usr into a DESTDIR staging tree, so the
# install(CODE) above sees the real prefix (units say /usr/bin, configs go
# to /etc) while the files land in the staging tree.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# RelWithDebInfo binaries carry DWARF; the packages ship stripped files.
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # <package>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE "${TIMESYNC_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TIMESYNC_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files (dpkg-shlibdeps): libc6, libstdc++6, gRPC, ...
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# ... and libtimesync0 for the programs that link it. That library is in no
# installed package when dpkg-shlibdeps runs, so it gets a private search dir
# holding a link to the just-built copy, under a DEBIAN/shlibs saying which
# package provides it: dpkg-shlibdeps takes the shlibs file of the "package
# being built" from the nearest DEBIAN/ above a library it finds. A program
# that does not link libtimesync (timesync-master today) gets no dependency.
get_target_property(_ts_lib_dir timesync LIBRARY_OUTPUT_DIRECTORY)
if(NOT _ts_lib_dir)
  get_target_property(_ts_lib_dir timesync BINARY_DIR)
endif()
set(_ts_shlibs_root "${PROJECT_BINARY_DIR}/deploy/shlibs-root")
file(CONFIGURE OUTPUT "${_ts_shlibs_root}/DEBIAN/shlibs" CONTENT
     "libtimesync ${PROJECT_VERSION_MAJOR} ${_ts_lib_pkg} (>= ${_ts_deb_version})\n")
file(MAKE_DIRECTORY "${_ts_shlibs_root}/lib")
file(CREATE_LINK "${_ts_lib_dir}/libtimesync.so.${PROJECT_VERSION_MAJOR}"
     "${_ts_shlibs_root}/lib/libtimesync.so.${PROJECT_VERSION_MAJOR}" SYMBOLIC)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS "${_ts_shlibs_root}/lib")
# Component dependencies become "Depends: libtimesync0 (= <version>)": the
# -dev package must match the runtime it was built with exactly.
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
# Maintainer scripts get 0755, conffiles 0644, as Debian policy wants.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_COMPONENT_LIB_DISPLAY_NAME "libtimesync runtime")
set(CPACK_DEBIAN_LIB_PACKAGE_NAME ${_ts_lib_pkg})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
# A shlibs file ("libtimesync 0 libtimesync0 (>= <version>)"), so packages
# built against libtimesync-dev get their Depends from dpkg-shlibdeps.
# (CPackDeb has no per-component switch; only libtimesync0 has a library.)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
# ldconfig runs from dpkg's trigger ("activate-noawait ldconfig", as debhelper
# does), not from maintainer scripts. CPackDeb writes a postinst and a postrm
# calling ldconfig into any package with a library under /usr/lib and has no
# switch against it, so a post-build script removes those two (after checking
# they are CPack's) and rebuilds the package with dpkg-deb.
if(NOT EXISTS "${_ts_deploy}/debian/${_ts_lib_pkg}/triggers")
  message(FATAL_ERROR "no ${_ts_deploy}/debian/${_ts_lib_pkg}/triggers (the SOVERSION changed?)")
endif()
set(CPACK_DEBIAN_LIB_PACKAGE_CONTROL_EXTRA "${_ts_deploy}/debian/${_ts_lib_pkg}/triggers")
set(CPACK_TIMESYNC_LIB_PACKAGE ${_ts_lib_pkg})  # for the post-build script
set(CPACK_POST_BUILD_SCRIPTS "${_ts_deploy}/debian/cpack-post-build.cmake")
set(CPACK_COMPONENT_LIB_DESCRIPTION
  "timesync client library: synchronized time from the local agent
libtimesync reads the clock transform that timesync-agent publishes in
shared memory (/dev/shm/timesync): a time on the master's timeline with an
error bound, lock-free, without a system call beyond clock_gettime. It
refuses timestamps while the agent reports the clock out of sync.")

set(CPACK_COMPONENT_DEV_DISPLAY_NAME "libtimesync development files")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtimesync-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_COMPONENT_DEV_DEPENDS lib)
set(CPACK_COMPONENT_DEV_DESCRIPTION
  "timesync client library: development files
Headers for C (timesync/timesync.h) and C++ (timesync/clock.hpp), the
libtimesync.so link, timesync.pc for pkg-config and the CMake package
(find_package(timesync), target timesync::timesync).")

set(CPACK_COMPONENT_MASTER_DISPLAY_NAME "timesync master")
set(CPACK_DEBIAN_MASTER_PACKAGE_NAME timesync-master)
set(CPACK_DEBIAN_MASTER_PACKAGE_SECTION net)
set(CPACK_DEBIAN_MASTER_PACKAGE_CONTROL_EXTRA
  "${_ts_deploy}/debian/timesync-master/conffiles"
  "${_ts_deploy}/debian/timesync-master/postinst"
  "${_ts_deploy}/debian/timesync-master/prerm"
  "${_ts_deploy}/debian/timesync-master/postrm")
# The postinst creates the timesync user with systemd-sysusers, as the agent's
# does: systemd provides it, systemd-standalone-sysusers where systemd is not
# installed (a real package first: a virtual one alone is ambiguous to apt).
set(CPACK_DEBIAN_MASTER_PACKAGE_DEPENDS "systemd | systemd-sysusers")
set(CPACK_COMPONENT_MASTER_DESCRIPTION
  "distributed clock service for multi-SoM systems: master
timesync-master serves this SoM's timeline over gRPC to the timesync agents
on the other SoMs of the machine. Configuration: /etc/timesync/master.yaml;
systemd unit: timesync-master.service.")

set(CPACK_COMPONENT_AGENT_DISPLAY_NAME "timesync agent")
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME timesync-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION net)
# The postinst creates the timesync user from sysusers.d/timesync.conf with
# systemd-sysusers (systemd, or systemd-standalone-sysusers).
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "systemd | systemd-sysusers")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
  "${_ts_deploy}/debian/timesync-agent/conffiles"
  "${_ts_deploy}/debian/timesync-agent/postinst"
  "${_ts_deploy}/debian/timesync-agent/prerm"
  "${_ts_deploy}/debian/timesync-agent/postrm")
set(CPACK_COMPONENT_AGENT_DESCRIPTION
  "distributed clock service for multi-SoM systems: agent
timesync-agent synchronizes this SoM to the timesync master and publishes the
result in shared memory for applications linked with libtimesync. Also
timesyncctl (status, health, alarms), timesync-now, timesync-run (start a
command at a synchronized instant) and timesync-probe (GPIO pulse probes).
Configuration: /etc/timesync/client.yaml (set 'master' first); systemd
unit: timesync-agent.service, running as the system user timesync.")

# Its own package rather than a program in timesync-agent: a Kuramoto peer
# needs no master and no agent, and installing timesync-agent would pull in
# gRPC and enable and start an agent service that has no master to sync to.
set(CPACK_COMPONENT_KURAMOTO_DISPLAY_NAME "timesync Kuramoto mode")
set(CPACK_DEBIAN_KURAMOTO_PACKAGE_NAME timesync-kuramoto)
set(CPACK_DEBIAN_KURAMOTO_PACKAGE_SECTION misc)
set(CPACK_COMPONENT_KURAMOTO_DESCRIPTION
  "masterless pulse-coupled synchronization over GPIO lines
timesync-kuramoto aligns a cyclic task (1 to 500 Hz) between peers that
share only GPIO lines: each peer pulses its output line, timestamps the
other peers' pulses and moves its next wake-up by the Kuramoto update. No
master, no network and no agent. It reports the cycles to converge and the
phase differences, and simulates peers in simulated time.")

# The Python module. Architecture: all (no compiled code: cffi's ABI mode),
# while the library it loads is per architecture: the exact-version dependency
# keeps the module and the C declarations it carries in step with the library.
set(CPACK_COMPONENT_PYTHON_DISPLAY_NAME "timesync Python module")
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-timesync)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_COMPONENT_PYTHON_DEPENDS lib)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3, python3-cffi")
# py3compile at configure and py3clean at removal (the scripts dh_python3
# adds), so the byte code is made once as root and removed with the package.
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA
  "${_ts_deploy}/debian/python3-timesync/postinst"
  "${_ts_deploy}/debian/python3-timesync/prerm")
set(CPACK_COMPONENT_PYTHON_DESCRIPTION
  "timesync client library: Python 3 module
The timesync module reads the synchronized clock that timesync-agent
publishes, through libtimesync's C API (cffi in ABI mode): get_timestamp,
get_timestamp_with_error, is_synchronized, sleep_until and a periodic timer.
Errors are raised as exceptions carrying the library's error code.")

include(CPack)
