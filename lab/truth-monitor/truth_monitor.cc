// timesyncctl monitor: the test bed's and the demo's instrument. One line per
// agent per interval and, with --truth-master-config, the true error of what
// each agent's segment serves (the master's timeline evaluated at the same host
// CLOCK_MONOTONIC_RAW instant), sampled every millisecond and checked against
// the bound. See main.cc for the options.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ctl.hpp"
#include "timesync/clock.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::ctl {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

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

}  // namespace

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
        if (!agent_status(a, x.target, &x.last, &st)) {
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


}  // namespace timesync::ctl
