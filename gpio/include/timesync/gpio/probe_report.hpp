// Pulse-probe statistics: pairs the rising edges that several lines show in the
// same period and summarises the offsets per pair. Pure: edges in, numbers and
// text out; no clock reads, no I/O.
//
// Sign convention: a pair (a, b) reports offset = b's edge - a's edge. With a
// reference line R, pairs are (R, X) for every other line X, so a positive mean
// means X pulses LATE, i.e. X's idea of the synchronized time is BEHIND R's.
// The agent's calibration.offset_ns takes that mean with the same sign.
//
// "grid" as the reference compares each line with the multiples of the period
// on the observer's own clock: meaningful only when that clock is the master's
// timeline (the test bed, where the wire carries the master's clock).
//
// Pairing: each reference edge takes the nearest edge of the other line within
// half a period, each edge at most once. Offsets must therefore stay within
// +-period/2; a larger offset is counted as unmatched, never folded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace timesync::gpio {

inline constexpr const char* kGridReference = "grid";

struct ProbeLine {
  std::string name;
  std::vector<int64_t> rising_ns;  // rising-edge timestamps, any order
  uint64_t lost = 0;               // edges the observer knows it missed
};

struct Histogram {
  int64_t lo_ns = 0;   // left edge of the first bin
  int64_t bin_ns = 1;
  std::vector<uint64_t> counts;
};

struct PairStats {
  std::string a;  // the reference side
  std::string b;
  uint64_t count = 0;
  uint64_t unmatched = 0;  // edges of a with no edge of b within period/2
  double mean_ns = 0;
  double std_ns = 0;
  int64_t min_ns = 0;
  int64_t p1_ns = 0;
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
  int64_t max_abs_ns = 0;
  Histogram hist;
};

struct ProbeReport {
  int64_t period_ns = 0;
  std::string reference;  // a line name, "grid", or "" (every pair of lines)
  std::string clock;      // the observer's clock, for the record
  std::vector<std::string> lines;
  std::vector<uint64_t> edges;  // per line
  std::vector<uint64_t> lost;   // per line
  std::vector<PairStats> pairs;
};

// Offsets (other - ref) of matched edges; *unmatched counts ref edges without one.
std::vector<int64_t> pair_offsets(std::vector<int64_t> ref, std::vector<int64_t> other,
                                  int64_t period_ns, uint64_t* unmatched);
// Offsets of edges from the nearest multiple of the period, in [-P/2, P/2).
std::vector<int64_t> grid_offsets(const std::vector<int64_t>& edges, int64_t period_ns);

PairStats summarize(std::string a, std::string b, std::vector<int64_t> offsets,
                    uint64_t unmatched);

// reference: "" for every pair, "grid", or the name of one of the lines.
ProbeReport build_report(const std::vector<ProbeLine>& lines, const std::string& reference,
                         int64_t period_ns, const std::string& clock);

std::string render_text(const ProbeReport& r);
std::string render_json(const ProbeReport& r);
std::string render_svg(const ProbeReport& r);

}  // namespace timesync::gpio
