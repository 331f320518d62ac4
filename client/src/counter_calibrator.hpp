// The CPU counter's map to CLOCK_MONOTONIC_RAW (counter.hpp, CounterMap), fit
// from paired reads the agent takes at every publication (counter_host.hpp).
//
// A pair brackets one clock_gettime(CLOCK_MONOTONIC_RAW) between two counter
// reads: the clock read its counter somewhere in the bracket, so the raw
// time belongs to the bracket's midpoint within half its width. The map is
// the line through the first pair (the anchor) and the latest one (the
// reference): its error at the reference is the reference's half width, and
// its rate is off by at most the two half widths over the distance between
// them, plus an allowance (rate_floor_ppb) for what a line cannot follow.
// The baseline grows with every pair, so the rate error shrinks with time.
//
// Every new pair is first checked against the map so far: a pair off the
// line by more than both errors allow, a counter or clock that went
// backwards, or a suspend in between (CLOCK_BOOTTIME moved away from
// CLOCK_MONOTONIC) drops the map and starts again from this pair; a read that
// gave no pair at all (the counter ran backwards inside every bracket) drops
// it and starts from the next one. Two pairs make a line; only a third that
// agrees with it gives a map (any two points fit a line, and a bad first
// pair would tilt it). Until then readers call clock_gettime.
//
// Pure: no clock or counter reads.
#pragma once

#include <cstdint>
#include <string>

#include "timesync/transform.hpp"

namespace timesync::agent {

struct CounterPair {
  bool valid = true;         // false: no bracket had its second read after its first
  uint64_t count = 0;        // the bracket's midpoint
  uint64_t half_width = 0;   // half the bracket, in counts
  int64_t raw_ns = 0;        // CLOCK_MONOTONIC_RAW inside the bracket
  int64_t suspended_ns = 0;  // CLOCK_BOOTTIME - CLOCK_MONOTONIC at the pair
};

class CounterCalibrator {
 public:
  struct Options {
    uint64_t max_error_ns = 1000;  // a map whose error would exceed this is not published
    double rate_floor_ppb = 1;     // added to the fitted rate's uncertainty
  };
  enum class Verdict { kFirst, kAgrees, kOffLine, kBackwards, kSuspended, kNoPair };

  CounterCalibrator() : CounterCalibrator(Options{}) {}
  explicit CounterCalibrator(Options o) : opt_(o) {}

  // The new pair, checked against the map so far (see above).
  Verdict add(const CounterPair& p);
  // The map for a slot: error up to the slot's void_after, scaled for its
  // frequency and bound growth (read_path.hpp); no map (all 0) before a pair
  // agreed with the line, with the last pair before the slot's as_of, or with
  // an error above max_error_ns; why_none() then says which.
  CounterMap map_for(const Transform& slot) const;
  const std::string& why_none() const { return why_none_; }
  // What the last reset found, for the log: "" after kFirst and kAgrees.
  const std::string& why() const { return why_; }
  // ns per count of the current fit; 0 without one.
  double ns_per_count() const;
  // Pairs that agreed with the line since the last restart.
  uint64_t pairs_agreeing() const { return agreeing_; }

 private:
  // The fitted error, ns, of the map at raw time t >= the reference.
  double error_at(int64_t t) const;
  void restart(const CounterPair& p, std::string why);

  Options opt_;
  CounterPair anchor_, ref_;
  bool have_anchor_ = false, have_ref_ = false;
  uint64_t agreeing_ = 0;
  std::string why_;
  mutable std::string why_none_;
};

const char* to_string(CounterCalibrator::Verdict v);

}  // namespace timesync::agent
