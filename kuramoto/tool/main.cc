// timesync-kuramoto: one peer of a masterless, pulse-coupled cyclic task
// (seed 000). Every peer runs its own process, pulses its output line once per
// cycle, timestamps the other peers' pulses on its inputs and moves its next
// wake-up by the Kuramoto update (kuramoto/include/timesync/kuramoto/update.hpp).
//
//   timesync-kuramoto --out SPEC --in SPEC [--in SPEC...] [--hz F] [--coupling K]
//                     [--drift-ppm D] [--start-phase DEG|random]
//                     [--cycles N | --duration S] [--width-us N]
//                     [--tolerance-us N] [--settle-cycles N]
//                     [--report FILE] [--json FILE] [--trace FILE] [--consumer NAME]
//                     [--fifo PRIO] [--mlockall] [--prefault-stack KB] [--cpu LIST]
//
//   timesync-kuramoto --simulate [--peers N] [--hz F] [--coupling K]
//                     [--drift-ppm D1,D2,...] [--start-phase DEG1,DEG2,...]
//                     [--cycles N] [--wake-jitter-us J] [--stamp-jitter-us J]
//                     [--visible-after-us T] [--seed S] [--tolerance-us N]
//                     [--settle-cycles N] [--json FILE] [--quiet]
//     The same peers in simulated time (simulate.hpp): no lines, no sleeping.
//     The JSON file holds one report per peer, as a list.
//
// SPEC: gpiod:CHIP:OFFSET[,active-low] or wire:NAME:LINE[,delay-ns=N].
// Exit status: 0 done (converged or not: the report says), 1 a line or RT
// option failed, 2 usage.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "peer_loop.hpp"
#include "timesync/gpio/line.hpp"
#include "timesync/gpio/rt.hpp"
#include "timesync/kuramoto/report.hpp"
#include "timesync/kuramoto/simulate.hpp"
#include "timesync/kuramoto/update.hpp"

namespace {

namespace ku = timesync::kuramoto;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "timesync-kuramoto: %s\n"
               "usage: timesync-kuramoto --out SPEC --in SPEC [--in SPEC...] [--hz F] "
               "[--coupling K]\n"
               "         [--drift-ppm D] [--start-phase DEG|random] [--cycles N | --duration S]\n"
               "         [--width-us N] [--tolerance-us N] [--settle-cycles N]\n"
               "         [--report FILE] [--json FILE] [--trace FILE] [--consumer NAME]\n"
               "         [--fifo PRIO] [--mlockall] [--prefault-stack KB] [--cpu LIST]\n"
               "       timesync-kuramoto --simulate [--peers N] [--hz F] [--coupling K]\n"
               "         [--drift-ppm D1,D2,...] [--start-phase DEG1,DEG2,...] [--cycles N]\n"
               "         [--wake-jitter-us J] [--stamp-jitter-us J] [--visible-after-us T]\n"
               "         [--seed S] [--tolerance-us N] [--settle-cycles N] [--json FILE] "
               "[--quiet]\n"
               "F in [1, 500] Hz (default 100); K in [0, 2) (default 0.5)\n"
               "SPEC: gpiod:CHIP:OFFSET[,active-low] | wire:NAME:LINE[,delay-ns=N]\n",
               why.c_str());
  std::exit(2);
}

std::string take_value(int argc, char** argv, int* i) {
  if (*i + 1 >= argc) usage(std::string(argv[*i]) + " needs a value");
  return argv[++*i];
}

std::string range_text(double lo, double hi, bool hi_open) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "[%g, %g%s", lo, hi, hi_open ? ")" : "]");
  return buf;
}

double parse_double(const std::string& flag, const std::string& v, double lo, double hi,
                    bool hi_open = false) {
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(x) || x < lo || x > hi ||
      (hi_open && x >= hi)) {
    usage(flag + " '" + v + "': expected a number in " + range_text(lo, hi, hi_open));
  }
  return x;
}

uint64_t parse_count(const std::string& flag, const std::string& v, uint64_t lo, uint64_t hi) {
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || v[0] == '-' || end == v.c_str() || *end != '\0' || n < lo || n > hi) {
    usage(flag + " '" + v + "': expected an integer in [" + std::to_string(lo) + ", " +
          std::to_string(hi) + "]");
  }
  return n;
}

std::vector<double> parse_list(const std::string& flag, const std::string& v, double lo,
                               double hi) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    const size_t comma = v.find(',', pos);
    out.push_back(parse_double(flag, v.substr(pos, comma - pos), lo, hi));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.close();
  if (!f) std::fprintf(stderr, "timesync-kuramoto: cannot write %s\n", path.c_str());
  return static_cast<bool>(f);
}

struct Options {
  bool simulate = false;
  std::string out, report, json, trace, consumer = "timesync-kuramoto";
  std::vector<std::string> ins;
  double hz = 100, coupling = 0.5;
  std::vector<double> drift_ppm{0}, start_phase_deg{0};
  bool random_phase = false;
  uint64_t cycles = 0, peers = 2, seed = 0, settle = 5;
  double duration_s = 0, width_us = 0, tolerance_us = 0;
  double wake_jitter_us = 0, stamp_jitter_us = 0, visible_after_us = 0;
  bool seed_given = false, quiet = false;
  timesync::gpio::RtOptions rt;
};

Options parse(int argc, char** argv) {
  Options o;
  bool drift_list = false, phase_list = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&] { return take_value(argc, argv, &i); };
    if (a == "--simulate") o.simulate = true;
    else if (a == "--out") o.out = value();
    else if (a == "--in") o.ins.push_back(value());
    else if (a == "--hz") o.hz = parse_double(a, value(), ku::kMinHz, ku::kMaxHz);
    else if (a == "--coupling") o.coupling = parse_double(a, value(), 0, ku::kMaxCoupling, true);
    else if (a == "--drift-ppm") {
      o.drift_ppm = parse_list(a, value(), -10000, 10000);
      drift_list = o.drift_ppm.size() > 1;
    } else if (a == "--start-phase") {
      const std::string v = value();
      if (v == "random") {
        o.random_phase = true;
      } else {
        o.start_phase_deg = parse_list(a, v, -360, 360);
        phase_list = o.start_phase_deg.size() > 1;
      }
    } else if (a == "--cycles") o.cycles = parse_count(a, value(), 1, 100'000'000);
    else if (a == "--duration") o.duration_s = parse_double(a, value(), 0.001, 30 * 86400.0);
    else if (a == "--width-us") o.width_us = parse_double(a, value(), 1, 500'000);
    else if (a == "--tolerance-us") o.tolerance_us = parse_double(a, value(), 0.001, 500'000);
    else if (a == "--settle-cycles") o.settle = parse_count(a, value(), 1, 1'000'000);
    else if (a == "--report") o.report = value();
    else if (a == "--json") o.json = value();
    else if (a == "--trace") o.trace = value();
    else if (a == "--consumer") o.consumer = value();
    else if (a == "--peers") o.peers = parse_count(a, value(), 2, 64);
    else if (a == "--wake-jitter-us") o.wake_jitter_us = parse_double(a, value(), 0, 1e6);
    else if (a == "--stamp-jitter-us") o.stamp_jitter_us = parse_double(a, value(), 0, 1e6);
    else if (a == "--visible-after-us") o.visible_after_us = parse_double(a, value(), 0, 1e6);
    else if (a == "--seed") {
      o.seed = parse_count(a, value(), 0, UINT64_MAX);
      o.seed_given = true;
    } else if (a == "--quiet") o.quiet = true;
    else if (a == "--fifo") o.rt.fifo_priority = static_cast<int>(parse_count(a, value(), 1, 99));
    else if (a == "--mlockall") o.rt.lock_memory = true;
    else if (a == "--prefault-stack") {
      o.rt.prefault_stack_kb = static_cast<size_t>(parse_count(a, value(), 1, 1 << 20));
    } else if (a == "--cpu") {
      const std::string err = timesync::gpio::parse_cpu_list(value(), &o.rt.cpus);
      if (!err.empty()) usage("--cpu: " + err);
    } else usage("unknown option '" + a + "'");
  }
  const double period_us = 1e6 / o.hz;
  if (o.cycles && o.duration_s > 0) usage("--cycles and --duration exclude each other");
  if (o.duration_s > 0) o.cycles = static_cast<uint64_t>(std::ceil(o.duration_s * o.hz));
  if (o.tolerance_us == 0) o.tolerance_us = period_us / 20;
  if (o.tolerance_us >= period_us / 2) {
    usage("--tolerance-us must be below half the period (" + std::to_string(period_us / 2) +
          " us at --hz " + std::to_string(o.hz) + ")");
  }
  if (o.width_us == 0) o.width_us = std::min(period_us / 2, 1000.0);
  if (o.width_us >= period_us) usage("--width-us must be shorter than the period");
  if (o.simulate) {
    if (!o.out.empty() || !o.ins.empty()) usage("--simulate drives no lines: drop --out/--in");
    if (o.cycles == 0) o.cycles = 1000;
    for (auto* list : {&o.drift_ppm, &o.start_phase_deg}) {
      const char* flag = list == &o.drift_ppm ? "--drift-ppm" : "--start-phase";
      if (list->size() == 1) list->assign(o.peers, list->front());
      if (list->size() != o.peers) {
        usage(std::string(flag) + " lists " + std::to_string(list->size()) +
              " values for --peers " + std::to_string(o.peers));
      }
    }
  } else {
    if (drift_list) usage("--drift-ppm takes one value for a real peer (a list with --simulate)");
    if (phase_list) usage("--start-phase takes one value for a real peer (a list with --simulate)");
    if (o.out.empty()) usage("needs --out SPEC (the line this peer pulses)");
    if (o.ins.empty()) usage("needs at least one --in SPEC (a peer's line)");
  }
  return o;
}

int run_simulation(Options& o) {
  ku::SimParams p;
  p.hz = o.hz;
  p.coupling = o.coupling;
  p.cycles = o.cycles;
  p.wake_jitter_ns = o.wake_jitter_us * 1e3;
  p.stamp_jitter_ns = o.stamp_jitter_us * 1e3;
  p.visible_after_ns = std::llround(o.visible_after_us * 1e3);
  if (!o.seed_given) o.seed = std::random_device{}();
  p.seed = o.seed;
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> phase(-180, 180);
  for (uint64_t i = 0; i < o.peers; ++i) {
    p.peers.push_back({o.drift_ppm[i], o.random_phase ? phase(rng) : o.start_phase_deg[i]});
  }
  if (const std::string e = ku::sim_params_error(p); !e.empty()) usage(e);
  const auto logs = ku::simulate(p);
  const auto tol = std::llround(o.tolerance_us * 1e3);
  std::string json = "[";
  uint64_t worst = 0;
  bool all = true;
  for (size_t i = 0; i < logs.size(); ++i) {
    const ku::Report r = ku::build_report(logs[i], tol, static_cast<unsigned>(o.settle));
    if (!o.quiet) {
      std::printf("== simulated peer%zu (start phase %+.1f deg)\n%s", i, p.peers[i].start_phase_deg,
                  ku::render_text(r).c_str());
    }
    json += (i ? ", " : "") + ku::render_json(r);
    all = all && r.cycles_to_converge.has_value();
    if (r.cycles_to_converge) worst = std::max(worst, *r.cycles_to_converge);
  }
  json += "]\n";
  std::printf("simulation seed %llu: %s\n", static_cast<unsigned long long>(o.seed),
              all ? ("every peer converged within " + std::to_string(worst) + " cycles").c_str()
                  : "NOT every peer converged");
  if (!o.json.empty() && !write_file(o.json, json)) return 1;
  return 0;
}

int run_real(Options& o) {
  const auto out_spec = timesync::gpio::parse_line_spec(o.out);
  if (!out_spec.ok()) usage("--out: " + out_spec.error);
  auto out = timesync::gpio::open_output(out_spec.spec, o.consumer);
  if (!out.ok()) {
    std::fprintf(stderr, "timesync-kuramoto: --out %s: %s\n", o.out.c_str(), out.error.c_str());
    return 1;
  }
  std::vector<std::unique_ptr<timesync::gpio::InputLine>> ins;
  for (const std::string& s : o.ins) {
    const auto spec = timesync::gpio::parse_line_spec(s);
    if (!spec.ok()) usage("--in: " + spec.error);
    auto in = timesync::gpio::open_input(spec.spec, o.consumer);
    if (!in.ok()) {
      std::fprintf(stderr, "timesync-kuramoto: --in %s: %s\n", s.c_str(), in.error.c_str());
      return 1;
    }
    if (!ins.empty() && in.line->event_clock() != ins.front()->event_clock()) {
      std::fprintf(stderr,
                   "timesync-kuramoto: --in %s stamps edges on %s but --in %s on %s: one peer "
                   "needs all its inputs on one clock\n",
                   s.c_str(), timesync::gpio::to_string(in.line->event_clock()),
                   o.ins.front().c_str(), timesync::gpio::to_string(ins.front()->event_clock()));
      return 1;
    }
    ins.push_back(std::move(in.line));
  }
  if (const std::string err = timesync::gpio::apply_rt(o.rt); !err.empty()) {
    std::fprintf(stderr, "timesync-kuramoto: %s\n", err.c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: sleeps return EINTR and the loop checks
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  ku::LoopOptions lo;
  lo.coupling = {o.hz, o.coupling, static_cast<int>(ins.size()) + 1};
  lo.drift_ppm = o.drift_ppm.front();
  lo.start_phase_deg = o.start_phase_deg.front();
  if (o.random_phase) {
    std::mt19937_64 rng(std::random_device{}());
    lo.start_phase_deg = std::uniform_real_distribution<double>(0, 360)(rng);
  }
  lo.cycles = o.cycles;
  lo.width_ns = std::llround(o.width_us * 1e3);
  lo.fifo_priority = o.rt.fifo_priority;
  std::printf("kuramoto peer on %s: %g Hz, K %g, N %zu, drift %+g ppm, start phase %.1f deg, %s\n",
              out.line->describe().c_str(), o.hz, o.coupling, ins.size() + 1, lo.drift_ppm,
              lo.start_phase_deg,
              o.cycles ? (std::to_string(o.cycles) + " cycles").c_str() : "until SIGINT/SIGTERM");
  std::fflush(stdout);

  const ku::LoopResult res = ku::run_peer(*out.line, ins, o.ins, lo, g_stop);
  const ku::Report r =
      ku::build_report(res.log, std::llround(o.tolerance_us * 1e3), static_cast<unsigned>(o.settle));
  const std::string text = ku::render_text(r);
  std::fputs(text.c_str(), stdout);
  int rc = 0;
  if (!res.error.empty()) {
    std::fprintf(stderr, "timesync-kuramoto: %s\n", res.error.c_str());
    rc = 1;
  }
  if (!o.report.empty() && !write_file(o.report, text)) rc = 1;
  if (!o.json.empty() && !write_file(o.json, ku::render_json(r))) rc = 1;
  if (!o.trace.empty() && !write_file(o.trace, ku::render_trace_csv(res.log))) rc = 1;
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  return o.simulate ? run_simulation(o) : run_real(o);
}
