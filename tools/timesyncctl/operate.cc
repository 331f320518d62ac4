// The operator's commands: status, master, now, watch, health, alarms.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstdarg>
#include <cinttypes>
#include <map>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ctl.hpp"
#include "grpc/health/v1/health.grpc.pb.h"
#include "timesync/clock.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::ctl {
namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

std::string hex(uint64_t v) {
  char b[20];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char b[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(b, sizeof b, f, ap);
  va_end(ap);
  return b;
}

const char* timebase_name(v1::Timebase t) {
  switch (t) {
    case v1::TIMEBASE_MONOTONIC: return "monotonic";
    case v1::TIMEBASE_REALTIME: return "realtime";
    default: return "unknown";
  }
}

// The agent's frequency estimate is the master's rate against the local
// clock; operators read it the other way round, as chronyc does.
std::string local_rate_text(double master_vs_local_ppm) {
  if (master_vs_local_ppm == 0) return "0.000 ppm";
  return fmt("%.3f ppm %s", std::fabs(master_vs_local_ppm),
             master_vs_local_ppm < 0 ? "fast" : "slow");
}

// Failed exchanges by why, sorted so the text is stable.
std::map<std::string, uint64_t> sorted_link_errors(const v1::AgentStatus& s) {
  return {s.link_errors().begin(), s.link_errors().end()};
}

std::string link_errors_json(const v1::AgentStatus& s) {
  JsonObject o;
  for (const auto& [why, n] : sorted_link_errors(s)) o.uinteger(why.c_str(), n);
  return o.text();
}

// UTC beside a timeline (issue 18), one line.
std::string utc_text(const v1::Utc& u) {
  std::string t = fmt("timeline %s %s s, error %.3f us (%s)", u.offset_ns() < 0 ? "-" : "+",
                      exact_seconds(u.offset_ns() < 0 ? -u.offset_ns() : u.offset_ns()).c_str(),
                      static_cast<double>(u.error_ns()) / 1e3,
                      u.synchronized() ? "reference synchronized" : "reference lost: error growing");
  t += u.tai_minus_utc_s() != 0 ? fmt(", TAI-UTC %d s", u.tai_minus_utc_s()) : std::string(", TAI-UTC unknown");
  if (u.next_leap_utc_s() != 0) {
    t += fmt(", leap second announced: TAI-UTC %d s from %" PRId64 " (POSIX s)", u.next_tai_minus_utc_s(),
             u.next_leap_utc_s());
  }
  if (u.leap_list_expired()) t += ", leap-second list expired";
  return t;
}

std::string utc_json(const v1::Utc& u) {
  JsonObject o;
  o.integer("offset_ns", u.offset_ns())
      .uinteger("error_ns", u.error_ns())
      .boolean("synchronized", u.synchronized())
      .integer("tai_minus_utc_s", u.tai_minus_utc_s())
      .integer("next_leap_utc_s", u.next_leap_utc_s())
      .integer("next_tai_minus_utc_s", u.next_tai_minus_utc_s())
      .boolean("leap_list_expired", u.leap_list_expired());
  return o.text();
}

std::string status_json(const std::string& target, const v1::AgentStatus& s) {
  const bool serving =
      s.state() == v1::SYNC_STATE_SYNCHRONIZED || s.state() == v1::SYNC_STATE_HOLDOVER;
  JsonObject master;
  master.str("target", s.master_target())
      .str("id", s.master_id())
      .str("epoch", hex(s.master_epoch()))
      .str("instance", hex(s.master_instance()))
      .str("timebase", timebase_name(s.timebase()))
      .str("transport", s.transport());
  JsonObject alarm;
  alarm.boolean("active", s.alarm_active())
      .raw("reason", s.alarm_active() ? jstr(reason_name(s.alarm_reason())) : "null")
      .str("message", s.alarm_message())
      .uinteger("raised_total", s.alarms_raised());
  JsonObject beacon;
  beacon.uinteger("received", s.beacons_received())
      .uinteger("samples", s.beacon_samples())
      .uinteger("rejected", s.beacons_rejected())
      .uinteger("two_way_samples", s.two_way_samples())
      .uinteger("streams_opened", s.beacon_streams_opened())
      .raw("delay_ns", s.beacon_delay_ns() >= 0 ? std::to_string(s.beacon_delay_ns()) : "null")
      .uinteger("delay_uncertainty_ns", s.beacon_delay_uncertainty_ns());
  JsonObject o;
  o.str("role", "agent")
      .str("target", target)
      .str("agent_id", s.agent_id())
      .raw("master", master.text())
      .str("status", state_name(s.state()))
      .boolean("synchronized", serving)
      .integer("offset_ns", s.last_offset_ns())
      .integer("delay_ns", s.last_delay_ns())
      .num("freq_ppm", s.freq_ppm())
      .num("freq_sigma_ppb", s.freq_sigma_ppb() >= 0 ? s.freq_sigma_ppb() : NAN)
      .num("freq_envelope_lo_ppm", s.freq_envelope_lo_ppm())
      .num("freq_envelope_hi_ppm", s.freq_envelope_hi_ppm())
      .uinteger("freq_changes", s.freq_changes())
      .num("slew_ppm", s.slew_ppm())
      .uinteger("bound_ns", s.bound_ns())
      .uinteger("max_error_ns", s.max_error_ns())
      .num("last_answer_age_s", s.since_last_answer_s())
      .num("poll_interval_s", s.poll_interval_s())
      .uinteger("epoch", s.published_epoch())
      .uinteger("samples_accepted", s.samples_accepted())
      .uinteger("samples_rejected", s.samples_rejected())
      .uinteger("rpc_failures", s.rpc_failures())
      .str("last_error", s.last_error())
      .num("time_to_sync_s", s.time_to_sync_s() >= 0 ? s.time_to_sync_s() : NAN)
      .raw("alarm", alarm.text())
      .str("servo", s.servo())
      .uinteger("innovation_count", s.innovation_count())
      .num("innovation_mean_ns", s.innovation_mean_ns())
      .num("innovation_std_ns", s.innovation_std_ns())
      .num("innovation_normalized_std",
           s.innovation_normalized_std() >= 0 ? s.innovation_normalized_std() : NAN)
      .str("local_clock", s.local_clock())
      .str("segment", s.segment())
      .str("sync_mode", s.sync_mode())
      .str("link", s.link())
      .str("link_description", s.link_description())
      .str("timestamps", s.timestamps())
      .raw("link_errors", link_errors_json(s))
      .raw("packets_dropped", [&] {
        JsonObject d;
        for (const auto& [why, n] : std::map<std::string, uint64_t>(s.packets_dropped().begin(),
                                                                     s.packets_dropped().end())) {
          d.uinteger(why.c_str(), n);
        }
        return d.text();
      }())
      .raw("beacon", beacon.text())
      .str("chrony_refclock", s.chrony_refclock())
      .str("reader_clock", s.reader_clock());
  if (s.has_master_utc()) o.raw("master_utc", utc_json(s.master_utc()));
  return o.text();
}

std::string link_errors_text(const v1::AgentStatus& s) {
  std::string out;
  for (const auto& [why, n] : sorted_link_errors(s)) {
    out += (out.empty() ? "" : ", ") + fmt("%" PRIu64 " %s", n, why.c_str());
  }
  return out.empty() ? "none" : out;
}

void print_status_text(const std::string& target, const v1::AgentStatus& s) {
  auto row = [](const char* name, const std::string& v) {
    std::printf("%-16s: %s\n", name, v.c_str());
  };
  row("Role", fmt("agent '%s' (local service %s)", s.agent_id().c_str(), target.c_str()));
  row("Master", s.master_id().empty()
                    ? fmt("%s (not answered yet; %s)", s.master_target().c_str(),
                          s.transport().c_str())
                    : fmt("%s '%s', %s timebase, %s", s.master_target().c_str(),
                          s.master_id().c_str(), timebase_name(s.timebase()),
                          s.transport().c_str()));
  std::string status = state_name(s.state());
  if (s.alarm_active()) status += " (OUT OF SYNC: timestamps refused)";
  row("Status", status);
  row("Offset", fmt("%+.9f seconds (last sample, master minus local)",
                    static_cast<double>(s.last_offset_ns()) / 1e9));
  row("Round-trip delay", fmt("%.1f us (last sample)", static_cast<double>(s.last_delay_ns()) / 1e3));
  row("Frequency", s.freq_sigma_ppb() >= 0
                       ? fmt("%s of the master (+/- %.3f ppm)", local_rate_text(s.freq_ppm()).c_str(),
                             s.freq_sigma_ppb() / 1e3)
                       : local_rate_text(s.freq_ppm()) + " of the master (uncertainty unknown yet)");
  if (s.freq_envelope_lo_ppm() != 0 || s.freq_envelope_hi_ppm() != 0) {
    row("Frequency range", fmt("%+.3f .. %+.3f ppm (what the samples' intervals allow; the bound "
                               "grows from it); %" PRIu64 " changes detected",
                               s.freq_envelope_lo_ppm(), s.freq_envelope_hi_ppm(), s.freq_changes()));
  }
  row("Slew", fmt("%+.3f ppm (phase correction in progress)", s.slew_ppm()));
  row("Error bound", fmt("%.3f us (limit %.3f us)", static_cast<double>(s.bound_ns()) / 1e3,
                         static_cast<double>(s.max_error_ns()) / 1e3));
  row("Last answer", fmt("%.2f seconds ago%s", s.since_last_answer_s(),
                         s.last_error().empty() ? "" : (" (last error: " + s.last_error() + ")").c_str()));
  row("Transport", s.link().empty() ? std::string("-")
                                     : fmt("%s, %s timestamps: %s", s.link().c_str(),
                                           s.timestamps().c_str(), s.link_description().c_str()));
  if (s.masters_size() > 1) {
    for (const v1::MasterEntry& m : s.masters()) {
      std::string line = fmt("%s%s, %s", m.followed() ? "FOLLOWED " : "", m.role().empty() ? "master" : m.role().c_str(),
                             m.answering() ? "answering" : "silent");
      if (m.since_last_answer_s() >= 0) line += fmt(", last answer %.1f s ago", m.since_last_answer_s());
      if (!m.master_id().empty()) {
        line += fmt(", timeline '%s' %s%s, error %.3f us", m.master_id().c_str(), hex(m.master_epoch()).c_str(),
                    m.same_timeline() ? "" : " (ANOTHER TIMELINE)",
                    static_cast<double>(m.master_error_ns()) / 1e3);
      }
      if (!m.answering() && !m.last_error().empty()) line += " (" + m.last_error() + ")";
      row(("Master " + m.target()).c_str(), line);
    }
  }
  if (!s.split_brain().empty()) row("SPLIT BRAIN", s.split_brain());
  row("Failed exchanges", link_errors_text(s));
  if (!s.packets_dropped().empty()) {
    std::string drops;
    for (const auto& [why, n] : std::map<std::string, uint64_t>(s.packets_dropped().begin(),
                                                                 s.packets_dropped().end())) {
      drops += (drops.empty() ? "" : ", ") + fmt("%" PRIu64 " %s", n, why.c_str());
    }
    row("Packets dropped", drops + " (never reached the estimator)");
  }
  row("Mode", s.sync_mode().empty() ? std::string("polling") : s.sync_mode());
  if (s.beacons_received() > 0 || s.sync_mode().rfind("beacon", 0) == 0) {
    row("Beacons", fmt("%" PRIu64 " received, %" PRIu64 " used as samples, %" PRIu64
                       " rejected; %" PRIu64 " two-way samples; %" PRIu64 " streams opened",
                       s.beacons_received(), s.beacon_samples(), s.beacons_rejected(),
                       s.two_way_samples(), s.beacon_streams_opened()));
    row("Beacon delay", s.beacon_delay_ns() >= 0
                            ? fmt("%.3f us +/- %.3f us (one-way, calibrated by two-way exchanges)",
                                  static_cast<double>(s.beacon_delay_ns()) / 1e3,
                                  static_cast<double>(s.beacon_delay_uncertainty_ns()) / 1e3)
                            : std::string("not calibrated yet"));
  }
  row("Poll interval", fmt("%.3f seconds", s.poll_interval_s()));
  row("Samples", fmt("%" PRIu64 " accepted, %" PRIu64 " rejected, %" PRIu64 " RPC failures",
                     s.samples_accepted(), s.samples_rejected(), s.rpc_failures()));
  row("Epoch", fmt("%" PRIu64 " (published), master epoch %s, instance %s", s.published_epoch(),
                   hex(s.master_epoch()).c_str(), hex(s.master_instance()).c_str()));
  row("Synchronized in", s.time_to_sync_s() >= 0 ? fmt("%.3f seconds after start", s.time_to_sync_s())
                                                 : std::string("not yet"));
  row("Alarms", s.alarm_active()
                    ? fmt("ACTIVE %s: %s; %" PRIu64 " raised since start",
                          reason_name(s.alarm_reason()), s.alarm_message().c_str(), s.alarms_raised())
                    : fmt("none active; %" PRIu64 " raised since start", s.alarms_raised()));
  row("Servo", s.servo());
  if (s.innovation_count() > 0) {
    std::string innov = fmt("mean %+.3f us, std %.3f us over %u samples",
                            s.innovation_mean_ns() / 1e3, s.innovation_std_ns() / 1e3,
                            s.innovation_count());
    if (s.innovation_normalized_std() >= 0)
      innov += fmt(", normalized %.2f (1 = noise model fits)", s.innovation_normalized_std());
    row("Innovations", innov);
  }
  row("Local clock", s.local_clock());
  row("Segment", s.segment());
  if (s.has_master_utc()) row("Master UTC", utc_text(s.master_utc()));
  if (!s.chrony_refclock().empty()) row("Chrony refclock", s.chrony_refclock());
  if (!s.reader_clock().empty()) row("Readers read", s.reader_clock());
}

bool master_status(const Args& a, const std::string& target, v1::GetStatusResponse* r,
                   grpc::Status* st) {
  auto stub = v1::TimeService::NewStub(channel(a, target));
  grpc::ClientContext ctx;
  set_deadline(&ctx);
  *st = stub->GetStatus(&ctx, v1::GetStatusRequest{}, r);
  return st->ok();
}

int print_master(const Args& a, const std::string& target, const v1::GetStatusResponse& r) {
  if (a.json) {
    JsonObject o;
    o.str("role", "master")
        .str("target", target)
        .str("master_id", r.master_id())
        .str("timebase", timebase_name(r.timebase()))
        .str("epoch", hex(r.master_epoch()))
        .str("instance", hex(r.master_instance()))
        .integer("now_ns", r.now_ns())
        .uinteger("master_error_ns", r.master_error_ns())
        .uinteger("requests_served", r.requests_served())
        .num("uptime_s", static_cast<double>(r.uptime_ns()) / 1e9)
        .str("reference", r.reference())
        .str("master_role", r.role().empty() ? "primary" : r.role())
        .str("following", r.following())
        .boolean("serving", r.serving() || r.role().empty())
        .str("unavailable", r.unavailable());
    if (r.has_utc()) o.raw("utc", utc_json(r.utc()));
    std::printf("%s\n", o.text().c_str());
    return kExitOk;
  }
  auto row = [](const char* name, const std::string& v) {
    std::printf("%-16s: %s\n", name, v.c_str());
  };
  row("Role", fmt("%s master '%s' (%s)", r.role().empty() ? "primary" : r.role().c_str(),
                  r.master_id().c_str(), target.c_str()));
  if (!r.following().empty()) row("Following", r.following());
  if (!r.role().empty() && !r.serving()) row("Serving", "nothing: " + r.unavailable());
  row("Timebase", fmt("%s, epoch %s, instance %s", timebase_name(r.timebase()),
                      hex(r.master_epoch()).c_str(), hex(r.master_instance()).c_str()));
  row("Time", exact_seconds(r.now_ns()) + " seconds on its timeline");
  row("Master error", fmt("%" PRIu64 " ns (declared against its reference)", r.master_error_ns()));
  if (!r.reference().empty()) row("Reference", r.reference());
  if (r.has_utc()) row("UTC", utc_text(r.utc()));
  row("Requests", fmt("%" PRIu64 " served", r.requests_served()));
  row("Uptime", fmt("%.1f seconds", static_cast<double>(r.uptime_ns()) / 1e9));
  return kExitOk;
}

}  // namespace

int cmd_master(const Args& a) {
  v1::GetStatusResponse r;
  grpc::Status st;
  if (!master_status(a, a.targets[0], &r, &st)) return fail(a.targets[0], st);
  return print_master(a, a.targets[0], r);
}

int cmd_status(const Args& a) {
  const std::string& target = a.targets[0];
  v1::AgentStatus s;
  grpc::Status st;
  if (!agent_status(a, target, &s, &st)) {
    // A master has no AgentService: describe it as one.
    if (st.error_code() != grpc::StatusCode::UNIMPLEMENTED) return fail(target, st);
    v1::GetStatusResponse r;
    if (!master_status(a, target, &r, &st)) return fail(target, st);
    return print_master(a, target, r);
  }
  if (a.json) {
    std::printf("%s\n", status_json(target, s).c_str());
  } else {
    print_status_text(target, s);
  }
  return kExitOk;
}

int cmd_now(const Args& a) {
  const std::string path = a.segment.empty() ? kDefaultSegmentPath : a.segment;
  Result<Clock> clock = Clock::open(path);
  if (!clock.ok()) {
    if (a.json) {
      std::printf("%s\n", JsonObject()
                              .boolean("ok", false)
                              .str("segment", path)
                              .str("error", to_string(clock.error()))
                              .text()
                              .c_str());
    }
    std::fprintf(stderr, "timesyncctl: %s: %s\n", path.c_str(), to_string(clock.error()));
    return kExitRpc;
  }
  int rc = kExitOk;
  for (int n = 0; n < std::max(1, a.count) && g_stop == 0; ++n) {
    if (n > 0) {
      const timespec ts{a.interval_ms / 1000, (a.interval_ms % 1000) * 1'000'000L};
      nanosleep(&ts, nullptr);
    }
    const TimestampWithError r = clock->get_timestamp_with_error();
    const bool refused = r.error == Error::kNotSynchronized || r.error == Error::kStale ||
                         r.error == Error::kBoundExceeded;
    rc = r.ok() ? kExitOk : refused ? kExitOutOfSync : kExitRpc;
    if (a.json) {
      JsonObject o;
      o.boolean("ok", r.ok()).str("segment", path).str("status", to_string(r.status));
      if (r.ok()) {
        // time_ns is the value; time_s the same, exact, as a decimal number.
        o.integer("time_ns", r.time.ns).raw("time_s", exact_seconds(r.time.ns));
      } else {
        o.str("error", to_string(r.error));
      }
      o.uinteger("bound_ns", r.bound_ns).uinteger("epoch", r.epoch).integer("local_ns", r.local.ns);
      std::printf("%s\n", o.text().c_str());
    } else if (r.ok()) {
      std::printf("%s seconds +/- %.3f us (%s, epoch %" PRIu64 ")\n",
                  exact_seconds(r.time.ns).c_str(), static_cast<double>(r.bound_ns) / 1e3,
                  to_string(r.status), r.epoch);
    } else {
      std::printf("out of sync: %s (status %s, bound %.3f us, epoch %" PRIu64 ")\n",
                  to_string(r.error), to_string(r.status), static_cast<double>(r.bound_ns) / 1e3,
                  r.epoch);
    }
    std::fflush(stdout);
  }
  return rc;
}

namespace {

// Prints whole lines from several threads without interleaving.
std::mutex g_out_mu;
void out_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_out_mu);
  std::fputs(line.c_str(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string wall_clock() {
  const time_t now = time(nullptr);
  struct tm tm {};
  localtime_r(&now, &tm);
  char b[16];
  std::strftime(b, sizeof b, "%H:%M:%S", &tm);
  return b;
}

std::string alarm_line(const Args& a, const std::string& target, const v1::AlarmEvent& e) {
  const char* kind = e.kind() == v1::AlarmEvent::RAISED ? "RAISED" : "CLEARED";
  if (a.json) {
    return JsonObject()
        .str("event", "alarm")
        .str("target", target)
        .str("kind", kind)
        .str("reason", reason_name(e.reason()))
        .str("message", e.message())
        .uinteger("sequence", e.sequence())
        .integer("unix_time_ns", e.unix_time_ns())
        .uinteger("bound_ns", e.bound_ns())
        .uinteger("max_error_ns", e.max_error_ns())
        .num("last_answer_age_s", e.since_last_answer_s())
        .text();
  }
  return fmt("%s  %-22s ALARM %-7s %s: %s", wall_clock().c_str(), target.c_str(), kind,
             reason_name(e.reason()), e.message().c_str());
}

std::string status_line(const Args& a, const std::string& target, const v1::AgentStatus& s) {
  if (a.json) return "{\"event\":\"status\"," + status_json(target, s).substr(1);
  std::string state = state_name(s.state());
  if (s.alarm_active()) state += "!";
  return fmt("%s  %-22s %-15s offset %+13.3f us  freq %+9.3f ppm  bound %10.3f us  poll %6.2f s",
             wall_clock().c_str(), (s.agent_id() + "@" + target).substr(0, 22).c_str(),
             state.c_str(), static_cast<double>(s.last_offset_ns()) / 1e3, s.freq_ppm(),
             static_cast<double>(s.bound_ns()) / 1e3, s.poll_interval_s());
}

// Follows one agent's alarm stream, reconnecting after an agent restart,
// until stop; ctx_slot lets the main thread cancel the open stream.
void follow_alarms(const Args& a, const std::string& target, const std::atomic<bool>& stop,
                   std::mutex& mu, grpc::ClientContext** ctx_slot) {
  auto stub = v1::AgentService::NewStub(channel(a, target));
  while (!stop.load()) {
    grpc::ClientContext ctx;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stop.load()) return;
      *ctx_slot = &ctx;
    }
    auto reader = stub->WatchAlarms(&ctx, v1::WatchAlarmsRequest{});
    v1::AlarmEvent e;
    while (reader->Read(&e)) out_line(alarm_line(a, target, e));
    reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mu);
      *ctx_slot = nullptr;
    }
    // The agent went away (or is not there yet): try again shortly.
    for (int i = 0; i < 10 && !stop.load(); ++i) {
      const timespec ts{0, 100'000'000};
      nanosleep(&ts, nullptr);
    }
  }
}

}  // namespace

int cmd_watch(const Args& a) {
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<grpc::ClientContext*> open(a.targets.size(), nullptr);
  std::vector<std::thread> followers;
  for (size_t i = 0; i < a.targets.size(); ++i) {
    followers.emplace_back(follow_alarms, std::cref(a), std::cref(a.targets[i]), std::cref(stop),
                           std::ref(mu), &open[i]);
  }
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  auto elapsed_s = [&start] {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<double>(now.tv_sec - start.tv_sec) +
           static_cast<double>(now.tv_nsec - start.tv_nsec) / 1e9;
  };
  int lines = 0;
  double next = 0;
  while (g_stop == 0 && (a.duration_s <= 0 || elapsed_s() < a.duration_s) &&
         (a.count <= 0 || lines < a.count)) {
    if (elapsed_s() >= next) {
      next += a.interval_ms / 1000.0;
      for (const std::string& t : a.targets) {
        v1::AgentStatus s;
        grpc::Status st;
        if (agent_status(a, t, &s, &st)) {
          out_line(status_line(a, t, s));
        } else if (a.json) {
          out_line(JsonObject().str("event", "unreachable").str("target", t)
                       .str("error", st.error_message()).text());
        } else {
          out_line(fmt("%s  %-22s unreachable: %s", wall_clock().c_str(), t.c_str(),
                       st.error_message().c_str()));
        }
      }
      ++lines;
    }
    const timespec ts{0, 20'000'000};
    nanosleep(&ts, nullptr);
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    stop.store(true);
    for (grpc::ClientContext* c : open) {
      if (c != nullptr) c->TryCancel();
    }
  }
  for (std::thread& t : followers) t.join();
  return kExitOk;
}

int cmd_health(const Args& a) {
  const std::string& target = a.targets[0];
  auto stub = grpc::health::v1::Health::NewStub(channel(a, target));
  grpc::ClientContext ctx;
  set_deadline(&ctx);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(a.service);
  grpc::health::v1::HealthCheckResponse r;
  const grpc::Status st = stub->Check(&ctx, req, &r);
  if (!st.ok()) {
    if (a.json) {
      std::printf("%s\n", JsonObject().str("target", target).str("service", a.service)
                              .str("status", "UNREACHABLE").str("error", st.error_message())
                              .text().c_str());
    }
    return fail(target, st);
  }
  const std::string name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(r.status());
  if (a.json) {
    std::printf("%s\n",
                JsonObject().str("target", target).str("service", a.service).str("status", name)
                    .text().c_str());
  } else {
    std::printf("%s%s%s: %s\n", target.c_str(), a.service.empty() ? "" : " ", a.service.c_str(),
                name.c_str());
  }
  return r.status() == grpc::health::v1::HealthCheckResponse::SERVING ? kExitOk : kExitNotServing;
}

int cmd_alarms(const Args& a) {
  auto stub = v1::AgentService::NewStub(channel(a, a.targets[0]));
  grpc::ClientContext ctx;
  if (a.timeout_s > 0) set_deadline(&ctx, a.timeout_s);
  auto reader = stub->WatchAlarms(&ctx, v1::WatchAlarmsRequest{});
  v1::AlarmEvent e;
  int n = 0;
  while (reader->Read(&e)) {
    if (a.json) {
      std::printf("%s\n", alarm_line(a, a.targets[0], e).c_str());
    } else {
      std::printf("#%" PRIu64 " %s %s: %s (bound %.3f us, max %.3f us, last answer %.2f s ago)\n",
                  e.sequence(), v1::AlarmEvent::Kind_Name(e.kind()).c_str(),
                  v1::AlarmReason_Name(e.reason()).c_str(), e.message().c_str(),
                  static_cast<double>(e.bound_ns()) / 1e3,
                  static_cast<double>(e.max_error_ns()) / 1e3, e.since_last_answer_s());
    }
    std::fflush(stdout);
    if (a.count > 0 && ++n >= a.count) {
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status st = reader->Finish();
  if (st.ok() || st.error_code() == grpc::StatusCode::CANCELLED ||
      (a.timeout_s > 0 && st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
    return kExitOk;
  }
  return fail(a.targets[0], st);
}

}  // namespace timesync::ctl
