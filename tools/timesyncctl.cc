// timesyncctl: asks a running master or agent how it is doing, over gRPC.
//
//   timesyncctl master  [--target HOST:PORT]          GetStatus of a master
//   timesyncctl status  [--target HOST:PORT]          GetAgentStatus of an agent
//   timesyncctl health  [--target HOST:PORT] [--service NAME]
//   timesyncctl alarms  [--target HOST:PORT] [--count N] [--timeout-s S]
//   timesyncctl monitor --target HOST:PORT [--target ...] [--duration-s S]
//                        [--interval-ms MS] [--settle-s S]
//                        [--truth-master-config FILE --sim-origin-ns N]
//                        [--json FILE] [--trace FILE] [--trace-ms MS]
//
// monitor prints one line per agent per interval: offset, frequency estimate,
// bound, status and, with --truth-master-config, the true error of what the
// agent's segment serves. The truth is the master's timeline evaluated at the
// same host CLOCK_MONOTONIC_RAW instant, so it needs a master whose timeline is
// computable here: monotonic on this host, or simulated with the same origin.
// Between lines it samples each segment every millisecond and counts readings
// whose true error exceeds the bound; the summary at the end reports them, and
// the true |error| percentiles of readings made --settle-s or more after the
// agent's first served reading (convergence). --json writes that summary as
// JSON; --trace writes JSON lines for plots: one reading per agent every
// --trace-ms (default 20) and each status line (the test bed uses both).
//
// Exit codes: 0 ok; 1 RPC failed or (monitor) the truth left the bound;
// 2 health not SERVING; 64 usage.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "timesync/clock.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace {

using namespace timesync;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Args {
  std::string cmd;
  std::vector<std::string> targets;
  std::string service;
  int count = 0;
  double timeout_s = 0;
  double duration_s = 0;
  int interval_ms = 1000;
  std::string truth_config;
  int64_t sim_origin_ns = -1;
  double settle_s = 0;
  std::string json_path, trace_path;
  int trace_ms = 20;
};

[[noreturn]] void usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "timesyncctl: %s\n", why);
  std::fprintf(why != nullptr ? stderr : stdout,
               "usage: timesyncctl master  [--target HOST:PORT]\n"
               "       timesyncctl status  [--target HOST:PORT]\n"
               "       timesyncctl health  [--target HOST:PORT] [--service NAME]\n"
               "       timesyncctl alarms  [--target HOST:PORT] [--count N] [--timeout-s S]\n"
               "       timesyncctl monitor --target HOST:PORT [...] [--duration-s S]\n"
               "                            [--interval-ms MS] [--settle-s S]\n"
               "                            [--truth-master-config FILE --sim-origin-ns N]\n"
               "                            [--json FILE] [--trace FILE] [--trace-ms MS]\n"
               "Default target: 127.0.0.1:7450 for master, 127.0.0.1:7451 otherwise.\n");
  std::exit(why != nullptr ? 64 : 0);
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
  if (argc < 2) usage("missing command");
  Args a;
  a.cmd = argv[1];
  if (a.cmd == "-h" || a.cmd == "--help") usage(nullptr);
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + f).c_str());
      return argv[++i];
    };
    if (f == "--target") a.targets.push_back(v());
    else if (f == "--service") a.service = v();
    else if (f == "--count") a.count = static_cast<int>(num(f, v()));
    else if (f == "--timeout-s") a.timeout_s = num(f, v());
    else if (f == "--duration-s") a.duration_s = num(f, v());
    else if (f == "--interval-ms") a.interval_ms = std::max(10, static_cast<int>(num(f, v())));
    else if (f == "--truth-master-config") a.truth_config = v();
    else if (f == "--settle-s") a.settle_s = num(f, v());
    else if (f == "--json") a.json_path = v();
    else if (f == "--trace") a.trace_path = v();
    else if (f == "--trace-ms") a.trace_ms = std::max(1, static_cast<int>(num(f, v())));
    else if (f == "--sim-origin-ns") {
      const std::string t = v();
      if (!daemon::parse_ns(t, &a.sim_origin_ns)) {
        usage(("bad value for --sim-origin-ns: '" + t + "'").c_str());
      }
    }
    else usage(("unknown option '" + f + "'").c_str());
  }
  if (a.targets.empty()) a.targets.push_back(a.cmd == "master" ? "127.0.0.1:7450" : "127.0.0.1:7451");
  if (!a.truth_config.empty() && a.sim_origin_ns < 0) {
    usage("--truth-master-config needs --sim-origin-ns (the origin the master was started with)");
  }
  return a;
}

std::shared_ptr<grpc::Channel> channel(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

void deadline(grpc::ClientContext* ctx, double s = 2.0) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(s * 1000)));
}

int fail(const std::string& target, const grpc::Status& st) {
  std::fprintf(stderr, "timesyncctl: %s: %s (code %d)\n", target.c_str(),
               st.error_message().c_str(), static_cast<int>(st.error_code()));
  return 1;
}

const char* state_name(v1::SyncState s) {
  switch (s) {
    case v1::SYNC_STATE_SYNCHRONIZED: return "synchronized";
    case v1::SYNC_STATE_HOLDOVER: return "holdover";
    case v1::SYNC_STATE_UNSYNCHRONIZED: return "unsynchronized";
    default: return "unknown";
  }
}

int cmd_master(const Args& a) {
  auto stub = v1::TimeService::NewStub(channel(a.targets[0]));
  grpc::ClientContext ctx;
  deadline(&ctx);
  v1::GetStatusResponse r;
  const grpc::Status st = stub->GetStatus(&ctx, v1::GetStatusRequest{}, &r);
  if (!st.ok()) return fail(a.targets[0], st);
  std::printf("master %s: id '%s', %s timebase, instance %016" PRIx64 ", epoch %016" PRIx64
              "\n  now %" PRId64 " ns, error %" PRIu64 " ns, %" PRIu64 " requests served, up %.1f s\n",
              a.targets[0].c_str(), r.master_id().c_str(), v1::Timebase_Name(r.timebase()).c_str(),
              r.master_instance(), r.master_epoch(), r.now_ns(), r.master_error_ns(),
              r.requests_served(), static_cast<double>(r.uptime_ns()) / 1e9);
  return 0;
}

bool agent_status(const std::string& target, v1::AgentStatus* out, grpc::Status* st) {
  auto stub = v1::AgentService::NewStub(channel(target));
  grpc::ClientContext ctx;
  deadline(&ctx);
  *st = stub->GetAgentStatus(&ctx, v1::GetAgentStatusRequest{}, out);
  return st->ok();
}

int cmd_status(const Args& a) {
  v1::AgentStatus s;
  grpc::Status st;
  if (!agent_status(a.targets[0], &s, &st)) return fail(a.targets[0], st);
  std::printf(
      "agent '%s' (%s), segment %s\n"
      "  master       %s: '%s', epoch %016" PRIx64 ", instance %016" PRIx64 "\n"
      "  state        %s%s%s, published epoch %" PRIu64 ", synchronized after %.3f s\n"
      "  offset       %+.3f us (last sample, master minus local), delay %.1f us\n"
      "  frequency    %+.4f ppm (sigma %.1f ppb), slew %+.4f ppm, servo %s\n"
      "  bound        %.3f us of max %.3f us\n"
      "  poll         %.3f s; samples %" PRIu64 " accepted, %" PRIu64 " rejected; %" PRIu64
      " RPC failures; last answer %.2f s ago\n"
      "  local clock  %s\n",
      s.agent_id().c_str(), a.targets[0].c_str(), s.segment().c_str(), s.master_target().c_str(),
      s.master_id().c_str(), s.master_epoch(), s.master_instance(), state_name(s.state()),
      s.alarm_active() ? ", ALARM: " : "",
      s.alarm_active() ? v1::AlarmReason_Name(s.alarm_reason()).c_str() : "", s.published_epoch(),
      s.time_to_sync_s(), static_cast<double>(s.last_offset_ns()) / 1e3,
      static_cast<double>(s.last_delay_ns()) / 1e3, s.freq_ppm(), s.freq_sigma_ppb(),
      s.slew_ppm(), s.servo().c_str(), static_cast<double>(s.bound_ns()) / 1e3,
      static_cast<double>(s.max_error_ns()) / 1e3, s.poll_interval_s(), s.samples_accepted(),
      s.samples_rejected(), s.rpc_failures(), s.since_last_answer_s(), s.local_clock().c_str());
  return 0;
}

int cmd_health(const Args& a) {
  auto stub = grpc::health::v1::Health::NewStub(channel(a.targets[0]));
  grpc::ClientContext ctx;
  deadline(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(a.service);
  grpc::health::v1::HealthCheckResponse r;
  const grpc::Status st = stub->Check(&ctx, req, &r);
  if (!st.ok()) return fail(a.targets[0], st);
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(r.status());
  std::printf("%s\n", name.c_str());
  return r.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 2;
}

int cmd_alarms(const Args& a) {
  auto stub = v1::AgentService::NewStub(channel(a.targets[0]));
  grpc::ClientContext ctx;
  if (a.timeout_s > 0) deadline(&ctx, a.timeout_s);
  auto reader = stub->WatchAlarms(&ctx, v1::WatchAlarmsRequest{});
  v1::AlarmEvent e;
  int n = 0;
  while (reader->Read(&e)) {
    std::printf("#%" PRIu64 " %s %s: %s (bound %.3f us, max %.3f us, last answer %.2f s ago)\n",
                e.sequence(), v1::AlarmEvent::Kind_Name(e.kind()).c_str(),
                v1::AlarmReason_Name(e.reason()).c_str(), e.message().c_str(),
                static_cast<double>(e.bound_ns()) / 1e3, static_cast<double>(e.max_error_ns()) / 1e3,
                e.since_last_answer_s());
    std::fflush(stdout);
    if (a.count > 0 && ++n >= a.count) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status st = reader->Finish();
  if (st.ok() || st.error_code() == grpc::StatusCode::CANCELLED ||
      (a.timeout_s > 0 && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return 0;
  }
  return fail(a.targets[0], st);
}

struct Watched {
  std::string target;
  std::string segment;
  std::optional<Clock> clock;
  std::vector<double> abs_err_ns;  // of served readings after settling
  int64_t first_ok_ns = -1;
  uint64_t reads = 0, ok = 0, violations = 0;
  double worst_excess_ns = 0;
  double bound_sum_ns = 0;  // of served readings after settling
  v1::AgentStatus last;
  bool have_first = false;
  // Exchanges seen since the first status line; survives an agent restart
  // (its counters start again from zero).
  double exchanges = 0, prev_counter = 0;
  int64_t first_status_ns = 0, last_status_ns = 0;
  int64_t next_trace_ns = 0;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

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
    std::fprintf(stderr, "timesyncctl: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(1);
  }
  return f;
}

// JSON has no NaN; a statistic without data is null.
std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[48];
  std::snprintf(b, sizeof b, "%.6g", v);
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

int cmd_monitor(const Args& a) {
  std::unique_ptr<TimeSource> truth;
  if (!a.truth_config.empty()) {
    config::Loaded<config::MasterConfig> m = config::load_master(a.truth_config);
    if (!m.ok()) {
      std::fprintf(stderr, "timesyncctl: %s\n", m.error.c_str());
      return 64;
    }
    if (m.value->timebase != config::Timebase::kMonotonic && !m.value->sim_clock.enabled) {
      std::fprintf(stderr, "timesyncctl: %s: the truth needs a monotonic or simulated master\n",
                   a.truth_config.c_str());
      return 64;
    }
    truth = daemon::make_time_source(m.value->sim_clock, a.sim_origin_ns);
  }
  FILE* trace = open_output(a.trace_path);
  FILE* json = open_output(a.json_path);
  std::vector<Watched> w(a.targets.size());
  for (size_t i = 0; i < w.size(); ++i) w[i].target = a.targets[i];
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  const int64_t start = host_raw_now_ns();
  const int64_t end = a.duration_s > 0 ? start + static_cast<int64_t>(a.duration_s * 1e9) : INT64_MAX;
  std::printf("%-8s %-22s %9s %15s %11s %12s %-14s %11s\n", "t [s]", "agent", "poll [s]",
              "offset [us]", "freq [ppm]", "bound [us]", "status", truth ? "true [us]" : "");
  int64_t next_line = start;
  while (g_stop == 0 && host_raw_now_ns() < end) {
    for (Watched& x : w) {
      if (!x.clock) continue;
      const TimestampWithError r = x.clock->get_timestamp_with_error();
      ++x.reads;
      if (!r.ok() || !truth) continue;
      ++x.ok;
      const double err = static_cast<double>(r.time.ns - truth->from_host_raw_ns(r.local.ns));
      if (x.first_ok_ns < 0) x.first_ok_ns = r.local.ns;
      if (static_cast<double>(r.local.ns - x.first_ok_ns) >= a.settle_s * 1e9) {
        x.abs_err_ns.push_back(std::fabs(err));
        x.bound_sum_ns += static_cast<double>(r.bound_ns);
      }
      if (trace != nullptr && r.local.ns >= x.next_trace_ns) {
        x.next_trace_ns = r.local.ns + int64_t{a.trace_ms} * 1'000'000;
        std::fprintf(trace, "{\"k\":\"r\",\"t\":%.6f,\"a\":%zu,\"e\":%.0f,\"b\":%" PRIu64 "}\n",
                     static_cast<double>(r.local.ns - start) / 1e9, &x - w.data(), err, r.bound_ns);
      }
      if (std::fabs(err) > static_cast<double>(r.bound_ns)) {
        ++x.violations;
        x.worst_excess_ns = std::max(x.worst_excess_ns, std::fabs(err) - static_cast<double>(r.bound_ns));
      }
    }
    const int64_t now = host_raw_now_ns();
    if (now >= next_line) {
      next_line += int64_t{a.interval_ms} * 1'000'000;
      for (Watched& x : w) {
        grpc::Status st;
        if (!agent_status(x.target, &x.last, &st)) {
          if (trace != nullptr) {
            std::fprintf(trace, "{\"k\":\"s\",\"t\":%.4f,\"a\":%zu,\"state\":\"unreachable\"}\n",
                         static_cast<double>(now - start) / 1e9, &x - w.data());
          }
          std::printf("%-8.1f %-22s unreachable: %s\n", static_cast<double>(now - start) / 1e9,
                      x.target.c_str(), st.error_message().c_str());
          continue;
        }
        if (!x.clock || x.segment != x.last.segment()) {
          Result<Clock> c = Clock::open(x.last.segment());
          if (c.ok()) {
            x.clock.emplace(std::move(c.value()));
            x.segment = x.last.segment();
          }
        }
        char true_col[48] = "";
        if (truth && x.clock) {
          const TimestampWithError r = x.clock->get_timestamp_with_error();
          if (r.ok()) {
            std::snprintf(true_col, sizeof true_col, "%+11.3f",
                          static_cast<double>(r.time.ns - truth->from_host_raw_ns(r.local.ns)) / 1e3);
          } else {
            std::snprintf(true_col, sizeof true_col, "%11s", "-");
          }
        }
        const double counter = static_cast<double>(
            x.last.samples_accepted() + x.last.samples_rejected() + x.last.rpc_failures());
        if (!x.have_first) {
          x.have_first = true;
          x.first_status_ns = now;
        } else {
          x.exchanges += counter >= x.prev_counter ? counter - x.prev_counter : counter;
        }
        x.prev_counter = counter;
        x.last_status_ns = now;
        const std::string status = std::string(state_name(x.last.state())) +
                                   (x.last.alarm_active() ? " ALARM" : "");
        if (trace != nullptr) {
          std::fprintf(trace,
                       "{\"k\":\"s\",\"t\":%.4f,\"a\":%zu,\"state\":\"%s\",\"alarm\":%s,"
                       "\"poll\":%.4f,\"freq\":%.6f,\"freq_truth\":%s,\"bound\":%" PRIu64 "}\n",
                       static_cast<double>(now - start) / 1e9, &x - w.data(), state_name(x.last.state()),
                       x.last.alarm_active() ? "true" : "false", x.last.poll_interval_s(),
                       x.last.freq_ppm(), truth ? jnum(true_freq_ppm(*truth, x.last)).c_str() : "null",
                       x.last.bound_ns());
        }
        std::printf("%-8.1f %-22s %9.3f %+15.3f %+11.4f %12.3f %-14s %s\n",
                    static_cast<double>(now - start) / 1e9,
                    (x.last.agent_id() + "@" + x.target).substr(0, 22).c_str(),
                    x.last.poll_interval_s(), static_cast<double>(x.last.last_offset_ns()) / 1e3,
                    x.last.freq_ppm(), static_cast<double>(x.last.bound_ns()) / 1e3,
                    status.c_str(), true_col);
      }
      std::fflush(stdout);
    }
    struct timespec ts{0, 1'000'000};
    nanosleep(&ts, nullptr);
  }
  int rc = 0;
  const double span_s = static_cast<double>(host_raw_now_ns() - start) / 1e9;
  std::printf("\nsummary over %.1f s:\n", span_s);
  // start_raw_ns: the host CLOCK_MONOTONIC_RAW instant trace times count from.
  if (json != nullptr) {
    std::fprintf(json, "{\"duration_s\":%s,\"settle_s\":%s,\"start_raw_ns\":%" PRId64 ",\"agents\":[",
                 jnum(span_s).c_str(), jnum(a.settle_s).c_str(), start);
  }
  for (const Watched& x : w) {
    if (json != nullptr) {
      const double status_span_s = static_cast<double>(x.last_status_ns - x.first_status_ns) / 1e9;
      const double settled = static_cast<double>(x.abs_err_ns.size());
      std::fprintf(
          json,
          "%s{\"target\":%s,\"agent_id\":%s,\"time_to_sync_s\":%s,\"first_served_s\":%s,"
          "\"reads\":%" PRIu64 ",\"served\":%" PRIu64 ",\"violations\":%" PRIu64
          ",\"worst_excess_ns\":%s,\"settled_readings\":%zu,\"abs_err_p50_ns\":%s,"
          "\"abs_err_p99_ns\":%s,\"abs_err_max_ns\":%s,\"mean_bound_ns\":%s,"
          "\"polls_per_s\":%s,\"samples_accepted\":%" PRIu64 ",\"samples_rejected\":%" PRIu64
          ",\"rpc_failures\":%" PRIu64 ",\"freq_ppm\":%s,\"freq_truth_ppm\":%s,\"state\":%s}",
          &x == w.data() ? "" : ",", jstr(x.target).c_str(), jstr(x.last.agent_id()).c_str(),
          jnum(x.have_first && x.last.time_to_sync_s() >= 0 ? x.last.time_to_sync_s() : NAN).c_str(),
          jnum(x.first_ok_ns < 0 ? NAN : static_cast<double>(x.first_ok_ns - start) / 1e9).c_str(),
          x.reads, x.ok, x.violations, jnum(x.worst_excess_ns).c_str(), x.abs_err_ns.size(),
          jnum(pct(x.abs_err_ns, 0.5)).c_str(), jnum(pct(x.abs_err_ns, 0.99)).c_str(),
          jnum(pct(x.abs_err_ns, 1.0)).c_str(),
          jnum(settled > 0 ? x.bound_sum_ns / settled : NAN).c_str(),
          jnum(status_span_s > 0 ? x.exchanges / status_span_s : NAN).c_str(),
          x.last.samples_accepted(), x.last.samples_rejected(), x.last.rpc_failures(),
          jnum(x.have_first ? x.last.freq_ppm() : NAN).c_str(),
          jnum(truth && x.have_first ? true_freq_ppm(*truth, x.last) : NAN).c_str(),
          jstr(x.have_first ? state_name(x.last.state()) : "unknown").c_str());
    }
    std::printf("  %s: synchronized after %.3f s; freq estimate %+.4f ppm", x.target.c_str(),
                x.last.time_to_sync_s(), x.last.freq_ppm());
    if (truth) {
      std::printf(" (truth %+.4f ppm)\n    %" PRIu64 " readings served of %" PRIu64
                  "; after %.0f s settling: true |error| p50 %.3f us, p99 %.3f us, max %.3f us"
                  "\n    truth outside the bound: %" PRIu64 " of all %" PRIu64 " served readings",
                  true_freq_ppm(*truth, x.last), x.ok, x.reads, a.settle_s,
                  pct(x.abs_err_ns, 0.5) / 1e3,
                  pct(x.abs_err_ns, 0.99) / 1e3, pct(x.abs_err_ns, 1.0) / 1e3, x.violations, x.ok);
      if (x.violations > 0) {
        std::printf(" (worst by %.3f us)", x.worst_excess_ns / 1e3);
        rc = 1;
      }
    }
    std::printf("\n");
  }
  if (json != nullptr) {
    std::fprintf(json, "]}\n");
    std::fclose(json);
  }
  if (trace != nullptr) std::fclose(trace);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.cmd == "master") return cmd_master(a);
  if (a.cmd == "status") return cmd_status(a);
  if (a.cmd == "health") return cmd_health(a);
  if (a.cmd == "alarms") return cmd_alarms(a);
  if (a.cmd == "monitor") return cmd_monitor(a);
  usage(("unknown command '" + a.cmd + "'").c_str());
}
