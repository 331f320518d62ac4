// Converting a timestamp from another clock (CLOCK_REALTIME, a NIC's PHC) to
// this host's CLOCK_MONOTONIC_RAW, the product's clock, without ever giving a
// wrong answer when that other clock is stepped.
//
// A paired read brackets one read of the other clock between two raw reads:
//   raw_a, other, raw_b
//   diff_ns       = other - (raw_a + raw_b) / 2     (other minus raw)
//   half_width_ns = ceil((raw_b - raw_a) / 2)       (|true diff - diff_ns| <= this)
// The narrowest of a few tries is kept: a read interrupted by the scheduler
// is wide, not wrong.
//
// A stamp S on the other clock becomes raw = S - diff. The difference is read
// after the stamp (it is converted later), and may have moved since: slewing
// moves it slowly, a step (settimeofday, chrony's makestep, ptp4l stepping the
// PHC) moves it at once. So every conversion uses two reads, `before` (taken
// before the stamp was made: the caller guarantees this) and `after` (taken
// after), and:
//   moved_ns   = after.diff - before.diff
//   allowed_ns = max_slew_ppm x (after.raw - before.raw) + 2 x (both half-widths) + floor_ns
//   raw_ns         = S - (before.diff + after.diff) / 2
//   uncertainty_ns = max(half-widths) + |moved| / 2 + 1
//   |moved| > allowed                               -> kStepped: drop the sample
//   [raw - uncertainty, raw + uncertainty] misses
//   [before.raw, after.raw]                         -> kNotBracketed: drop it
// The midpoint is within |moved|/2 of the difference at the stamp when the
// difference moved monotonically in between, as a slew does between reads
// milliseconds apart; this keeps the uncertainty a hard bound, at the price
// of brackets kept short. A step smaller than allowed_ns (50 us for a 100 ms
// bracket at 500 ppm) is not told from a slew: it costs at most that much,
// inside a bracket the caller keeps short.
//
// Sign convention: diff_ns and moved_ns are "other minus raw"; a positive
// moved_ns means the other clock gained on raw between the reads.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>

namespace timesync::netstamp {

struct PairedRead {
  int64_t raw_ns = 0;         // midpoint of the two raw reads
  int64_t diff_ns = 0;        // other clock minus raw, at raw_ns
  int64_t half_width_ns = 0;  // >= 0
};

// From the three reads of one try: raw_a <= raw_b required (else half_width
// is taken as |raw_b - raw_a| / 2 around their midpoint).
PairedRead make_paired_read(int64_t raw_a_ns, int64_t other_ns, int64_t raw_b_ns);

// The narrower of two reads (the earlier one on a tie).
const PairedRead& narrower(const PairedRead& a, const PairedRead& b);

struct ConversionParams {
  // The fastest the other clock may move against raw without a step. 500 ppm
  // is the kernel's frequency limit plus ntpd's slew (chrony's maxslewrate,
  // 83 ms/s, is far too large to separate a slew from a step; it is the
  // price: a chrony slew that fast is taken for a step and dropped).
  double max_slew_ppm = 500.0;
  int64_t floor_ns = 1'000;  // reads to the same ns are not expected to agree to the ns
};

enum class Verdict : uint8_t {
  kOk = 0,
  kStepped,        // the difference moved more than a slew could: a step in the bracket
  kNotBracketed,   // the stamp is not between the two reads (or there was no `before`)
};

const char* to_string(Verdict verdict);

struct Conversion {
  Verdict verdict = Verdict::kNotBracketed;
  int64_t raw_ns = 0;          // the stamp on CLOCK_MONOTONIC_RAW (meaningful only if ok())
  int64_t uncertainty_ns = 0;  // |true raw - raw_ns| <= this when ok()
  int64_t moved_ns = 0;        // after.diff - before.diff
  int64_t allowed_ns = 0;      // the most moved_ns could be without a step

  bool ok() const { return verdict == Verdict::kOk; }
};

// The pure conversion (see the top of this file). `before` must have been
// read before the stamp was taken and `after` after it.
Conversion convert_between(int64_t other_stamp_ns, const PairedRead& before,
                           const PairedRead& after, const ConversionParams& params = {});

}  // namespace timesync::netstamp
