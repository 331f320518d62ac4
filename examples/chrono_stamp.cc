// chrono_stamp: stamp events on the synchronized timeline with std::chrono.
//
//   c++ -std=c++20 chrono_stamp.cc -ltimesync -o chrono_stamp && ./chrono_stamp [SEGMENT]
//
// Two stamps 20 ms apart (by steady_clock), their difference on the shared
// timeline, and the bound of each. Out of sync: sync_error, exit 1.
#include <timesync/sync_clock.hpp>

#include <chrono>
#include <cstdio>
#include <thread>

int main(int argc, char** argv) {
  using timesync::sync_clock;
  using namespace std::chrono_literals;
  if (argc > 1) sync_clock::use_segment(argv[1]);
  try {
    const sync_clock::reading a = sync_clock::now_with_error();
    std::this_thread::sleep_for(20ms);
    const sync_clock::reading b = sync_clock::now_with_error();
    const auto apart = std::chrono::duration_cast<std::chrono::microseconds>(b.time - a.time);
    std::printf("%lld %lld %lld %lld\n", static_cast<long long>(a.time.time_since_epoch().count()),
                static_cast<long long>(a.bound.count()), static_cast<long long>(apart.count()),
                static_cast<long long>(b.bound.count()));
    return 0;
  } catch (const timesync::sync_error& e) {
    std::fprintf(stderr, "chrono_stamp: %s\n", e.what());
    return 1;
  }
}
