// timesync-master: serves this host's timeline to the agents.
//
//   timesync-master --config /etc/timesync/master.yaml
//
// Exit codes: 0 after SIGINT/SIGTERM, 64 bad command line, 78 bad config,
// 1 runtime failure (e.g. the port is taken).
#include <algorithm>
#include <cstdio>
#include <string>

#include <absl/synchronization/mutex.h>

#include "master_timeline.hpp"
#include "rejoin.hpp"
#include "standby.hpp"
#include "time_service.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/daemon/metrics.hpp"
#include "timesync/daemon/notify.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/daemon/tls.hpp"

namespace {

using namespace timesync;

// Monotonic: the same value for every master run on this boot with the same
// clock, so a restarted master continues the timeline its agents know.
// Realtime: random, because nobody can vouch the clock was not set meanwhile.
uint64_t initial_epoch(const config::MasterConfig& c, int64_t sim_origin_ns) {
  if (c.timebase == config::Timebase::kRealtime && !c.sim_clock.enabled) {
    return daemon::random_instance_id();
  }
  uint64_t h = master::fnv1a("monotonic", 9);
  const std::string boot = master::boot_id();
  h = master::fnv1a(boot.data(), boot.size(), h);
  if (c.sim_clock.enabled) {
    const config::SimClock& s = c.sim_clock;
    const double fields[] = {s.initial_offset_s, s.freq_ppm, s.wander_ppb_per_sqrt_s,
                             s.step_every_s, s.step_ppm};
    h = master::fnv1a(fields, sizeof fields, h);
    h = master::fnv1a(&s.seed, sizeof s.seed, h);
    h = master::fnv1a(&sim_origin_ns, sizeof sim_origin_ns, h);
  }
  return h;
}

// The agent a standby (or a primary re-joining through one) runs inside,
// following `target`: the standby section's poll, transport and TLS; the
// master's simulated clock, if any, is that SoM's crystal.
master::StandbySettings standby_settings(const config::MasterConfig& c, const std::string& target,
                                         int64_t sim_origin_ns, bool follow_standby) {
  master::StandbySettings s;
  s.target = target;
  s.follow_standby = follow_standby;
  s.sim_origin_ns = sim_origin_ns;
  config::ClientConfig& a = s.agent;
  a.id = c.id;
  a.master = target;
  a.masters = {target};
  a.transport = c.standby.transport;
  a.poll.min_s = c.standby.poll.min_s;
  a.poll.max_s = c.standby.poll.max_s;
  a.poll.rpc_timeout_s = c.standby.poll.rpc_timeout_s;
  a.alarm.max_error_us = c.standby.max_error_us;
  a.tls = c.standby.tls;
  a.sim_clock = c.sim_clock;
  a.log_level = c.log_level;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  // gRPC's mutexes are Abseil's, and Debian's Abseil checks every lock order
  // against a graph of held locks: 3-4 % of the master's CPU samples under
  // load (perf; docs/BENCHMARKS.md "Master capacity"). A debugging aid, off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  daemon::set_log_program("timesync-master");
  daemon::Options opts;
  const config::MasterConfig cfg =
      daemon::start_daemon(argc, argv, "timesync-master", config::describe_master_schema(),
                           &config::load_master, &opts);
  const Waker waker = daemon::make_waker_or_exit();
  daemon::SignalThread signals(waker);

  const bool realtime = cfg.timebase == config::Timebase::kRealtime && !cfg.sim_clock.enabled;
  std::unique_ptr<TimeSource> source = realtime ? make_realtime_source()
                                                : daemon::make_time_source(cfg.sim_clock,
                                                                           opts.sim_origin_ns);
  const std::string source_name = source->describe();
  const int64_t threshold_ns =
      realtime ? static_cast<int64_t>(cfg.realtime_step_threshold_ms * 1e6) : 0;
  master::MasterTimeline timeline(std::move(source), initial_epoch(cfg, opts.sim_origin_ns),
                                  threshold_ns);

  master::Identity who;
  who.id = daemon::node_id(cfg.id);
  who.instance = daemon::random_instance_id();
  who.realtime = cfg.timebase == config::Timebase::kRealtime;
  who.master_error_ns = static_cast<uint64_t>(cfg.master_error_ns);
  // The external reference (reference.source): its live error, UTC beside the timeline.
  const std::unique_ptr<master::ReferenceSource> reference =
      master::ReferenceSource::start(cfg.reference);
  who.reference = reference.get();

  // What the services serve: this master's own timeline, or the one it
  // follows: a standby's primary (standby.of), or a standby a primary back on
  // a new timeline re-joins through (rejoin.via).
  std::unique_ptr<master::Standby> standby;
  std::unique_ptr<master::Rejoiner> rejoiner;
  std::unique_ptr<master::MasterTimeline> followed;
  if (!cfg.standby.of.empty()) {
    standby = std::make_unique<master::Standby>(
        standby_settings(cfg, cfg.standby.of, opts.sim_origin_ns, false), who.id);
    std::string standby_why;
    if (!standby->start(&standby_why)) {
      TS_LOG_ERROR("%s", standby_why.c_str());
      return daemon::kExitFailure;
    }
    followed = std::make_unique<master::MasterTimeline>(*standby);
    who.role = "standby";
    TS_LOG_INFO("standby of %s: serves its timeline once locked to it, while the error is below "
                "%.1f us",
                cfg.standby.of.c_str(), cfg.standby.max_error_us);
  } else if (!cfg.rejoin.via.empty()) {
    std::string rejoin_why;
    const std::string via = master::find_standby_to_rejoin(cfg.rejoin.via, who.id, cfg.standby.tls,
                                                           cfg.rejoin.wait_s, &rejoin_why);
    if (via.empty()) {
      TS_LOG_INFO("no standby serves '%s' (%s): serving a timeline of its own", who.id.c_str(),
                  rejoin_why.c_str());
    } else {
      auto through = std::make_unique<master::Standby>(
          standby_settings(cfg, via, opts.sim_origin_ns, true), who.id);
      if (!through->start(&rejoin_why)) {
        TS_LOG_ERROR("%s", rejoin_why.c_str());
        return daemon::kExitFailure;
      }
      rejoiner = std::make_unique<master::Rejoiner>(std::move(through), timeline, who.id,
                                                    who.realtime, cfg.rejoin.give_up_s);
      followed = std::make_unique<master::MasterTimeline>(*rejoiner);
      who.role = "standby";
      TS_LOG_WARN("standby %s serves '%s', the fleet's timeline: re-joining it through that "
                  "standby (serving it once locked) instead of starting a new one",
                  via.c_str(), who.id.c_str());
    }
  }
  const master::MasterTimeline& serving = followed ? *followed : timeline;
  const std::string timebase_name(config::to_string(cfg.timebase));
  auto registry = std::make_shared<prometheus::Registry>();
  master::MasterMetrics metrics(*registry, who.id, timebase_name);
  master::BeaconSettings beacon_settings;
  beacon_settings.enabled = cfg.beacon.enabled;
  beacon_settings.rate_hz = cfg.beacon.rate_hz;
  beacon_settings.max_streams = static_cast<size_t>(cfg.beacon.max_streams);
  master::BeaconHub beacons(serving, who, beacon_settings, &metrics);
  master::TimeServiceImpl service(serving, who, &metrics, &beacons);
  std::unique_ptr<master::UdpService> udp;
  if (!cfg.udp.listen.empty()) {
    udp = std::make_unique<master::UdpService>(serving, who, cfg.udp, cfg.tls.enabled(), &metrics);
    std::string udp_why;
    if (!udp->start(&udp_why)) {
      TS_LOG_ERROR("%s", udp_why.c_str());
      return daemon::kExitFailure;
    }
    service.set_udp(udp.get());
    TS_LOG_INFO("UDP exchanges: %s", udp->describe().c_str());
  }

  std::string why;
  std::shared_ptr<grpc::ServerCredentials> credentials = daemon::server_credentials(cfg.tls, &why);
  if (credentials == nullptr) {
    TS_LOG_ERROR("TLS: %s", why.c_str());
    return daemon::kExitFailure;
  }
  // Synchronous handlers (reflection) need few threads; the time service runs
  // on the callback API.
  std::unique_ptr<daemon::GrpcServer> server = daemon::start_grpc_server(
      cfg.listen, {&service}, cfg.worker_threads, std::max(16, 2 * cfg.worker_threads), &why,
      credentials);
  if (server == nullptr) {
    TS_LOG_ERROR("%s", why.c_str());
    return daemon::kExitFailure;
  }
  server->on_self_check([&metrics](int64_t ns, bool ok) { metrics.self_check(ns, ok); });
  const std::unique_ptr<prometheus::Exposer> exposer =
      daemon::serve_metrics_or_exit(cfg.metrics.listen, registry);
  if (cfg.beacon.enabled) {
    TS_LOG_INFO("beacons: %.3f Hz into each of up to %d streams", cfg.beacon.rate_hz,
                cfg.beacon.max_streams);
  }
  if (followed == nullptr) {
    TS_LOG_INFO("serving '%s' on %s (%s): %s timebase from %s, instance %016llx, epoch %016llx",
                who.id.c_str(), cfg.listen.c_str(), daemon::describe(cfg.tls).c_str(),
                timebase_name.c_str(), source_name.c_str(),
                static_cast<unsigned long long>(who.instance),
                static_cast<unsigned long long>(timeline.epoch()));
  } else {
    TS_LOG_INFO("on %s (%s) as a standby, instance %016llx: %s", cfg.listen.c_str(),
                daemon::describe(cfg.tls).c_str(), static_cast<unsigned long long>(who.instance),
                followed->follower()->describe().c_str());
  }
  daemon::ServiceNotifier notifier;
  // A master that cannot take new connections is no master: no keep-alive.
  notifier.set_liveness([&server] { return server->accepting(); });
  notifier.ready("serving " + timebase_name + " timeline on " + cfg.listen + " (" +
                 daemon::describe(cfg.tls) + ")");

  // Housekeeping: look for realtime steps even when no agent asks.
  const std::unique_ptr<TimeSource> ticker = make_monotonic_raw_source();
  int64_t next = ticker->now_ns();
  uint64_t reported = 0;
  int ticks = 0;
  while (!waker.signalled()) {
    timeline.check();
    if (reference) reference->observe(serving, who.realtime);
    metrics.update(service.uptime_s(), timeline.steps());
    metrics.beacons(0, 0, beacons.open_streams());
    notifier.keepalive();
    // Once a second is plenty for systemctl status.
    if (!server->accepting()) {
      notifier.status("not accepting connections on " + cfg.listen +
                      " (out of file descriptors?); health NOT_SERVING");
      reported = 0;
    } else if (followed != nullptr) {
      // A standby: whom it follows and how well, once a second.
      if (ticks % 10 == 0) notifier.status(followed->follower()->describe());
    } else if (const uint64_t served = service.served();
               served / 1000 != reported / 1000 || reported == 0) {
      reported = served;
      notifier.status("serving " + timebase_name + " timeline on " + cfg.listen + ": " +
                      std::to_string(served) + " requests, " + std::to_string(timeline.steps()) +
                      " steps");
    }
    ++ticks;
    next += 100'000'000;
    ticker->sleep_until(next, &waker);
  }
  notifier.stopping();
  beacons.stop();  // ends the streams, so Shutdown need not wait for them
  server->shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  if (udp) udp->stop();
  const daemon::Acceptor::Stats conn = server->connections();
  TS_LOG_INFO("stopped after %llu requests, %llu beacons, %llu UDP exchanges, %llu timeline steps; "
              "%llu connections accepted, %llu refused at the descriptor bound",
              static_cast<unsigned long long>(service.served()),
              static_cast<unsigned long long>(beacons.sent()),
              static_cast<unsigned long long>(udp ? udp->served() : 0),
              static_cast<unsigned long long>(timeline.steps()),
              static_cast<unsigned long long>(conn.accepted),
              static_cast<unsigned long long>(conn.refused));
  return daemon::kExitOk;
}
