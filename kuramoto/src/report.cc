#include "timesync/kuramoto/report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "timesync/kuramoto/update.hpp"

namespace timesync::kuramoto {
namespace {

int64_t percentile_sorted(const std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

double us(double ns) { return ns / 1e3; }

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

std::string json_abs(const AbsStats& a) {
  return fmt("{\"count\": %" PRIu64 ", \"mean_ns\": %.1f, \"p50_ns\": %" PRId64
             ", \"p99_ns\": %" PRId64 ", \"max_ns\": %" PRId64 "}",
             a.count, a.mean_ns, a.p50_ns, a.p99_ns, a.max_ns);
}

std::string text_abs(const AbsStats& a) {
  if (a.count == 0) return "no samples";
  return fmt("n %" PRIu64 ", mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us", a.count,
             us(a.mean_ns), us(static_cast<double>(a.p50_ns)), us(static_cast<double>(a.p99_ns)),
             us(static_cast<double>(a.max_ns)));
}

// Full turns of the phase difference over a run of samples: the walk is
// unwrapped step by step (each step taken the short way round), and a turn
// counts when it has gone a whole period from where the last one was
// counted. Noise around +-P/2 then flips the wrapped value back and forth
// without counting a turn each time.
//
// A scheduling hiccup makes a one- or two-cycle spike of any size, and two
// such spikes in opposite directions can each be unwrapped the wrong way, so
// the walk runs over a circular median of 5 first: it keeps a slip (drift
// moves the phase by at most 1% of a period a cycle, see --drift-ppm) and
// drops the spikes.
// Returns the sample index at which each turn completed.
std::vector<size_t> count_turns(const std::vector<int64_t>& raw, int64_t period_ns) {
  if (raw.empty()) return {};
  std::vector<int64_t> v(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    std::vector<int64_t> around;
    for (size_t k = i >= 2 ? i - 2 : 0; k < std::min(raw.size(), i + 3); ++k) {
      around.push_back(wrap_ns(raw[k] - raw[i], period_ns));
    }
    std::nth_element(around.begin(), around.begin() + around.size() / 2, around.end());
    v[i] = raw[i] + around[around.size() / 2];
  }
  std::vector<size_t> turns;
  int64_t walk = v.front(), ref = v.front();
  for (size_t i = 1; i < v.size(); ++i) {
    walk += wrap_ns(v[i] - v[i - 1], period_ns);
    if (walk - ref >= period_ns) {
      ref += period_ns;
      turns.push_back(i);
    } else if (ref - walk >= period_ns) {
      ref -= period_ns;
      turns.push_back(i);
    }
  }
  return turns;
}

constexpr double kStayFraction = 0.9;

}  // namespace

AbsStats abs_stats(const std::vector<int64_t>& values) {
  AbsStats s;
  if (values.empty()) return s;
  std::vector<int64_t> a;
  a.reserve(values.size());
  double sum = 0;
  for (int64_t v : values) {
    a.push_back(std::llabs(v));
    sum += static_cast<double>(a.back());
  }
  std::sort(a.begin(), a.end());
  s.count = a.size();
  s.mean_ns = sum / static_cast<double>(a.size());
  s.p50_ns = percentile_sorted(a, 0.50);
  s.p99_ns = percentile_sorted(a, 0.99);
  s.max_ns = a.back();
  return s;
}

DeltaHistogram make_histogram(const std::vector<int64_t>& values) {
  DeltaHistogram h;
  if (values.empty()) return h;
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  const int64_t span = std::max<int64_t>(*mx - *mn, 1);
  // The smallest 1-2-5 width that covers the span in at most 20 bins.
  int64_t bin = 1;
  for (int64_t decade = 1;; decade *= 10) {
    for (int64_t m : {1, 2, 5}) {
      bin = m * decade;
      if (span / bin < 20) break;
    }
    if (span / bin < 20) break;
  }
  h.bin_ns = bin;
  // Floor division, so negative deltas land in the bin that contains them.
  h.lo_ns = (*mn >= 0 ? *mn / bin : -((-*mn + bin - 1) / bin)) * bin;
  h.counts.assign(static_cast<size_t>((*mx - h.lo_ns) / bin + 1), 0);
  for (int64_t v : values) ++h.counts[static_cast<size_t>((v - h.lo_ns) / bin)];
  return h;
}

PeerSummary summarize_peer(const PeerTrace& trace, int64_t period_ns, int64_t tolerance_ns,
                           unsigned settle_cycles) {
  PeerSummary s;
  s.name = trace.name;
  const auto& d = trace.delta_ns;
  size_t first = 0;
  while (first < d.size() && !d[first]) ++first;
  s.first_heard_cycle = first;
  std::vector<int64_t> all;
  for (size_t c = first; c < d.size(); ++c) {
    if (d[c]) all.push_back(*d[c]);
  }
  const std::vector<size_t> turns = count_turns(all, period_ns);
  s.slips = turns.size();
  if (!all.empty()) {
    double half = 0;
    for (size_t i = all.size() / 2; i < all.size(); ++i) half += static_cast<double>(all[i]);
    s.mean_delta_second_half_ns = half / static_cast<double>(all.size() - all.size() / 2);
  }
  s.samples = all.size();
  s.abs_all = abs_stats(all);
  // The first run of settle_cycles consecutive cycles within tolerance (a
  // cycle that did not hear the peer breaks it) after which the pair stays
  // within tolerance: kStayFraction of the heard cycles from its start on.
  // Without the second condition a pair that passes through zero on its way
  // to a lock far outside the tolerance would count as converged.
  std::vector<uint32_t> heard_after(d.size() + 1, 0), within_after(d.size() + 1, 0);
  for (size_t c = d.size(); c-- > first;) {
    heard_after[c] = heard_after[c + 1] + (d[c] ? 1 : 0);
    within_after[c] = within_after[c + 1] + (d[c] && std::llabs(*d[c]) <= tolerance_ns ? 1 : 0);
  }
  const unsigned settle = std::max(settle_cycles, 1u);
  unsigned run = 0;
  for (size_t c = first; c < d.size(); ++c) {
    run = d[c] && std::llabs(*d[c]) <= tolerance_ns ? run + 1 : 0;
    if (run < settle) continue;
    const size_t start = c + 1 - settle;
    if (within_after[start] >= kStayFraction * heard_after[start]) {
      s.cycles_to_converge = start - first;
      break;
    }
  }
  std::vector<int64_t> after;
  if (s.cycles_to_converge) {
    // From the end of the settle window: the window itself is the tail of
    // the transient (its first cycle may sit right at the tolerance).
    for (size_t c = first + *s.cycles_to_converge + settle_cycles; c < d.size(); ++c) {
      if (d[c]) after.push_back(*d[c]);
    }
    // Turns completed from the convergence cycle on, counted in the same walk
    // as the total so the two agree.
    size_t heard_before = 0;
    for (size_t c = first; c < first + *s.cycles_to_converge; ++c) heard_before += d[c] ? 1 : 0;
    for (size_t t : turns) s.slips_after_converge += t >= heard_before ? 1 : 0;
    s.abs_converged = abs_stats(after);
  } else {
    after = all;
  }
  double sum = 0;
  for (int64_t v : after) sum += static_cast<double>(v);
  s.mean_delta_ns = after.empty() ? 0 : sum / static_cast<double>(after.size());
  s.hist = make_histogram(after);
  return s;
}

Report build_report(const CycleLog& log, int64_t tolerance_ns, unsigned settle_cycles) {
  Report r;
  r.meta = log;
  r.meta.peers.clear();
  r.tolerance_ns = tolerance_ns;
  r.settle_cycles = settle_cycles;
  const int64_t period = period_ns_for(log.hz);
  bool all = !log.peers.empty();
  uint64_t worst = 0;
  for (const PeerTrace& t : log.peers) {
    r.peers.push_back(summarize_peer(t, period, tolerance_ns, settle_cycles));
    const auto& c = r.peers.back().cycles_to_converge;
    all = all && c.has_value();
    if (c) worst = std::max(worst, *c);
  }
  if (all) r.cycles_to_converge = worst;
  return r;
}

std::string render_text(const Report& r) {
  const CycleLog& m = r.meta;
  std::string out = fmt("kuramoto: %g Hz, K %g, N %d, drift %+g ppm, %" PRIu64
                        " cycles, %" PRIu64 " missed wake-ups\n",
                        m.hz, m.coupling, m.participants, m.drift_ppm, m.cycles,
                        m.missed_wakeups);
  out += fmt("converged when |delta| <= %.1f us for %u cycles in a row: ", us(static_cast<double>(r.tolerance_ns)),
             r.settle_cycles);
  out += r.cycles_to_converge ? fmt("all peers within %" PRIu64 " cycles\n", *r.cycles_to_converge)
                              : std::string("NOT CONVERGED\n");
  for (const PeerSummary& p : r.peers) {
    out += fmt("peer %s: %" PRIu64 " samples (first heard at cycle %" PRIu64 "), ", p.name.c_str(),
               p.samples, p.first_heard_cycle);
    out += p.cycles_to_converge ? fmt("converged after %" PRIu64 " cycles", *p.cycles_to_converge)
                                : std::string("never converged");
    out += fmt(", %" PRIu64 " phase slips", p.slips);
    out += p.cycles_to_converge ? fmt(" (%" PRIu64 " after converging)\n", p.slips_after_converge)
                                : std::string("\n");
    out += "  |delta| all cycles:        " + text_abs(p.abs_all) + "\n";
    out += "  |delta| after convergence: " + text_abs(p.abs_converged) + "\n";
    out += fmt("  delta (peer - this peer), %s: mean %+.1f us; second half of the run: mean %+.1f us\n",
               p.cycles_to_converge ? "after convergence" : "all cycles", us(p.mean_delta_ns),
               us(p.mean_delta_second_half_ns));
    uint64_t peak = 1;
    for (uint64_t c : p.hist.counts) peak = std::max(peak, c);
    for (size_t b = 0; b < p.hist.counts.size(); ++b) {
      const double lo = us(static_cast<double>(p.hist.lo_ns + static_cast<int64_t>(b) * p.hist.bin_ns));
      const double hi = lo + us(static_cast<double>(p.hist.bin_ns));
      const auto bar = static_cast<size_t>(40.0 * static_cast<double>(p.hist.counts[b]) /
                                           static_cast<double>(peak));
      out += fmt("  [%10.1f, %10.1f) us %8" PRIu64 " %s\n", lo, hi, p.hist.counts[b],
                 std::string(p.hist.counts[b] ? std::max<size_t>(bar, 1) : 0, '#').c_str());
    }
  }
  return out;
}

std::string render_json(const Report& r) {
  const CycleLog& m = r.meta;
  std::string out = fmt("{\"hz\": %g, \"coupling\": %g, \"participants\": %d, \"drift_ppm\": %g, "
                        "\"cycles\": %" PRIu64 ", \"missed_wakeups\": %" PRIu64
                        ", \"tolerance_ns\": %" PRId64 ", \"settle_cycles\": %u, ",
                        m.hz, m.coupling, m.participants, m.drift_ppm, m.cycles,
                        m.missed_wakeups, r.tolerance_ns, r.settle_cycles);
  out += "\"converged\": " + std::string(r.cycles_to_converge ? "true" : "false") +
         ", \"cycles_to_converge\": " +
         (r.cycles_to_converge ? std::to_string(*r.cycles_to_converge) : "null") + ", \"peers\": [";
  for (size_t i = 0; i < r.peers.size(); ++i) {
    const PeerSummary& p = r.peers[i];
    out += i ? ", " : "";
    out += "{\"name\": " + json_string(p.name) + fmt(", \"samples\": %" PRIu64, p.samples) +
           fmt(", \"first_heard_cycle\": %" PRIu64, p.first_heard_cycle) +
           ", \"cycles_to_converge\": " +
           (p.cycles_to_converge ? std::to_string(*p.cycles_to_converge) : "null") +
           fmt(", \"slips\": %" PRIu64 ", \"slips_after_converge\": %" PRIu64
               ", \"locked\": %s, \"mean_delta_ns\": %.1f, \"mean_delta_second_half_ns\": %.1f",
               p.slips, p.slips_after_converge, p.locked() ? "true" : "false", p.mean_delta_ns,
               p.mean_delta_second_half_ns) +
           ", \"abs_delta_all\": " + json_abs(p.abs_all) +
           ", \"abs_delta_converged\": " + json_abs(p.abs_converged) +
           fmt(", \"histogram\": {\"lo_ns\": %" PRId64 ", \"bin_ns\": %" PRId64 ", \"counts\": [",
               p.hist.lo_ns, p.hist.bin_ns);
    for (size_t b = 0; b < p.hist.counts.size(); ++b) {
      out += (b ? ", " : "") + std::to_string(p.hist.counts[b]);
    }
    out += "]}}";
  }
  return out + "]}\n";
}

std::string render_trace_csv(const CycleLog& log) {
  std::string out = "cycle,peer,delta_ns\n";
  for (uint64_t c = 0; c < log.cycles; ++c) {
    for (const PeerTrace& t : log.peers) {
      out += std::to_string(c) + "," + t.name + ",";
      if (c < t.delta_ns.size() && t.delta_ns[c]) out += std::to_string(*t.delta_ns[c]);
      out += "\n";
    }
  }
  return out;
}

}  // namespace timesync::kuramoto
