// Built by a downstream CMake project against the installed package.
#include <timesync/clock.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto clock = timesync::Clock::open(argv[1]);
  if (!clock.ok()) {
    std::fprintf(stderr, "open: %s\n", timesync::to_string(clock.error()));
    return 1;
  }
  const auto t = clock->get_timestamp_with_error();
  if (!t.ok()) {
    std::fprintf(stderr, "read: %s\n", timesync::to_string(t.error));
    return 1;
  }
  std::printf("C++ consumer: time_ns=%lld bound_ns=%llu status=%s\n",
              static_cast<long long>(t.time.ns), static_cast<unsigned long long>(t.bound_ns),
              timesync::to_string(t.status));
  return 0;
}
