// From an estimate to what readers evaluate: the estimator's line and bound,
// in the agent's local-clock terms, become a Transform over the host's
// CLOCK_MONOTONIC_RAW (libtimesync/transform.hpp), the clock every reader
// reads. Pure: the caller reads the clocks and passes the readings in.
//
// With a real clock the local clock IS host raw and the mapping is the
// identity. With a simulated oscillator (tests, the test bed) the line is
// anchored at now and the oscillator's rate against host raw at now is folded
// into the frequency, (1 + f)(1 + r) - 1: exact for a constant rate; a rate
// change between two publications reaches readers at the next one, exactly as
// a real crystal's would.
//
// Units: ns, ppb. Thread safety: a pure function.
#pragma once

#include <cstdint>

#include "timesync/estimator/estimator.hpp"
#include "timesync/transform.hpp"

namespace timesync::estimator {

// Where the local clock stands against host raw at publication.
struct ClockMap {
  int64_t now_local = 0;
  int64_t now_host = 0;
  int64_t as_of_host = 0;          // the estimate's as_of, on host raw
  int64_t void_after_host = 0;     // as_of + void_after, on host raw
  double rate_vs_host_ppb = 0;     // the local clock's rate against host raw now
};

// The transform readers get. `growth_until_void_ppb` is
// Estimator::growth_until(void_after): the growth that stays honest until the
// data is void. The status is the caller's policy (SyncPolicy).
Transform to_transform(const Estimate& e, double growth_until_void_ppb, const ClockMap& m,
                       uint64_t max_error_ns, uint64_t epoch, ClockStatus status);

}  // namespace timesync::estimator
