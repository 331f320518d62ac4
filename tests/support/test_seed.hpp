// Replayable randomness for tests: the seed is printed, and TIMESYNC_TEST_SEED
// in the environment replays a failing run.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>

namespace timesync::testing {

inline uint64_t test_seed() {
  static const uint64_t seed = []() -> uint64_t {
    if (const char* env = std::getenv("TIMESYNC_TEST_SEED")) return std::strtoull(env, nullptr, 0);
    return static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}();
  }();
  return seed;
}

// A generator seeded from test_seed(); announces the seed once per call site.
inline std::mt19937_64 seeded_rng(const char* what) {
  std::cerr << "[seed] " << what << ": TIMESYNC_TEST_SEED=" << test_seed() << "\n";
  return std::mt19937_64(test_seed());
}

}  // namespace timesync::testing
