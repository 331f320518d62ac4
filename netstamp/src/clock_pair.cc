#include "timesync/netstamp/clock_pair.hpp"

#include <algorithm>
#include <cmath>

namespace timesync::netstamp {

PairedRead make_paired_read(int64_t raw_a_ns, int64_t other_ns, int64_t raw_b_ns) {
  if (raw_b_ns < raw_a_ns) std::swap(raw_a_ns, raw_b_ns);
  const int64_t span = raw_b_ns - raw_a_ns;
  PairedRead p;
  // mid - ceil(span/2) <= raw_a and mid + ceil(span/2) == raw_b: the other
  // clock was read at a raw instant inside [raw_ns - hw, raw_ns + hw].
  p.raw_ns = raw_a_ns + span / 2;
  p.half_width_ns = (span + 1) / 2;
  p.diff_ns = other_ns - p.raw_ns;
  return p;
}

const PairedRead& narrower(const PairedRead& a, const PairedRead& b) {
  return b.half_width_ns < a.half_width_ns ? b : a;
}

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk: return "ok";
    case Verdict::kStepped: return "stepped";
    case Verdict::kNotBracketed: return "not bracketed";
  }
  return "unknown";
}

Conversion convert_between(int64_t other_stamp_ns, const PairedRead& before, const PairedRead& after,
                           const ConversionParams& params) {
  Conversion c;
  c.moved_ns = after.diff_ns - before.diff_ns;
  const int64_t elapsed = std::max<int64_t>(0, after.raw_ns - before.raw_ns);
  c.allowed_ns = static_cast<int64_t>(std::ceil(params.max_slew_ppm * 1e-6 * static_cast<double>(elapsed))) +
                 2 * (before.half_width_ns + after.half_width_ns) + params.floor_ns;
  const int64_t moved_abs = c.moved_ns < 0 ? -c.moved_ns : c.moved_ns;
  // The midpoint of the two differences (written so that two realtime
  // differences near 1.8e18 are never added).
  c.raw_ns = other_stamp_ns - (before.diff_ns + c.moved_ns / 2);
  c.uncertainty_ns = std::max(before.half_width_ns, after.half_width_ns) + moved_abs / 2 + 1;
  if (moved_abs > c.allowed_ns) {
    c.verdict = Verdict::kStepped;
  } else if (after.raw_ns < before.raw_ns || c.raw_ns + c.uncertainty_ns < before.raw_ns ||
             c.raw_ns - c.uncertainty_ns > after.raw_ns) {
    c.verdict = Verdict::kNotBracketed;
  } else {
    c.verdict = Verdict::kOk;
  }
  return c;
}

}  // namespace timesync::netstamp
