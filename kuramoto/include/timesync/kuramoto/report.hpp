// What a Kuramoto peer reports: per-cycle phase differences to each peer,
// cycles to converge, phase slips, |delta| statistics and a histogram of delta.
// Pure: the cycle log in, numbers and text/JSON out.
//
// delta_ns keeps update.hpp's sign: peer's pulse minus ours, wrapped into
// (-P/2, P/2]; positive when the peer pulses later.
//
// Convergence: a peer pair has converged at cycle c (counted from the first
// cycle that heard the peer) when |delta| <= tolerance_ns for settle_cycles
// cycles in a row starting at c, and for at least 90% of the cycles from c to
// the end of the run (so a scheduling hiccup does not undo it, but passing
// through zero on the way somewhere else is not convergence). The earliest
// such c counts. Statistics "after convergence" use every sample after that
// settle window (c + settle_cycles on), spikes included.
//
// A phase slip is a full turn of the pair's phase difference, unwrapped cycle
// by cycle over a circular median of 5 (so a one- or two-cycle spike is not
// unwrapped the wrong way) and counted with a period of hysteresis (so noise
// at +-P/2 is not a turn each time). Below the coupling threshold a pair slips
// forever; above it only a disturbance of more than half a period (a peer
// waking that late) makes the pair re-lock one cycle off, which is a slip too.
//
// Thread safety: values; no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace timesync::kuramoto {

struct PeerTrace {
  std::string name;                           // e.g. the input line spec
  std::vector<std::optional<int64_t>> delta_ns;  // one entry per cycle of ours
};

struct CycleLog {
  double hz = 0;
  double coupling = 0;
  int participants = 0;
  double drift_ppm = 0;
  uint64_t cycles = 0;
  uint64_t missed_wakeups = 0;
  std::vector<PeerTrace> peers;
};

struct AbsStats {
  uint64_t count = 0;
  double mean_ns = 0;
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
};

struct DeltaHistogram {
  int64_t lo_ns = 0;   // left edge of the first bin
  int64_t bin_ns = 1;
  std::vector<uint64_t> counts;
};

struct PeerSummary {
  std::string name;
  uint64_t samples = 0;            // cycles that heard the peer
  uint64_t first_heard_cycle = 0;  // our cycle index of the first sample
  // Cycles from first_heard_cycle to convergence (0: converged at once);
  // nullopt when it never converged.
  std::optional<uint64_t> cycles_to_converge;
  uint64_t slips = 0;
  uint64_t slips_after_converge = 0;  // > 0: it lost lock again
  bool locked() const { return cycles_to_converge.has_value() && slips_after_converge == 0; }
  double mean_delta_ns = 0;  // signed, after convergence (all samples if never)
  // Signed mean over the second half of the samples: where a locked pair sits
  // (asin(K_c / K) from update.hpp, which near K_c is outside any tolerance).
  double mean_delta_second_half_ns = 0;
  AbsStats abs_all;          // every sample
  AbsStats abs_converged;    // after the settle window (empty if never converged)
  DeltaHistogram hist;       // signed delta, after convergence (all samples if never)
};

struct Report {
  CycleLog meta;  // without the traces
  int64_t tolerance_ns = 0;
  unsigned settle_cycles = 0;
  std::vector<PeerSummary> peers;
  // Every peer converged; the largest cycles_to_converge over them.
  std::optional<uint64_t> cycles_to_converge;
};

AbsStats abs_stats(const std::vector<int64_t>& values);
// About 20 bins of a 1-2-5 width covering [min, max].
DeltaHistogram make_histogram(const std::vector<int64_t>& values);
PeerSummary summarize_peer(const PeerTrace& trace, int64_t period_ns, int64_t tolerance_ns,
                           unsigned settle_cycles);
Report build_report(const CycleLog& log, int64_t tolerance_ns, unsigned settle_cycles);

std::string render_text(const Report& r);
std::string render_json(const Report& r);
// One CSV line per cycle: cycle,peer,delta_ns (empty when the peer was not heard).
std::string render_trace_csv(const CycleLog& log);

}  // namespace timesync::kuramoto
