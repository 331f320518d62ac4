# The GNU installation directories, with the library in Debian's multiarch
# directory (lib/<triplet>, e.g. lib/x86_64-linux-gnu) on Debian and its
# derivatives whatever the install prefix.
#
# GNUInstallDirs picks lib/<triplet> only for the prefix /usr, and plain "lib"
# for /usr/local and the rest. The packages are built from whichever build
# tree runs cpack (ctest -L packaging runs it in the default, /usr/local one)
# and CPack installs under /usr, so a "lib" tree would put libtimesync.so.0 in
# /usr/lib, where Debian policy and lintian do not want it. lib/<triplet> is
# what debhelper passes to CMake, and /usr/local/lib/<triplet> is on Debian's
# loader, pkg-config and find_package() search paths too.
#
# An explicit -DCMAKE_INSTALL_LIBDIR=... is kept. A tree configured before
# this default existed, holding GNUInstallDirs' "lib", is moved once.
if(CMAKE_LIBRARY_ARCHITECTURE AND EXISTS "/etc/debian_version" AND NOT CMAKE_CROSSCOMPILING)
  set(_ts_multiarch_libdir "lib/${CMAKE_LIBRARY_ARCHITECTURE}")
  if(NOT DEFINED CMAKE_INSTALL_LIBDIR)
    set(CMAKE_INSTALL_LIBDIR "${_ts_multiarch_libdir}" CACHE PATH
        "Object code libraries (lib/<multiarch triplet> on Debian)")
  elseif(CMAKE_INSTALL_LIBDIR STREQUAL "lib" AND DEFINED _GNUInstallDirs_LAST_CMAKE_INSTALL_PREFIX
         AND NOT DEFINED TIMESYNC_MULTIARCH_LIBDIR_SET)
    # set_property, not set(... FORCE): that would make a relative path given
    # on the command line absolute.
    set_property(CACHE CMAKE_INSTALL_LIBDIR PROPERTY VALUE "${_ts_multiarch_libdir}")
    message(STATUS "CMAKE_INSTALL_LIBDIR: ${_ts_multiarch_libdir} (was lib)")
  endif()
  set(TIMESYNC_MULTIARCH_LIBDIR_SET ON CACHE INTERNAL
      "CMAKE_INSTALL_LIBDIR has been given the multiarch default once")
  # GNUInstallDirs resets a libdir equal to its own default for the previous
  # prefix when the prefix changes; record the current prefix so that our
  # default is not taken for one of its own.
  if(DEFINED _GNUInstallDirs_LAST_CMAKE_INSTALL_PREFIX
     AND NOT _GNUInstallDirs_LAST_CMAKE_INSTALL_PREFIX STREQUAL CMAKE_INSTALL_PREFIX
     AND CMAKE_INSTALL_LIBDIR STREQUAL _ts_multiarch_libdir)
    set(_GNUInstallDirs_LAST_CMAKE_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}" CACHE INTERNAL
        "CMAKE_INSTALL_PREFIX during last run")
  endif()
endif()
include(GNUInstallDirs)
