// timesync-truth-monitor: the test bed's and the demo's instrument (not
// installed). It reads agents' segments through libtimesync exactly as an
// application does and sets every served reading beside the exact truth: the
// master's timeline at the reading's own host CLOCK_MONOTONIC_RAW instant.
//
//   timesync-truth-monitor [TARGET...] [--target ADDR]... [--segment PATH]...
//       [--duration-s S] [--sample-us N] [--interval-ms MS] [--settle-s S]
//       [--truth-master-config FILE --sim-origin-ns N]
//       [--json FILE] [--trace FILE] [--trace-ms MS]
//       [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]
//
// TARGET: an agent's AgentService (host:port). Its segment is learnt from its
// status; one status line per agent per --interval-ms (offset, frequency,
// bound, state, true error) goes to stdout and, with --trace, to the trace.
// --segment PATH: a segment read directly, no gRPC. It may not exist yet: it
// is opened again every sample until it does, so the monitor can start before
// the agents and count every reading they ever serve.
//
// Truth: without --truth-master-config the master serves this host's
// CLOCK_MONOTONIC_RAW (timebase monotonic), so a reading's true time is its
// `local` raw instant. With it, the master's simulated clock is rebuilt from
// its YAML and the shared --sim-origin-ns.
//
// Every --sample-us (default 1000) each watched segment is read once; a
// served reading whose |true error| exceeds its bound is "outside the bound".
// A sample is one libtimesync read per segment and allocates nothing (|error|
// percentiles come from a fixed log histogram, 0.8 %); only the status lines,
// every --interval-ms, do (gRPC, strings).
//
// Output: the summary on stdout; --json FILE: {"agents": [per TARGET],
// "segments": [per --segment], "cpu_s": its own CPU time} with readings served, outside the bound, the
// worst |error|/bound ratio and |error|, the mean bound, and refused readings
// per libtimesync error code; --trace FILE: JSON lines, readings every
// --trace-ms ("k":"r", "a" target index or "seg" segment index) and status
// lines ("k":"s").
//
// Exit: 0; 1 some reading was outside its bound (or an output file could not
// be written); 64 usage.
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "timesync/clock.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/daemon/tls.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::lab {
namespace {

constexpr int kExitUsage = 64;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Args {
  std::vector<std::string> targets;
  std::vector<std::string> segments;
  double duration_s = 0;
  int64_t sample_ns = 1'000'000;
  int interval_ms = 1000;
  double settle_s = 0;
  std::string truth_config;
  int64_t sim_origin_ns = -1;
  std::string json_path, trace_path;
  int trace_ms = 20;
  config::ClientTls tls;
};

[[noreturn]] void usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "timesync-truth-monitor: %s\n", why);
  std::fprintf(why != nullptr ? stderr : stdout,
               "usage: timesync-truth-monitor [TARGET...] [--target ADDR]... [--segment PATH]...\n"
               "           [--duration-s S] [--sample-us N] [--interval-ms MS] [--settle-s S]\n"
               "           [--truth-master-config FILE --sim-origin-ns N]\n"
               "           [--json FILE] [--trace FILE] [--trace-ms MS]\n"
               "           [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]\n"
               "TARGET is an agent's host:port; --segment reads a segment directly (retried until "
               "it exists).\nWithout --truth-master-config the master serves this host's "
               "CLOCK_MONOTONIC_RAW.\nExit: 0 ok, 1 a reading outside its bound, 64 usage.\n");
  std::exit(why != nullptr ? kExitUsage : 0);
}

double num(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(d) || d < 0) {
    usage(("bad value for " + flag + ": '" + v + "'").c_str());
  }
  return d;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + f).c_str());
      return argv[++i];
    };
    if (f == "-h" || f == "--help") usage(nullptr);
    else if (!f.empty() && f[0] != '-') a.targets.push_back(f);
    else if (f == "--target") a.targets.push_back(v());
    else if (f == "--segment") a.segments.push_back(v());
    else if (f == "--duration-s") a.duration_s = num(f, v());
    else if (f == "--sample-us") {
      const double us = num(f, v());
      if (us < 10 || us > 1e7) usage("--sample-us must be 10 to 10000000");
      a.sample_ns = static_cast<int64_t>(us * 1e3);
    }
    else if (f == "--interval-ms") a.interval_ms = std::max(10, static_cast<int>(num(f, v())));
    else if (f == "--settle-s") a.settle_s = num(f, v());
    else if (f == "--truth-master-config") a.truth_config = v();
    else if (f == "--json") a.json_path = v();
    else if (f == "--trace") a.trace_path = v();
    else if (f == "--trace-ms") a.trace_ms = std::max(1, static_cast<int>(num(f, v())));
    else if (f == "--ca") a.tls.ca_file = v();
    else if (f == "--cert") a.tls.cert_file = v();
    else if (f == "--key") a.tls.key_file = v();
    else if (f == "--server-name") a.tls.server_name = v();
    else if (f == "--sim-origin-ns") {
      const std::string t = v();
      if (!daemon::parse_ns(t, &a.sim_origin_ns)) {
        usage(("bad value for --sim-origin-ns: '" + t + "'").c_str());
      }
    } else {
      usage(("unknown option '" + f + "'").c_str());
    }
  }
  if (a.targets.empty() && a.segments.empty()) usage("nothing to watch: give TARGETs or --segment");
  if (!a.truth_config.empty() && a.sim_origin_ns < 0) {
    usage("--truth-master-config needs --sim-origin-ns (the origin the master was started with)");
  }
  if (a.tls.ca_file.empty() && (!a.tls.cert_file.empty() || !a.tls.server_name.empty())) {
    usage("--cert and --server-name need --ca");
  }
  if (a.tls.cert_file.empty() != a.tls.key_file.empty()) usage("--cert and --key go together");
  return a;
}

// JSON has no NaN; a statistic without data is null.
std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[48];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

std::string jstr(const std::string& v) {
  std::string o = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o + "\"";
}

const char* state_name(v1::SyncState s) {
  switch (s) {
    case v1::SYNC_STATE_SYNCHRONIZED: return "synchronized";
    case v1::SYNC_STATE_HOLDOVER: return "holdover";
    case v1::SYNC_STATE_UNSYNCHRONIZED: return "unsynchronized";
    default: return "unknown";
  }
}

// The libtimesync error codes by their C names, as the JSON counts them.
constexpr int kErrorCodes = TS_E_INTERRUPTED + 1;
const char* error_code_name(int e) {
  static const char* const kNames[kErrorCodes] = {
      "TS_OK", "TS_E_INVALID_ARGUMENT", "TS_E_NO_SEGMENT", "TS_E_PERMISSION", "TS_E_IO",
      "TS_E_TRUNCATED", "TS_E_BAD_MAGIC", "TS_E_BAD_VERSION", "TS_E_SIZE_MISMATCH",
      "TS_E_NOT_INITIALIZED", "TS_E_BUSY", "TS_E_CORRUPT", "TS_E_NOT_SYNCHRONIZED", "TS_E_STALE",
      "TS_E_BOUND_EXCEEDED", "TS_E_CLOCK", "TS_E_WRITER_EXISTS", "TS_E_NO_MEMORY",
      "TS_E_EPOCH_CHANGED", "TS_E_INTERRUPTED"};
  return e >= 0 && e < kErrorCodes ? kNames[e] : "TS_E_UNKNOWN";
}
int error_index(Error e) {
  const int i = static_cast<int>(e);
  return i >= 0 && i < kErrorCodes ? i : 0;
}

// |error| in ns, counted in log-linear buckets: exact below 128 ns, then 128
// buckets per power of two (relative width < 0.8 %). Fixed size: the sampling
// loop never allocates.
class AbsErrHistogram {
 public:
  void add(double abs_ns) {
    const uint64_t v = abs_ns >= 9.2e18 ? UINT64_MAX : static_cast<uint64_t>(abs_ns);
    ++counts_[index(v)];
    ++n_;
  }
  uint64_t count() const { return n_; }
  // The value of rank floor(p (n - 1)) (the test bed's percentile), to the
  // middle of its bucket; NaN when empty.
  double percentile(double p) const {
    if (n_ == 0) return NAN;
    const uint64_t rank = static_cast<uint64_t>(p * static_cast<double>(n_ - 1));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return middle(i);
    }
    return middle(counts_.size() - 1);
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;
  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    const int e = 63 - __builtin_clzll(v);  // >= kSubBits
    const uint64_t sub = (v >> (e - kSubBits)) - kSub;
    return static_cast<size_t>(kSub + static_cast<uint64_t>(e - kSubBits) * kSub + sub);
  }
  static double middle(size_t i) {
    if (i < kSub) return static_cast<double>(i);
    const uint64_t e = (i - kSub) / kSub + kSubBits;
    const uint64_t sub = (i - kSub) % kSub;
    const double width = std::ldexp(1.0, static_cast<int>(e - kSubBits));
    return (static_cast<double>(kSub + sub) + 0.5) * width;
  }
  std::array<uint64_t, kSub + (64 - kSubBits) * kSub> counts_{};
  uint64_t n_ = 0;
};

// One watched segment: a TARGET's (learnt from its status) or a --segment.
struct Watched {
  std::string target;   // empty for --segment
  std::string segment;  // the path being read
  std::optional<Clock> clock;
  AbsErrHistogram settled_abs_err;  // served readings after settling
  double settled_max_ns = NAN;
  double settled_bound_sum_ns = 0;
  int64_t first_ok_ns = -1;
  uint64_t reads = 0, ok = 0, violations = 0;
  std::array<uint64_t, kErrorCodes> refused{};
  double worst_excess_ns = 0;
  double worst_ratio = NAN, worst_abs_err_ns = NAN;
  int64_t worst_ratio_ns = -1, first_outside_ns = -1;
  double bound_sum_ns = 0;  // over every served reading
  // From the agent's status (targets only).
  v1::AgentStatus last;
  bool have_first = false;
  // Exchanges seen since the first status line; survives an agent restart
  // (its counters start again from zero).
  double exchanges = 0, prev_counter = 0;
  int64_t first_status_ns = 0, last_status_ns = 0;
  int64_t next_trace_ns = 0;
};

// The master's true frequency against the agent's local clock, in ppm: what
// the agent's frequency estimate should read.
double true_freq_ppm(const TimeSource& truth, const v1::AgentStatus& s) {
  const double m = truth.rate_vs_host_ppb(host_raw_now_ns()) * 1e-9;
  const double l = s.local_rate_ppm() * 1e-6;
  return ((1 + m) / (1 + l) - 1) * 1e6;
}

FILE* open_output(const std::string& path) {
  if (path.empty()) return nullptr;
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "timesync-truth-monitor: cannot write %s: %s\n", path.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  return f;
}

std::shared_ptr<grpc::Channel> channel(const Args& a, const std::string& target) {
  std::string why;
  std::shared_ptr<grpc::ChannelCredentials> creds = daemon::channel_credentials(a.tls, &why);
  if (creds == nullptr) {
    std::fprintf(stderr, "timesync-truth-monitor: %s\n", why.c_str());
    std::exit(1);
  }
  grpc::ChannelArguments args;
  daemon::add_tls_channel_args(a.tls, &args);
  return grpc::CreateCustomChannel(target, creds, args);
}

bool agent_status(const Args& a, const std::string& target, v1::AgentStatus* out,
                  grpc::Status* st) {
  auto stub = v1::AgentService::NewStub(channel(a, target));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  *st = stub->GetAgentStatus(&ctx, v1::GetAgentStatusRequest{}, out);
  return st->ok();
}

double secs(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// One reading of x, set beside the truth. `index` names it in the trace.
void sample(Watched& x, const TimeSource& truth, const Args& a, int64_t start, FILE* trace,
            size_t index) {
  if (!x.clock) {
    // A --segment that does not exist yet (or a target's not yet learnt).
    if (x.segment.empty()) return;
    Result<Clock> c = Clock::open(x.segment);
    if (!c.ok()) {
      ++x.reads;  // a reader that cannot open the segment gets no time either
      ++x.refused[error_index(c.error())];
      return;
    }
    x.clock.emplace(std::move(c.value()));
  }
  // A reader on the counter path (counter.hpp) reports the counter map's
  // estimate of the raw instant; the true one lies between two raw reads
  // around the reading, so the truth is taken there (the same instant on
  // the clock_gettime path, where local always lies between them).
  const int64_t before = host_raw_now_ns();
  const TimestampWithError r = x.clock->get_timestamp_with_error();
  const int64_t after = host_raw_now_ns();
  ++x.reads;
  if (!r.ok()) {
    ++x.refused[error_index(r.error)];
    return;
  }
  ++x.ok;
  const int64_t instant = std::clamp(r.local.ns, before, after);
  const double err = static_cast<double>(r.time.ns - truth.from_host_raw_ns(instant));
  const double abs_err = std::fabs(err);
  const double bound = static_cast<double>(r.bound_ns);
  x.bound_sum_ns += bound;
  if (!(abs_err <= x.worst_abs_err_ns)) x.worst_abs_err_ns = abs_err;
  const double ratio = abs_err / std::max(bound, 1.0);
  if (!(ratio <= x.worst_ratio)) {
    x.worst_ratio = ratio;
    x.worst_ratio_ns = r.local.ns;
  }
  if (x.first_ok_ns < 0) x.first_ok_ns = r.local.ns;
  if (static_cast<double>(r.local.ns - x.first_ok_ns) >= a.settle_s * 1e9) {
    x.settled_abs_err.add(abs_err);
    if (!(abs_err <= x.settled_max_ns)) x.settled_max_ns = abs_err;
    x.settled_bound_sum_ns += bound;
  }
  if (trace != nullptr && r.local.ns >= x.next_trace_ns) {
    x.next_trace_ns = r.local.ns + int64_t{a.trace_ms} * 1'000'000;
    std::fprintf(trace, "{\"k\":\"r\",\"t\":%.6f,\"%s\":%zu,\"e\":%.0f,\"b\":%" PRIu64 "}\n",
                 secs(r.local.ns - start), x.target.empty() ? "seg" : "a", index, err, r.bound_ns);
  }
  if (abs_err > bound) {
    ++x.violations;
    if (x.first_outside_ns < 0) x.first_outside_ns = r.local.ns;
    x.worst_excess_ns = std::max(x.worst_excess_ns, abs_err - bound);
  }
}

// One status line for a target: the agent's view (gRPC) and the true error now.
void status_line(Watched& x, const TimeSource& truth, const Args& a, int64_t start, int64_t now,
                 FILE* trace, size_t index) {
  grpc::Status st;
  if (!agent_status(a, x.target, &x.last, &st)) {
    if (trace != nullptr) {
      std::fprintf(trace, "{\"k\":\"s\",\"t\":%.4f,\"a\":%zu,\"state\":\"unreachable\"}\n",
                   secs(now - start), index);
    }
    std::printf("%-8.1f %-22s unreachable: %s\n", secs(now - start), x.target.c_str(),
                st.error_message().c_str());
    return;
  }
  if (!x.clock || x.segment != x.last.segment()) {
    Result<Clock> c = Clock::open(x.last.segment());
    if (c.ok()) {
      x.clock.emplace(std::move(c.value()));
      x.segment = x.last.segment();
    }
  }
  char true_col[48] = "";
  if (x.clock) {
    const TimestampWithError r = x.clock->get_timestamp_with_error();
    if (r.ok()) {
      std::snprintf(true_col, sizeof true_col, "%+11.3f",
                    static_cast<double>(r.time.ns - truth.from_host_raw_ns(r.local.ns)) / 1e3);
    } else {
      std::snprintf(true_col, sizeof true_col, "%11s", "-");
    }
  }
  const double counter = static_cast<double>(x.last.samples_accepted() +
                                             x.last.samples_rejected() + x.last.rpc_failures());
  if (!x.have_first) {
    x.have_first = true;
    x.first_status_ns = now;
  } else {
    x.exchanges += counter >= x.prev_counter ? counter - x.prev_counter : counter;
  }
  x.prev_counter = counter;
  x.last_status_ns = now;
  const std::string status =
      std::string(state_name(x.last.state())) + (x.last.alarm_active() ? " ALARM" : "");
  if (trace != nullptr) {
    std::fprintf(trace,
                 "{\"k\":\"s\",\"t\":%.4f,\"a\":%zu,\"state\":\"%s\",\"alarm\":%s,"
                 "\"poll\":%.4f,\"freq\":%.6f,\"freq_truth\":%s,\"bound\":%" PRIu64 "}\n",
                 secs(now - start), index, state_name(x.last.state()),
                 x.last.alarm_active() ? "true" : "false", x.last.poll_interval_s(),
                 x.last.freq_ppm(), jnum(true_freq_ppm(truth, x.last)).c_str(), x.last.bound_ns());
  }
  std::printf("%-8.1f %-22s %9.3f %+15.3f %+11.4f %12.3f %-14s %s\n", secs(now - start),
              (x.last.agent_id() + "@" + x.target).substr(0, 22).c_str(),
              x.last.poll_interval_s(), static_cast<double>(x.last.last_offset_ns()) / 1e3,
              x.last.freq_ppm(), static_cast<double>(x.last.bound_ns()) / 1e3, status.c_str(),
              true_col);
}

// A status line for a --segment: what a reader sees now, no gRPC.
void segment_line(const Watched& x, const TimeSource& truth, int64_t start, int64_t now) {
  const std::string name = x.segment.substr(x.segment.rfind('/') + 1).substr(0, 22);
  if (!x.clock) {
    std::printf("%-8.1f %-22s %9s %15s %11s %12s %-14s\n", secs(now - start), name.c_str(), "-", "-",
                "-", "-", "no segment");
    return;
  }
  const TimestampWithError r = x.clock->get_timestamp_with_error();
  if (!r.ok()) {
    std::printf("%-8.1f %-22s %9s %15s %11s %12s %-14s %11s\n", secs(now - start), name.c_str(),
                "-", "-", "-", "-", to_string(r.error), "-");
    return;
  }
  std::printf("%-8.1f %-22s %9s %15s %11s %12.3f %-14s %+11.3f\n", secs(now - start), name.c_str(),
              "-", "-", "-", static_cast<double>(r.bound_ns) / 1e3, to_string(r.status),
              static_cast<double>(r.time.ns - truth.from_host_raw_ns(r.local.ns)) / 1e3);
}

// The reading counts every watched segment shares, as JSON members.
std::string reading_json(const Watched& x, int64_t start) {
  const double settled = static_cast<double>(x.settled_abs_err.count());
  const auto at = [&](int64_t ns) { return jnum(ns < 0 ? NAN : secs(ns - start)); };
  std::string refused = "{";
  for (int e = 1; e < kErrorCodes; ++e) {
    if (x.refused[e] == 0) continue;
    if (refused.size() > 1) refused += ",";
    refused += jstr(error_code_name(e)) + ":" + std::to_string(x.refused[e]);
  }
  refused += "}";
  std::string o;
  o += "\"first_served_s\":" + at(x.first_ok_ns);
  o += ",\"reads\":" + std::to_string(x.reads) + ",\"served\":" + std::to_string(x.ok);
  o += ",\"violations\":" + std::to_string(x.violations);
  o += ",\"worst_excess_ns\":" + jnum(x.worst_excess_ns);
  o += ",\"first_outside_s\":" + at(x.first_outside_ns);
  o += ",\"worst_ratio\":" + jnum(x.worst_ratio) + ",\"worst_ratio_s\":" + at(x.worst_ratio_ns);
  o += ",\"worst_abs_err_ns\":" + jnum(x.worst_abs_err_ns);
  o += ",\"mean_bound_all_ns\":" + jnum(x.ok > 0 ? x.bound_sum_ns / static_cast<double>(x.ok) : NAN);
  o += ",\"refused\":" + refused;
  o += ",\"settled_readings\":" + std::to_string(x.settled_abs_err.count());
  o += ",\"abs_err_p50_ns\":" + jnum(x.settled_abs_err.percentile(0.5));
  o += ",\"abs_err_p99_ns\":" + jnum(x.settled_abs_err.percentile(0.99));
  o += ",\"abs_err_max_ns\":" + jnum(x.settled_max_ns);
  o += ",\"mean_bound_ns\":" + jnum(settled > 0 ? x.settled_bound_sum_ns / settled : NAN);
  return o;
}

}  // namespace

int run(const Args& a) {
  std::unique_ptr<TimeSource> truth = make_monotonic_raw_source();
  if (!a.truth_config.empty()) {
    config::Loaded<config::MasterConfig> m = config::load_master(a.truth_config);
    if (!m.ok()) {
      std::fprintf(stderr, "timesync-truth-monitor: %s\n", m.error.c_str());
      return kExitUsage;
    }
    if (m.value->timebase != config::Timebase::kMonotonic && !m.value->sim_clock.enabled) {
      std::fprintf(stderr, "timesync-truth-monitor: %s: the truth needs a monotonic or simulated master\n",
                   a.truth_config.c_str());
      return kExitUsage;
    }
    truth = daemon::make_time_source(m.value->sim_clock, a.sim_origin_ns);
  }
  FILE* trace = open_output(a.trace_path);
  FILE* json = open_output(a.json_path);
  // Targets first, then segments; the vector never grows after this.
  std::vector<Watched> w(a.targets.size() + a.segments.size());
  for (size_t i = 0; i < a.targets.size(); ++i) w[i].target = a.targets[i];
  for (size_t i = 0; i < a.segments.size(); ++i) w[a.targets.size() + i].segment = a.segments[i];
  const size_t nt = a.targets.size();
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const int64_t start = host_raw_now_ns();
  const int64_t end = a.duration_s > 0 ? start + static_cast<int64_t>(a.duration_s * 1e9) : INT64_MAX;
  std::printf("%-8s %-22s %9s %15s %11s %12s %-14s %11s\n", "t [s]", "agent", "poll [s]",
              "offset [us]", "freq [ppm]", "bound [us]", "status", "true [us]");
  std::fflush(stdout);
  int64_t next_line = start, next_sample = start;
  while (g_stop == 0 && host_raw_now_ns() < end) {
    for (size_t i = 0; i < w.size(); ++i) sample(w[i], *truth, a, start, trace, i < nt ? i : i - nt);
    int64_t now = host_raw_now_ns();
    if (now >= next_line) {
      next_line += int64_t{a.interval_ms} * 1'000'000;
      for (size_t i = 0; i < w.size(); ++i) {
        if (i < nt) status_line(w[i], *truth, a, start, now, trace, i);
        else segment_line(w[i], *truth, start, now);
      }
      std::fflush(stdout);
      now = host_raw_now_ns();
    }
    // A fixed sampling grid; after a stall (CPU starved) carry on from now
    // rather than catching up in a burst.
    next_sample += a.sample_ns;
    if (next_sample < now) next_sample = now;
    const int64_t wait = std::min(next_sample, end) - now;
    if (wait > 0) {
      struct timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      nanosleep(&ts, nullptr);
    }
  }
  int rc = 0;
  const double span_s = secs(host_raw_now_ns() - start);
  std::printf("\nsummary over %.1f s:\n", span_s);
  // start_raw_ns: the host CLOCK_MONOTONIC_RAW instant trace times count from;
  // cpu_s: this monitor's own CPU time (user + system), what sampling cost.
  if (json != nullptr) {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double cpu_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    std::fprintf(json,
                 "{\"duration_s\":%s,\"settle_s\":%s,\"sample_us\":%s,\"cpu_s\":%s,"
                 "\"start_raw_ns\":%" PRId64 ",\"agents\":[",
                 jnum(span_s).c_str(), jnum(a.settle_s).c_str(),
                 jnum(static_cast<double>(a.sample_ns) / 1e3).c_str(), jnum(cpu_s).c_str(), start);
  }
  for (size_t i = 0; i < w.size(); ++i) {
    const Watched& x = w[i];
    if (json != nullptr) {
      if (i == nt) std::fprintf(json, "],\"segments\":[");
      const bool first = i == 0 || i == nt;
      if (i < nt) {
        const double status_span_s = secs(x.last_status_ns - x.first_status_ns);
        std::fprintf(
            json,
            "%s{\"target\":%s,\"agent_id\":%s,\"segment\":%s,\"time_to_sync_s\":%s,%s,"
            "\"polls_per_s\":%s,\"samples_accepted\":%" PRIu64 ",\"samples_rejected\":%" PRIu64
            ",\"rpc_failures\":%" PRIu64 ",\"freq_ppm\":%s,\"freq_truth_ppm\":%s,\"state\":%s}",
            first ? "" : ",", jstr(x.target).c_str(), jstr(x.last.agent_id()).c_str(),
            jstr(x.segment).c_str(),
            jnum(x.have_first && x.last.time_to_sync_s() >= 0 ? x.last.time_to_sync_s() : NAN).c_str(),
            reading_json(x, start).c_str(),
            jnum(status_span_s > 0 ? x.exchanges / status_span_s : NAN).c_str(),
            x.last.samples_accepted(), x.last.samples_rejected(), x.last.rpc_failures(),
            jnum(x.have_first ? x.last.freq_ppm() : NAN).c_str(),
            jnum(x.have_first ? true_freq_ppm(*truth, x.last) : NAN).c_str(),
            jstr(x.have_first ? state_name(x.last.state()) : "unknown").c_str());
      } else {
        std::fprintf(json, "%s{\"segment\":%s,%s}", first ? "" : ",", jstr(x.segment).c_str(),
                     reading_json(x, start).c_str());
      }
    }
    if (i < nt) {
      std::printf("  %s: synchronized after %.3f s; freq estimate %+.4f ppm (truth %+.4f ppm)\n",
                  x.target.c_str(), x.last.time_to_sync_s(), x.last.freq_ppm(),
                  true_freq_ppm(*truth, x.last));
    } else {
      std::printf("  %s:\n", x.segment.c_str());
    }
    std::printf("    %" PRIu64 " readings served of %" PRIu64
                "; after %.0f s settling: true |error| p50 %.3f us, p99 %.3f us, max %.3f us"
                "\n    truth outside the bound: %" PRIu64 " of all %" PRIu64 " served readings",
                x.ok, x.reads, a.settle_s, x.settled_abs_err.percentile(0.5) / 1e3,
                x.settled_abs_err.percentile(0.99) / 1e3, x.settled_max_ns / 1e3, x.violations,
                x.ok);
    if (x.violations > 0) {
      std::printf(" (worst by %.3f us, first at %.3f s)", x.worst_excess_ns / 1e3,
                  secs(x.first_outside_ns - start));
      rc = 1;
    }
    std::printf("\n");
  }
  if (json != nullptr) {
    std::fprintf(json, nt == w.size() ? "],\"segments\":[]}\n" : "]}\n");
    if (std::fclose(json) != 0) rc = 1;
  }
  if (trace != nullptr) std::fclose(trace);
  return rc;
}

}  // namespace timesync::lab

int main(int argc, char** argv) { return timesync::lab::run(timesync::lab::parse(argc, argv)); }
