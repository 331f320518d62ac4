#include "timesync/gpio/probe_report.hpp"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>

namespace timesync::gpio {
namespace {

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

int64_t nearest_rank(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// 1-2-5 bin widths, the smallest that keeps the histogram within 40 bins.
Histogram make_histogram(const std::vector<int64_t>& sorted) {
  Histogram h;
  if (sorted.empty()) return h;
  const int64_t span = sorted.back() - sorted.front();
  int64_t bin = 1;
  for (int64_t decade = 1;; decade *= 10) {
    for (int64_t m : {1, 2, 5}) {
      bin = m * decade;
      if (span / bin < 40) goto chosen;
    }
  }
chosen:
  h.bin_ns = bin;
  h.lo_ns = floor_div(sorted.front(), bin) * bin;
  h.counts.assign(static_cast<size_t>((sorted.back() - h.lo_ns) / bin + 1), 0);
  for (int64_t v : sorted) ++h.counts[static_cast<size_t>((v - h.lo_ns) / bin)];
  return h;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string us(double ns) { return fmt("%.2f", ns / 1e3); }

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      o += fmt("\\u%04x", static_cast<unsigned char>(c));
      continue;
    }
    o += c;
  }
  return o + "\"";
}

std::string xml(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

}  // namespace

std::vector<int64_t> pair_offsets(std::vector<int64_t> ref, std::vector<int64_t> other,
                                  int64_t period_ns, uint64_t* unmatched) {
  std::sort(ref.begin(), ref.end());
  std::sort(other.begin(), other.end());
  const int64_t half = period_ns / 2;
  std::vector<int64_t> out;
  *unmatched = 0;
  size_t j = 0;
  for (int64_t r : ref) {
    while (j < other.size() && other[j] < r - half) ++j;
    // The nearest of other[j] and other[j+1], both possibly inside the window.
    size_t best = j;
    if (j + 1 < other.size() && std::llabs(other[j + 1] - r) < std::llabs(other[j] - r)) {
      best = j + 1;
    }
    if (best < other.size() && std::llabs(other[best] - r) < half) {
      out.push_back(other[best] - r);
      j = best + 1;  // each edge pairs once
    } else {
      ++*unmatched;
    }
  }
  return out;
}

std::vector<int64_t> grid_offsets(const std::vector<int64_t>& edges, int64_t period_ns) {
  std::vector<int64_t> out;
  out.reserve(edges.size());
  for (int64_t t : edges) {
    const int64_t k = floor_div(t + period_ns / 2, period_ns);
    out.push_back(t - k * period_ns);
  }
  return out;
}

PairStats summarize(std::string a, std::string b, std::vector<int64_t> offsets,
                    uint64_t unmatched) {
  PairStats s;
  s.a = std::move(a);
  s.b = std::move(b);
  s.unmatched = unmatched;
  s.count = offsets.size();
  if (offsets.empty()) return s;
  std::sort(offsets.begin(), offsets.end());
  double sum = 0;
  for (int64_t v : offsets) sum += static_cast<double>(v);
  s.mean_ns = sum / static_cast<double>(offsets.size());
  double ss = 0;
  for (int64_t v : offsets) ss += (static_cast<double>(v) - s.mean_ns) * (static_cast<double>(v) - s.mean_ns);
  s.std_ns = offsets.size() > 1 ? std::sqrt(ss / static_cast<double>(offsets.size() - 1)) : 0.0;
  s.min_ns = offsets.front();
  s.max_ns = offsets.back();
  s.p1_ns = nearest_rank(offsets, 0.01);
  s.p50_ns = nearest_rank(offsets, 0.50);
  s.p99_ns = nearest_rank(offsets, 0.99);
  s.max_abs_ns = std::max(std::llabs(s.min_ns), std::llabs(s.max_ns));
  s.hist = make_histogram(offsets);
  return s;
}

ProbeReport build_report(const std::vector<ProbeLine>& lines, const std::string& reference,
                         int64_t period_ns, const std::string& clock) {
  ProbeReport r;
  r.period_ns = period_ns;
  r.reference = reference;
  r.clock = clock;
  for (const ProbeLine& l : lines) {
    r.lines.push_back(l.name);
    r.edges.push_back(l.rising_ns.size());
    r.lost.push_back(l.lost);
  }
  const ProbeLine* ref = nullptr;
  for (const ProbeLine& l : lines) {
    if (l.name == reference) ref = &l;
  }
  if (reference == kGridReference) {
    for (const ProbeLine& l : lines) {
      r.pairs.push_back(summarize(kGridReference, l.name, grid_offsets(l.rising_ns, period_ns), 0));
    }
    return r;
  }
  // The reference first against every line, then the other pairs in order.
  if (ref != nullptr) {
    for (const ProbeLine& l : lines) {
      if (&l == ref) continue;
      uint64_t un = 0;
      auto off = pair_offsets(ref->rising_ns, l.rising_ns, period_ns, &un);
      r.pairs.push_back(summarize(ref->name, l.name, std::move(off), un));
    }
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    for (size_t j = i + 1; j < lines.size(); ++j) {
      if (&lines[i] == ref || &lines[j] == ref) continue;
      uint64_t un = 0;
      auto off = pair_offsets(lines[i].rising_ns, lines[j].rising_ns, period_ns, &un);
      r.pairs.push_back(summarize(lines[i].name, lines[j].name, std::move(off), un));
    }
  }
  return r;
}

std::string render_text(const ProbeReport& r) {
  std::string o = "probe report: period " + us(static_cast<double>(r.period_ns)) +
                  " us, edges timestamped on " + r.clock + ", reference " +
                  (r.reference.empty() ? std::string("none (every pair)") : r.reference) + "\n";
  for (size_t i = 0; i < r.lines.size(); ++i) {
    o += "  line " + r.lines[i] + ": " + std::to_string(r.edges[i]) + " rising edges, " +
         std::to_string(r.lost[i]) + " lost\n";
  }
  o += "offset = second - first, us (positive: the second pulses late)\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-22s %7s %7s %9s %8s %9s %9s %9s %9s %9s\n", "pair", "count",
                "unmatch", "mean", "std", "min", "p50", "p99", "max", "max|x|");
  o += buf;
  for (const PairStats& p : r.pairs) {
    std::snprintf(buf, sizeof buf,
                  "%-22s %7" PRIu64 " %7" PRIu64 " %9.2f %8.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n",
                  (p.b + " - " + p.a).c_str(), p.count, p.unmatched, p.mean_ns / 1e3,
                  p.std_ns / 1e3, static_cast<double>(p.min_ns) / 1e3,
                  static_cast<double>(p.p50_ns) / 1e3, static_cast<double>(p.p99_ns) / 1e3,
                  static_cast<double>(p.max_ns) / 1e3, static_cast<double>(p.max_abs_ns) / 1e3);
    o += buf;
  }
  for (const PairStats& p : r.pairs) {
    if (p.hist.counts.empty()) continue;
    o += "\nhistogram " + p.b + " - " + p.a + " (bin " + us(static_cast<double>(p.hist.bin_ns)) +
         " us)\n";
    const uint64_t top = *std::max_element(p.hist.counts.begin(), p.hist.counts.end());
    for (size_t k = 0; k < p.hist.counts.size(); ++k) {
      const int64_t lo = p.hist.lo_ns + static_cast<int64_t>(k) * p.hist.bin_ns;
      const auto bar = static_cast<size_t>(50.0 * static_cast<double>(p.hist.counts[k]) /
                                           static_cast<double>(top) + 0.5);
      std::snprintf(buf, sizeof buf, "  %10.2f %7" PRIu64 " %s\n", static_cast<double>(lo) / 1e3,
                    p.hist.counts[k], std::string(bar, '#').c_str());
      o += buf;
    }
  }
  return o;
}

std::string render_json(const ProbeReport& r) {
  std::string o = "{\"period_ns\": " + std::to_string(r.period_ns) +
                  ", \"reference\": " + json_str(r.reference) + ", \"clock\": " +
                  json_str(r.clock) + ",\n \"lines\": [";
  for (size_t i = 0; i < r.lines.size(); ++i) {
    o += std::string(i ? ", " : "") + "{\"name\": " + json_str(r.lines[i]) +
         ", \"edges\": " + std::to_string(r.edges[i]) + ", \"lost\": " + std::to_string(r.lost[i]) +
         "}";
  }
  o += "],\n \"pairs\": [";
  for (size_t i = 0; i < r.pairs.size(); ++i) {
    const PairStats& p = r.pairs[i];
    o += std::string(i ? ",\n  " : "\n  ") + "{\"a\": " + json_str(p.a) + ", \"b\": " +
         json_str(p.b) + ", \"count\": " + std::to_string(p.count) + ", \"unmatched\": " +
         std::to_string(p.unmatched) + ", \"mean_ns\": " + fmt("%.1f", p.mean_ns) +
         ", \"std_ns\": " + fmt("%.1f", p.std_ns) + ", \"min_ns\": " + std::to_string(p.min_ns) +
         ", \"p1_ns\": " + std::to_string(p.p1_ns) + ", \"p50_ns\": " + std::to_string(p.p50_ns) +
         ", \"p99_ns\": " + std::to_string(p.p99_ns) + ", \"max_ns\": " + std::to_string(p.max_ns) +
         ", \"max_abs_ns\": " + std::to_string(p.max_abs_ns) + ", \"histogram\": {\"lo_ns\": " +
         std::to_string(p.hist.lo_ns) + ", \"bin_ns\": " + std::to_string(p.hist.bin_ns) +
         ", \"counts\": [";
    for (size_t k = 0; k < p.hist.counts.size(); ++k) {
      o += (k ? ", " : "") + std::to_string(p.hist.counts[k]);
    }
    o += "]}}";
  }
  return o + "\n ]}\n";
}

std::string render_svg(const ProbeReport& r) {
  constexpr int kW = 760, kPanel = 210, kLeft = 60, kRight = 40, kTop = 34, kPlotH = 130;
  const int h = 30 + kPanel * static_cast<int>(std::max<size_t>(r.pairs.size(), 1));
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(kW) +
                  "\" height=\"" + std::to_string(h) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" "
                  "height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"13\">" +
                  xml("Pulse offsets, period " + us(static_cast<double>(r.period_ns)) +
                      " us, reference " + (r.reference.empty() ? "none" : r.reference)) +
                  "</text>\n";
  for (size_t i = 0; i < r.pairs.size(); ++i) {
    const PairStats& p = r.pairs[i];
    const int y0 = 30 + kPanel * static_cast<int>(i);
    o += "<text x=\"" + std::to_string(kLeft) + "\" y=\"" + std::to_string(y0 + 16) + "\">" +
         xml(p.b + " - " + p.a + ": n=" + std::to_string(p.count) + ", mean " + us(p.mean_ns) +
             " us, std " + us(p.std_ns) + " us, p99 " + us(static_cast<double>(p.p99_ns)) +
             " us, max|x| " + us(static_cast<double>(p.max_abs_ns)) + " us") +
         "</text>\n";
    if (p.hist.counts.empty()) continue;
    const uint64_t top = *std::max_element(p.hist.counts.begin(), p.hist.counts.end());
    const double bw = static_cast<double>(kW - kLeft - kRight) /
                      static_cast<double>(p.hist.counts.size());
    const int base = y0 + kTop + kPlotH;
    for (size_t k = 0; k < p.hist.counts.size(); ++k) {
      const double bh = kPlotH * static_cast<double>(p.hist.counts[k]) / static_cast<double>(top);
      o += "<rect x=\"" + fmt("%.1f", kLeft + bw * static_cast<double>(k)) + "\" y=\"" +
           fmt("%.1f", base - bh) + "\" width=\"" + fmt("%.1f", std::max(bw - 1, 1.0)) +
           "\" height=\"" + fmt("%.1f", bh) + "\" fill=\"#3b6ea5\"/>\n";
    }
    o += "<line x1=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(base) + "\" x2=\"" +
         std::to_string(kW - kRight) + "\" y2=\"" + std::to_string(base) +
         "\" stroke=\"black\"/>\n";
    // Five tick labels across the bins, in microseconds.
    for (int t = 0; t <= 4; ++t) {
      const double frac = t / 4.0;
      const double ns = static_cast<double>(p.hist.lo_ns) +
                        frac * static_cast<double>(p.hist.bin_ns) *
                            static_cast<double>(p.hist.counts.size());
      o += "<text x=\"" + fmt("%.1f", kLeft + frac * (kW - kLeft - kRight)) + "\" y=\"" +
           std::to_string(base + 14) + "\" text-anchor=\"middle\">" + us(ns) + "</text>\n";
    }
    o += "<text x=\"" + std::to_string(kW / 2) + "\" y=\"" + std::to_string(base + 28) +
         "\" text-anchor=\"middle\">offset [us]</text>\n<text x=\"10\" y=\"" +
         std::to_string(base - kPlotH / 2) + "\">" + std::to_string(top) + " max</text>\n";
  }
  return o + "</svg>\n";
}

}  // namespace timesync::gpio
