# CPack post-build script (CPACK_POST_BUILD_SCRIPTS, cmake/Packaging.cmake):
# takes CPack's ldconfig maintainer scripts out of the library package.
#
# CPackDeb (CMake 3.25) writes a postinst and a postrm that run ldconfig into
# every package holding a shared library under /usr/lib, and the only way to
# stop it is to ship maintainer scripts of our own. The library package gets
# ldconfig from dpkg's trigger instead (deploy/debian/libtimesync0/triggers:
# "activate-noawait ldconfig", Debian policy 8.1.1; lintian warns
# maintscript-calls-ldconfig otherwise). So for that one package this script
#   1. unpacks it (dpkg-deb --raw-extract),
#   2. checks each of postinst and postrm is exactly CPack's ldconfig script,
#      and stops the build if one is anything else,
#   3. removes them and builds the package again in place (dpkg-deb --build,
#      every file owned by root:root, as CPack makes them).
# Other generators' files and the other packages are left alone.

if(NOT CPACK_TIMESYNC_LIB_PACKAGE)
  message(FATAL_ERROR "cpack-post-build.cmake: CPACK_TIMESYNC_LIB_PACKAGE is not set")
endif()
find_program(_ts_dpkg_deb dpkg-deb)
foreach(_ts_deb IN LISTS CPACK_PACKAGE_FILES)
  get_filename_component(_ts_name "${_ts_deb}" NAME)
  if(NOT _ts_name MATCHES "^${CPACK_TIMESYNC_LIB_PACKAGE}_.*\\.deb$")
    continue()
  endif()
  if(NOT _ts_dpkg_deb)
    message(FATAL_ERROR "dpkg-deb not found: cannot remove the ldconfig scripts from ${_ts_name}")
  endif()
  set(_ts_dir "${_ts_deb}.d")
  file(REMOVE_RECURSE "${_ts_dir}")
  execute_process(COMMAND "${_ts_dpkg_deb}" --raw-extract "${_ts_deb}" "${_ts_dir}"
                  RESULT_VARIABLE _ts_rc ERROR_VARIABLE _ts_err)
  if(NOT _ts_rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb --raw-extract ${_ts_name}: ${_ts_err}")
  endif()
  foreach(_ts_script IN ITEMS postinst postrm)
    set(_ts_file "${_ts_dir}/DEBIAN/${_ts_script}")
    if(NOT EXISTS "${_ts_file}")
      continue()
    endif()
    file(READ "${_ts_file}" _ts_text)
    if(NOT _ts_text MATCHES "^#!/bin/sh\n\nset -e\n\n?if \\[ \"\\$1\" = \"(configure|remove)\" \\]; then\n\tldconfig\nfi\n$")
      message(FATAL_ERROR "${_ts_name}: DEBIAN/${_ts_script} is not CPack's ldconfig script, "
                          "refusing to remove it:\n${_ts_text}")
    endif()
    file(REMOVE "${_ts_file}")
  endforeach()
  execute_process(COMMAND "${_ts_dpkg_deb}" --root-owner-group --build "${_ts_dir}" "${_ts_deb}"
                  RESULT_VARIABLE _ts_rc OUTPUT_QUIET ERROR_VARIABLE _ts_err)
  if(NOT _ts_rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb --build ${_ts_name}: ${_ts_err}")
  endif()
  file(REMOVE_RECURSE "${_ts_dir}")
endforeach()
