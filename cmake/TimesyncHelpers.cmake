# Shared build policy for project code: warnings as errors, sanitizers, tests.

set(TIMESYNC_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wconversion
    -Wno-sign-conversion -Wnon-virtual-dtor -Wold-style-cast -Werror)
set(TIMESYNC_C_WARNINGS -Wall -Wextra -Wpedantic -Werror)

set(_ts_san_flags "")
if(TIMESYNC_SANITIZE STREQUAL "address")
  set(_ts_san_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
elseif(TIMESYNC_SANITIZE STREQUAL "thread")
  set(_ts_san_flags -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT TIMESYNC_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TIMESYNC_SANITIZE must be '', 'address' or 'thread', "
                      "got '${TIMESYNC_SANITIZE}'")
endif()
if(_ts_san_flags)
  add_compile_options(${_ts_san_flags})
  add_link_options(${_ts_san_flags})
endif()

# timesync_defaults(<target>): the warning policy for code we write.
function(timesync_defaults target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${TIMESYNC_WARNINGS}>
    $<$<COMPILE_LANGUAGE:C>:${TIMESYNC_C_WARNINGS}>)
endfunction()

# timesync_test(<name> SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s])
# One GoogleTest binary per *_test.cc, registered with ctest.
function(timesync_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  timesync_defaults(${name})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main
                        Threads::Threads)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
