// timesync-probe: GPIO pulse probes for ground-truth validation.
//
//   timesync-probe emit --output SPEC --period 10ms [--segment PATH | --timeline raw]
//                       [--width D] [--spin-us N] [--max-late-us N] [--count N] [--duration S]
//                       [--fifo PRIO] [--mlockall] [--prefault-stack KB] [--cpu LIST]
//                       [--json FILE] [--consumer NAME]
//     Pulses SPEC high at every multiple of the period on the synchronized
//     timeline (libtimesync's segment, or this host's CLOCK_MONOTONIC_RAW: the
//     master's own timeline when it serves timebase monotonic), and low again
//     after --width. It sleeps on CLOCK_MONOTONIC to an absolute instant
//     --spin-us before the boundary, then reads the synchronized clock until the
//     boundary comes: the pulse is late by the clock read and the line write,
//     not by a wake-up. No pulse while the clock is out of sync, none for a
//     boundary it woke up after (missed), and with --max-late-us none when the
//     spin overshot the boundary by more than that (preempted: too late).
//
//   timesync-probe observe --input NAME=SPEC... --period 10ms [--reference NAME|grid]
//                          [--duration S] [--json FILE] [--svg FILE] [--edges FILE]
//                          [--fifo PRIO] [--mlockall] [--prefault-stack KB] [--cpu LIST]
//     Timestamps rising edges on every input (one thread each), pairs them per
//     period and prints the report (probe_report.hpp); JSON, SVG and the raw
//     edges (JSON lines) on request. Runs until --duration or SIGINT/SIGTERM.
//
// SPEC: gpiod:CHIP:OFFSET[,active-low] or wire:NAME:LINE[,delay-ns=N] (line.hpp).
// Exit status: 0 done, 1 a line or RT option failed, 2 usage.
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "timesync/clock.hpp"
#include "timesync/gpio/line.hpp"
#include "timesync/gpio/probe_report.hpp"
#include "timesync/gpio/rt.hpp"

namespace {

using timesync::gpio::RtOptions;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: sleeps return EINTR and the loop checks
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "timesync-probe: %s\n"
               "usage: timesync-probe emit --output SPEC --period D [--segment PATH | --timeline "
               "raw]\n"
               "         [--width D] [--spin-us N] [--max-late-us N] [--count N] [--duration S]\n"
               "         [--json FILE]\n"
               "         [--consumer NAME] [RT options]\n"
               "       timesync-probe observe --input NAME=SPEC... --period D [--reference "
               "NAME|grid]\n"
               "         [--duration S] [--json FILE] [--svg FILE] [--edges FILE] [RT options]\n"
               "RT options: [--fifo PRIO] [--mlockall] [--prefault-stack KB] [--cpu LIST]\n"
               "SPEC: gpiod:CHIP:OFFSET[,active-low] | wire:NAME:LINE[,delay-ns=N]\n"
               "D: a duration such as 1s, 10ms, 500us (a bare number is seconds)\n",
               why.c_str());
  std::exit(2);
}

int64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until_mono(int64_t t) {
  const timespec ts{static_cast<time_t>(t / 1'000'000'000), static_cast<long>(t % 1'000'000'000)};
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

int64_t parse_duration_ns(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  const std::string unit = end ? end : "";
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1e9;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "us") scale = 1e3;
  else if (unit == "ns") scale = 1;
  if (end == v.c_str() || scale == 0 || !(x > 0) || x * scale > 3.6e12) {
    usage(flag + " '" + v + "': expected a positive duration such as 1s, 10ms or 500us");
  }
  return std::llround(x * scale);
}

long parse_long(const std::string& flag, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < lo || n > hi) {
    usage(flag + " '" + v + "': expected an integer in [" + std::to_string(lo) + ", " +
          std::to_string(hi) + "]");
  }
  return n;
}

// The value after the flag at argv[*i]; usage error if there is none.
std::string take_value(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) usage(std::string(argv[*i]) + " needs a value");
  return argv[++*i];
}

// Shared flag parsing for the RT options; true if argv[i] was one of them.
bool parse_rt(int argc, char** argv, int* i, RtOptions* rt) {
  const std::string a = argv[*i];
  auto value = [&] { return take_value(argc, argv, i); };
  if (a == "--fifo") {
    rt->fifo_priority = static_cast<int>(parse_long(a, value(), 1, 99));
  } else if (a == "--mlockall") {
    rt->lock_memory = true;
  } else if (a == "--prefault-stack") {
    rt->prefault_stack_kb = static_cast<size_t>(parse_long(a, value(), 1, 1 << 20));
  } else if (a == "--cpu") {
    const std::string err = timesync::gpio::parse_cpu_list(value(), &rt->cpus);
    if (!err.empty()) usage(err);
  } else {
    return false;
  }
  return true;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) std::fprintf(stderr, "timesync-probe: cannot write %s\n", path.c_str());
  return static_cast<bool>(f);
}

int64_t percentile(std::vector<int64_t> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// ---------------------------------------------------------------- emit

// The timeline pulses are placed on: libtimesync's segment or the raw clock.
class Timeline {
 public:
  explicit Timeline(std::string segment) : segment_(std::move(segment)) {}
  // Synchronized time now; nullopt while out of sync (or no segment yet).
  std::optional<int64_t> now() {
    if (segment_.empty()) return now_ns(CLOCK_MONOTONIC_RAW);
    if (!clock_) {
      auto c = timesync::Clock::open(segment_);
      if (!c.ok()) {
        if (!warned_) {
          std::fprintf(stderr, "timesync-probe: %s: %s; waiting for the agent\n",
                       segment_.c_str(), timesync::to_string(c.error()));
          warned_ = true;
        }
        return std::nullopt;
      }
      clock_.emplace(std::move(c).value());
    }
    const timesync::Result<timesync::SyncTime> t = clock_->get_timestamp();
    if (t.ok()) {
      failing_since_ = 0;
      return t.value().ns;
    }
    // Out of sync for a second: map the file again, in case the agent was
    // reinstalled and the segment replaced (a removed file stays mapped, and
    // says "unsynchronized" forever).
    const int64_t now = now_ns(CLOCK_MONOTONIC);
    if (failing_since_ == 0) failing_since_ = now;
    if (now - failing_since_ > 1'000'000'000) {
      clock_.reset();
      failing_since_ = 0;
    }
    return std::nullopt;
  }

 private:
  std::string segment_;
  std::optional<timesync::Clock> clock_;
  bool warned_ = false;
  int64_t failing_since_ = 0;  // CLOCK_MONOTONIC of the first failed read, 0 if none
};

constexpr int64_t kTightSpinNs = 20'000;

int emit(int argc, char** argv) {
  std::string output, segment = timesync::kDefaultSegmentPath, json, consumer = "timesync-probe";
  int64_t period = 0, width = 0, spin = 200'000, duration = 0, max_late = 0;
  long count = 0;
  RtOptions rt;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (parse_rt(argc, argv, &i, &rt)) continue;
    if (a == "--output") output = take_value(argc, argv, &i);
    else if (a == "--segment") segment = take_value(argc, argv, &i);
    else if (a == "--timeline") {
      if (take_value(argc, argv, &i) != "raw") usage("--timeline takes 'raw'");
      segment.clear();
    } else if (a == "--period") period = parse_duration_ns(a, take_value(argc, argv, &i));
    else if (a == "--width") width = parse_duration_ns(a, take_value(argc, argv, &i));
    else if (a == "--spin-us") spin = parse_long(a, take_value(argc, argv, &i), 0, 1'000'000) * 1000;
    else if (a == "--max-late-us") max_late = parse_long(a, take_value(argc, argv, &i), 1, 1'000'000) * 1000;
    else if (a == "--count") count = parse_long(a, take_value(argc, argv, &i), 1, 1L << 40);
    else if (a == "--duration") duration = parse_duration_ns(a, take_value(argc, argv, &i));
    else if (a == "--json") json = take_value(argc, argv, &i);
    else if (a == "--consumer") consumer = take_value(argc, argv, &i);
    else usage("unknown option '" + a + "'");
  }
  if (output.empty()) usage("emit needs --output SPEC");
  if (period == 0) usage("emit needs --period");
  if (width == 0) width = std::min<int64_t>(period / 2, 1'000'000);
  if (width >= period) usage("--width must be shorter than --period");
  const auto spec = timesync::gpio::parse_line_spec(output);
  if (!spec.ok()) usage(spec.error);
  auto line = timesync::gpio::open_output(spec.spec, consumer);
  if (!line.ok()) {
    std::fprintf(stderr, "timesync-probe: %s\n", line.error.c_str());
    return 1;
  }
  if (const std::string err = timesync::gpio::apply_rt(rt); !err.empty()) {
    std::fprintf(stderr, "timesync-probe: %s\n", err.c_str());
    return 1;
  }
  install_signals();
  const int policy = sched_getscheduler(0);
  const bool realtime = policy == SCHED_FIFO || policy == SCHED_RR;
  std::printf("emitting on %s every %.3f ms on %s\n", line.line->describe().c_str(),
              static_cast<double>(period) / 1e6,
              segment.empty() ? "CLOCK_MONOTONIC_RAW" : segment.c_str());
  std::fflush(stdout);

  Timeline tl(segment);
  // Per pulse: the last clock reading before the line write minus the boundary
  // (how late the spin let go), and how long the write took by the same clock.
  std::vector<int64_t> late, write;
  late.reserve(100'000);
  write.reserve(100'000);
  uint64_t unsynced_waits = 0, missed = 0, too_late = 0;
  const int64_t end = duration ? now_ns(CLOCK_MONOTONIC) + duration : 0;
  int64_t boundary = 0;
  std::string error;
  auto done = [&] {
    return g_stop.load() || (count && static_cast<long>(late.size()) >= count) ||
           (end && now_ns(CLOCK_MONOTONIC) >= end);
  };
  while (!done()) {
    std::optional<int64_t> s = tl.now();
    if (!s) {
      ++unsynced_waits;
      boundary = 0;
      sleep_until_mono(now_ns(CLOCK_MONOTONIC) + std::min<int64_t>(period, 10'000'000));
      continue;
    }
    const int64_t next = (*s / period + 1) * period;
    if (boundary == 0 || boundary > next) boundary = next;  // first, or the timeline stepped back
    if (boundary <= *s) {                                    // overslept
      missed += static_cast<uint64_t>((next - boundary) / period);
      boundary = next;
    }
    const int64_t left = boundary - *s;
    if (left > spin) {
      // Rate differences between the timelines are ppm, so re-reading after
      // the sleep lands within the spin window.
      sleep_until_mono(now_ns(CLOCK_MONOTONIC) + left - spin);
      continue;
    }
    // Under a real-time policy, yield between reads until the last few
    // microseconds: on a host with more emitters than CPUs (the test bed),
    // equal-priority spinners then take turns instead of one waiting out
    // another's whole spin. Under SCHED_OTHER a yield can cost a whole time
    // slice, so a normal task just spins.
    // Entering the last stretch, drive the line to the level it already has:
    // no edge, but the write path (code, page tables, the line's memory or
    // the driver) is warm again after the sleep. Cold, the first write took
    // 1.5-2.5 us longer on this VM.
    bool warmed = false;
    while (s && *s < boundary) {
      if (boundary - *s > kTightSpinNs) {
        if (realtime) sched_yield();
      } else if (!warmed) {
        warmed = true;
        (void)line.line->set(false);
      }
      s = tl.now();
    }
    if (!s) continue;  // went out of sync while spinning: no pulse
    if (max_late != 0 && *s - boundary > max_late) {
      // Preempted across the boundary: such a pulse would measure the
      // scheduler, not the clock.
      ++too_late;
      boundary += period;
      continue;
    }
    error = line.line->set(true);
    const std::optional<int64_t> after = tl.now();
    if (!error.empty()) break;
    late.push_back(*s - boundary);
    write.push_back((after ? *after : *s) - *s);
    // The falling edge needs no precision: sleep until it is due.
    const int64_t fall = now_ns(CLOCK_MONOTONIC) + (boundary + width - (after ? *after : *s));
    sleep_until_mono(fall);
    error = line.line->set(false);
    if (!error.empty()) break;
    boundary += period;
  }
  (void)line.line->set(false);
  if (!error.empty()) std::fprintf(stderr, "timesync-probe: %s\n", error.c_str());
  const int64_t p50 = percentile(late, 0.5), p99 = percentile(late, 0.99),
                mx = late.empty() ? 0 : *std::max_element(late.begin(), late.end());
  const int64_t w50 = percentile(write, 0.5), w99 = percentile(write, 0.99);
  std::printf("pulses %zu, missed boundaries %" PRIu64 " (woke after them), skipped as too late %" PRIu64 ", waits while out of "
              "sync %" PRIu64 ", lateness p50/p99/max %.3f/%.3f/%.3f us, line write p50/p99 "
              "%.3f/%.3f us\n",
              late.size(), missed, too_late, unsynced_waits, static_cast<double>(p50) / 1e3,
              static_cast<double>(p99) / 1e3, static_cast<double>(mx) / 1e3,
              static_cast<double>(w50) / 1e3, static_cast<double>(w99) / 1e3);
  if (!json.empty()) {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "{\"pulses\": %zu, \"missed\": %" PRIu64 ", \"too_late\": %" PRIu64
                  ", \"unsynced_waits\": %" PRIu64
                  ", \"late_p50_ns\": %" PRId64 ", \"late_p99_ns\": %" PRId64
                  ", \"late_max_ns\": %" PRId64 ", \"write_p50_ns\": %" PRId64
                  ", \"write_p99_ns\": %" PRId64 "}\n",
                  late.size(), missed, too_late, unsynced_waits, p50, p99, mx, w50, w99);
    if (!write_file(json, buf)) return 1;
  }
  return error.empty() ? 0 : 1;
}

// ---------------------------------------------------------------- observe

int observe(int argc, char** argv) {
  std::vector<std::pair<std::string, timesync::gpio::LineSpec>> inputs;
  std::string reference, json, svg, edges_path;
  int64_t period = 0, duration = 0;
  RtOptions rt;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (parse_rt(argc, argv, &i, &rt)) continue;
    if (a == "--input") {
      const std::string v = take_value(argc, argv, &i);
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 ||
          v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") < eq) {
        usage("--input takes NAME=SPEC with a NAME of letters, digits, '_', '.' or '-', got '" +
              v + "'");
      }
      const auto spec = timesync::gpio::parse_line_spec(v.substr(eq + 1));
      if (!spec.ok()) usage(spec.error);
      inputs.emplace_back(v.substr(0, eq), spec.spec);
    } else if (a == "--reference") reference = take_value(argc, argv, &i);
    else if (a == "--period") period = parse_duration_ns(a, take_value(argc, argv, &i));
    else if (a == "--duration") duration = parse_duration_ns(a, take_value(argc, argv, &i));
    else if (a == "--json") json = take_value(argc, argv, &i);
    else if (a == "--svg") svg = take_value(argc, argv, &i);
    else if (a == "--edges") edges_path = take_value(argc, argv, &i);
    else usage("unknown option '" + a + "'");
  }
  if (inputs.empty()) usage("observe needs at least one --input NAME=SPEC");
  if (period == 0) usage("observe needs --period");
  bool known = reference.empty() || reference == timesync::gpio::kGridReference;
  for (size_t i = 0; i < inputs.size(); ++i) {
    known = known || inputs[i].first == reference;
    for (size_t j = 0; j < i; ++j) {
      if (inputs[j].first == inputs[i].first) usage("input name '" + inputs[i].first + "' twice");
    }
  }
  if (!known) usage("--reference '" + reference + "' is not one of the --input names nor 'grid'");

  std::vector<std::unique_ptr<timesync::gpio::InputLine>> lines;
  for (const auto& [name, spec] : inputs) {
    auto in = timesync::gpio::open_input(spec, "timesync-probe observe " + name);
    if (!in.ok()) {
      std::fprintf(stderr, "timesync-probe: input %s: %s\n", name.c_str(), in.error.c_str());
      return 1;
    }
    if (!lines.empty() && in.line->event_clock() != lines.front()->event_clock()) {
      std::fprintf(stderr,
                   "timesync-probe: input %s stamps edges on %s but %s on %s: edges on "
                   "different clocks cannot be paired\n",
                   name.c_str(), timesync::gpio::to_string(in.line->event_clock()),
                   inputs.front().first.c_str(),
                   timesync::gpio::to_string(lines.front()->event_clock()));
      return 1;
    }
    lines.push_back(std::move(in.line));
  }
  if (const std::string err = timesync::gpio::apply_rt(rt); !err.empty()) {
    std::fprintf(stderr, "timesync-probe: %s\n", err.c_str());
    return 1;
  }
  install_signals();
  std::fprintf(stderr, "observing %zu lines, period %.3f ms\n", lines.size(),
               static_cast<double>(period) / 1e6);

  const int64_t end = duration ? now_ns(CLOCK_MONOTONIC) + duration : 0;
  std::vector<timesync::gpio::ProbeLine> seen(lines.size());
  std::vector<std::string> errors(lines.size());
  std::vector<std::thread> threads;
  for (size_t k = 0; k < lines.size(); ++k) {
    seen[k].name = inputs[k].first;
    threads.emplace_back([&, k] {
      timesync::gpio::EdgeEvent ev;
      while (!g_stop.load() && (end == 0 || now_ns(CLOCK_MONOTONIC) < end)) {
        const auto w = lines[k]->wait_edge(std::chrono::milliseconds(50), &ev, &errors[k]);
        if (w == timesync::gpio::InputLine::Wait::kError) {
          g_stop.store(true);
          return;
        }
        if (w == timesync::gpio::InputLine::Wait::kEdge && ev.edge == timesync::gpio::Edge::kRising) {
          seen[k].rising_ns.push_back(ev.timestamp_ns);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int rc = 0;
  for (size_t k = 0; k < lines.size(); ++k) {
    seen[k].lost = lines[k]->lost();
    if (!errors[k].empty()) {
      std::fprintf(stderr, "timesync-probe: input %s: %s\n", seen[k].name.c_str(),
                   errors[k].c_str());
      rc = 1;
    }
  }
  const auto report = timesync::gpio::build_report(
      seen, reference, period, timesync::gpio::to_string(lines.front()->event_clock()));
  std::fputs(timesync::gpio::render_text(report).c_str(), stdout);
  if (!json.empty() && !write_file(json, timesync::gpio::render_json(report))) rc = 1;
  if (!svg.empty() && !write_file(svg, timesync::gpio::render_svg(report))) rc = 1;
  if (!edges_path.empty()) {
    std::string out;
    for (const auto& l : seen) {
      for (int64_t t : l.rising_ns) {
        out += "{\"line\": \"" + l.name + "\", \"t\": " + std::to_string(t) + "}\n";
      }
    }
    if (!write_file(edges_path, out)) rc = 1;
  }
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("missing command");
  const std::string cmd = argv[1];
  if (cmd == "emit") return emit(argc, argv);
  if (cmd == "observe") return observe(argc, argv);
  usage("unknown command '" + cmd + "'");
}
