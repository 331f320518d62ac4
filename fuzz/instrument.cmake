# Included from the top-level CMakeLists.txt before any target is defined when
# TIMESYNC_BUILD_FUZZ is ON: every project library is compiled with libFuzzer's
# coverage instrumentation (fuzzer-no-link), on top of TIMESYNC_SANITIZE=address
# (ASan + UBSan, aborting on the first report). Only the harnesses link the
# fuzzer's main (fuzz/CMakeLists.txt). clang only: g++ has no libFuzzer.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TIMESYNC_BUILD_FUZZ needs clang (libFuzzer), got "
                      "${CMAKE_CXX_COMPILER_ID}: configure with -DCMAKE_CXX_COMPILER=clang++ "
                      "-DCMAKE_C_COMPILER=clang (scripts/fuzz.sh does)")
endif()
if(NOT TIMESYNC_SANITIZE STREQUAL "address")
  message(FATAL_ERROR "TIMESYNC_BUILD_FUZZ needs -DTIMESYNC_SANITIZE=address")
endif()
add_compile_options(-fsanitize=fuzzer-no-link)
