#include "counter_calibrator.hpp"

#include <cmath>
#include <cstdlib>

namespace timesync::agent {

namespace {

// A suspend shows as CLOCK_BOOTTIME - CLOCK_MONOTONIC growing; the two reads
// of one pair are some ns apart, a suspend is far longer.
constexpr int64_t kSuspendNs = 1'000'000;
// The reader's rounding (2 ns: read_path.hpp, fast_counter_timestamp), its
// floor, and the clock's own 1 ns resolution.
constexpr double kRoundingNs = 4;

}  // namespace

const char* to_string(CounterCalibrator::Verdict v) {
  switch (v) {
    case CounterCalibrator::Verdict::kFirst: return "first pair";
    case CounterCalibrator::Verdict::kAgrees: return "agrees";
    case CounterCalibrator::Verdict::kOffLine: return "off the line";
    case CounterCalibrator::Verdict::kBackwards: return "went backwards";
    case CounterCalibrator::Verdict::kSuspended: return "suspended";
    case CounterCalibrator::Verdict::kNoPair: return "no pair";
  }
  return "?";
}

double CounterCalibrator::ns_per_count() const {
  if (!have_ref_) return 0;
  return static_cast<double>(ref_.raw_ns - anchor_.raw_ns) /
         static_cast<double>(ref_.count - anchor_.count);
}

double CounterCalibrator::error_at(int64_t t) const {
  const double s = ns_per_count();
  // A pair's raw time is within half its bracket of the midpoint's, plus
  // the clock's resolution.
  const double e_anchor = static_cast<double>(anchor_.half_width) * s + 1;
  const double e_ref = static_cast<double>(ref_.half_width) * s + 1;
  const double baseline = static_cast<double>(ref_.raw_ns - anchor_.raw_ns);
  const double rate_error = (e_anchor + e_ref) / baseline + opt_.rate_floor_ppb * 1e-9;
  const double ahead = static_cast<double>(t > ref_.raw_ns ? t - ref_.raw_ns : 0);
  return e_ref + rate_error * ahead + kRoundingNs;
}

void CounterCalibrator::restart(const CounterPair& p, std::string why) {
  anchor_ = p;
  have_anchor_ = true;
  have_ref_ = false;
  agreeing_ = 0;
  why_ = std::move(why);
}

CounterCalibrator::Verdict CounterCalibrator::add(const CounterPair& p) {
  if (!p.valid) {
    have_anchor_ = have_ref_ = false;
    agreeing_ = 0;
    why_ = "the counter ran backwards inside every bracket of a pair";
    return Verdict::kNoPair;
  }
  if (!have_anchor_) {
    restart(p, "");
    return Verdict::kFirst;
  }
  const CounterPair& last = have_ref_ ? ref_ : anchor_;
  if (p.count <= last.count || p.raw_ns <= last.raw_ns) {
    restart(p, "the counter or CLOCK_MONOTONIC_RAW went backwards");
    return Verdict::kBackwards;
  }
  if (std::llabs(p.suspended_ns - last.suspended_ns) > kSuspendNs) {
    restart(p, "the machine was suspended");
    return Verdict::kSuspended;
  }
  const bool checked = have_ref_;
  if (checked) {
    const double s = ns_per_count();
    const double predicted = static_cast<double>(ref_.raw_ns) +
                             static_cast<double>(p.count - ref_.count) * s;
    const double off = static_cast<double>(p.raw_ns) - predicted;
    const double allowed = error_at(p.raw_ns) + static_cast<double>(p.half_width) * s + 1;
    if (std::fabs(off) > allowed) {
      restart(p, "a pair was " + std::to_string(std::llround(off)) + " ns off the line (" +
                     std::to_string(std::llround(allowed)) +
                     " ns allowed): the counter's rate or value changed");
      return Verdict::kOffLine;
    }
  }
  ref_ = p;
  have_ref_ = true;
  const double s = ns_per_count();
  const double q56 = std::ldexp(s, kCounterShift);
  if (!(q56 >= static_cast<double>(kMinNsPerCountQ56) && q56 < 0x1p64)) {
    // Not a counter a map can describe (or not a counter at all).
    restart(p, "the counter runs at " + std::to_string(1.0 / s) +
                   " GHz, outside 0.004-16 GHz");
    return Verdict::kOffLine;
  }
  // Only a pair checked against a line agrees: the second pair after a
  // restart makes the line, the third is the first to confirm it.
  if (checked) ++agreeing_;
  why_.clear();
  return Verdict::kAgrees;
}

CounterMap CounterCalibrator::map_for(const Transform& slot) const {
  // The reader carries the time and bound from the reference instant on
  // (read_path.hpp): it must not be before the slot's as_of. The agent takes
  // its pair after building the snapshot, so it never is.
  if (!have_ref_ || agreeing_ == 0) {
    why_none_ = "calibrating: a line and a pair that agrees with it are needed";
    return {};
  }
  if (ref_.raw_ns < slot.as_of.ns) {
    why_none_ = "the last pair is older than the slot's as_of";
    return {};
  }
  const int64_t until = slot.void_after.ns > ref_.raw_ns ? slot.void_after.ns : ref_.raw_ns;
  // An error e in the reader's raw time moves its time by e x (1 + |freq|)
  // and its bound by e x growth (read_path.hpp): the published error covers
  // both for this slot.
  const double scale = 1 + std::fabs(q48_to_ppb(slot.freq_adj_q48)) * 1e-9 +
                       static_cast<double>(slot.bound_growth_ppb) * 1e-9;
  const double e = std::ceil(error_at(until) * scale) + 1;
  if (!(e <= static_cast<double>(opt_.max_error_ns))) {
    why_none_ = "the map's error over the slot's validity would be " + std::to_string(std::llround(e)) +
                " ns, over " + std::to_string(opt_.max_error_ns) + " ns (alarm.void_after_s too long?)";
    return {};
  }
  why_none_.clear();
  CounterMap m;
  m.ref_count = ref_.count;
  m.ref_raw_ns = ref_.raw_ns;
  // Below 2^64 (add() checked): exact in the conversion.
  m.ns_per_count_q56 = static_cast<uint64_t>(std::nearbyint(std::ldexp(ns_per_count(), kCounterShift)));
  m.error_ns = static_cast<uint64_t>(e);
  return m;
}

}  // namespace timesync::agent
