// timesync-agent: keeps this SoM's shared segment synchronized to the master.
//
//   timesync-agent --config /etc/timesync/client.yaml
//
// Exit codes: 0 after SIGINT/SIGTERM, 64 bad command line, 78 bad config,
// 1 runtime failure (segment held by another agent, port taken, ...).
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "agent.hpp"
#include "agent_service.hpp"
#include "counter_host.hpp"
#include "counter_publisher.hpp"
#include "failover_link.hpp"
#include "link_stack.hpp"
#include "publisher.hpp"
#include "timesync/config/config.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/daemon/metrics.hpp"
#include "timesync/daemon/notify.hpp"
#include "timesync/daemon/runtime.hpp"
#include "timesync/daemon/tls.hpp"

int main(int argc, char** argv) {
  using namespace timesync;
  daemon::set_log_program("timesync-agent");
  daemon::Options opts;
  const config::ClientConfig cfg =
      daemon::start_daemon(argc, argv, "timesync-agent", config::describe_client_schema(),
                           &config::load_client, &opts);
  const Waker waker = daemon::make_waker_or_exit();
  daemon::SignalThread signals(waker);

  std::string why;
  Result<std::unique_ptr<SegmentWriter>> writer = SegmentWriter::create(cfg.segment, &why);
  if (!writer.ok()) {
    TS_LOG_ERROR("cannot publish into %s: %s", cfg.segment.c_str(), why.c_str());
    return daemon::kExitFailure;
  }
  TS_LOG_INFO("segment %s: %s", cfg.segment.c_str(), writer.value()->sharing().c_str());
  const std::unique_ptr<TimeSource> local =
      daemon::make_time_source(cfg.sim_clock, opts.sim_origin_ns);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      daemon::channel_credentials(cfg.tls, &why);
  if (credentials == nullptr) {
    TS_LOG_ERROR("TLS: %s", why.c_str());
    return daemon::kExitFailure;
  }
  const std::string id = daemon::node_id(cfg.id);
  auto registry = std::make_shared<prometheus::Registry>();
  agent::AlarmHub alarms;
  daemon::ServiceNotifier notifier;
  agent::AgentMetrics metrics(*registry, id, cfg.master, std::string(config::to_string(cfg.servo.type)),
                              cfg.alarm.max_error_us / 1e6);
  agent::SegmentPublisher segment_publisher(*writer.value());
  // The CPU counter's map for readers (issue 20), where it is safe.
  // auto trusts the kernel's word (its clocksource is the counter) and asks
  // again at every publication; on needs the CPUs compared.
  std::unique_ptr<agent::CounterPublisher> counter_publisher;
  const agent::CounterFacts facts = agent::read_counter_facts();
  std::string no_counter = agent::counter_refusal(cfg.counter, facts);
  bool compared = false;
  if (no_counter.empty()) no_counter = agent::check_counter_across_cpus(&compared);
  if (no_counter.empty() && !compared && cfg.counter == config::CounterUse::kOn) {
    no_counter = "counter: on needs the CPUs' counters compared, and this agent runs on one "
                 "CPU only or cannot move between them";
  }
  if (!no_counter.empty()) {
    if (cfg.counter != config::CounterUse::kOff) {
      TS_LOG_WARN("readers call clock_gettime: %s", no_counter.c_str());
    }
  } else {
    std::function<std::string()> still_allowed;
    if (cfg.counter == config::CounterUse::kAuto) {
      still_allowed = [was = facts.clocksource] {
        const std::string now = agent::read_clocksource();
        return now == was ? std::string()
                          : "the kernel switched its clocksource from " + was + " to " + now;
      };
    }
    counter_publisher = std::make_unique<agent::CounterPublisher>(
        segment_publisher, agent::CounterCalibrator::Options{}, std::move(still_allowed));
  }
  agent::Publisher& publisher = counter_publisher
                                    ? static_cast<agent::Publisher&>(*counter_publisher)
                                    : static_cast<agent::Publisher&>(segment_publisher);
  // chrony_refclock: every publication also goes to the SoM's chronyd (issue 18).
  std::unique_ptr<agent::ChronyRefclockPublisher> refclock;
  const agent::Agent* refclock_agent = nullptr;
  if (!cfg.chrony_refclock.socket.empty()) {
    const reference::ChronySockRefclock::Params rp{cfg.chrony_refclock.socket,
                                                   std::llround(cfg.chrony_refclock.max_error_us * 1e3)};
    auto w = reference::ChronySockRefclock::open(rp);
    if (!w.ok()) {
      TS_LOG_ERROR("chrony_refclock: %s", w.status().message().c_str());
      return daemon::kExitFailure;
    }
    refclock = std::make_unique<agent::ChronyRefclockPublisher>(
        publisher, *local, std::move(*w), [&refclock_agent]() -> const agent::MasterInfo& {
          static const agent::MasterInfo kNone;
          return refclock_agent != nullptr ? refclock_agent->master() : kNone;
        });
    TS_LOG_INFO("chrony refclock: chrony.conf needs '%s'",
                reference::ChronySockRefclock::chrony_conf_line(rp).c_str());
  }
  // One link stack per master (gRPC, or UDP with gRPC for discovery, keys and
  // fallback); several masters sit behind a FailoverLink that follows one
  // timeline and probes the others.
  std::vector<std::unique_ptr<agent::LinkStack>> stacks;
  for (const std::string& target : cfg.masters) {
    stacks.push_back(std::make_unique<agent::LinkStack>(cfg, target, id, credentials, *local));
  }
  std::unique_ptr<agent::FailoverLink> failover;
  if (stacks.size() > 1) {
    std::vector<agent::FailoverLink::Member> members;
    for (const auto& st : stacks) members.push_back({st->target(), &st->link()});
    failover = std::make_unique<agent::FailoverLink>(
        std::move(members), *local,
        agent::FailoverOptions{cfg.failover.probe_every_s, cfg.failover.failures_to_switch,
                               cfg.failover.hold_down_s});
  }
  agent::MasterLink& link =
      failover != nullptr ? static_cast<agent::MasterLink&>(*failover) : stacks.front()->link();
  agent::Publisher& out =
      refclock ? static_cast<agent::Publisher&>(*refclock) : static_cast<agent::Publisher&>(publisher);
  agent::Agent agent(cfg, id, *local, out, alarms, link, &metrics, &notifier);
  refclock_agent = &agent;
  std::unique_ptr<agent::BeaconStream> beacons;
  if (cfg.beacon.enabled) {
    // Beacons come from the first master only.
    beacons = std::make_unique<agent::BeaconStream>(stacks.front()->grpc().stub(), *local, id);
    agent.set_beacons(beacons.get());
  }
  agent::AgentServiceImpl service(agent, alarms, refclock.get(), [&counter_publisher, no_counter] {
    return counter_publisher ? counter_publisher->describe() : "clock_gettime: " + no_counter;
  });
  // Health: "" is SERVING while the local service accepts connections; the
  // AgentService entry while, as well, applications get timestamps. The agent
  // loop and the acceptor's thread both change it.
  struct Serving {
    std::mutex mu;
    bool synced = false;
    bool accepting = true;
  } serving;
  // Each open WatchAlarms stream holds a thread: 64 in all.
  std::unique_ptr<daemon::GrpcServer> server =
      daemon::start_grpc_server(cfg.listen, {&service}, 2, 64, &why);
  if (server == nullptr) {
    TS_LOG_ERROR("%s", why.c_str());
    return daemon::kExitFailure;
  }
  grpc::HealthCheckServiceInterface* health = server->health();
  const std::string kService = v1::AgentService::service_full_name();
  health->SetServingStatus(kService, false);
  agent.set_on_state([&serving, health, kService](ClockStatus s) {
    const bool synced = s == ClockStatus::kSynchronized || s == ClockStatus::kHoldover;
    std::lock_guard<std::mutex> lock(serving.mu);
    if (synced == serving.synced) return;
    serving.synced = synced;
    health->SetServingStatus(kService, serving.synced && serving.accepting);
  });
  server->on_accepting([&serving, health, kService](bool accepting) {
    std::lock_guard<std::mutex> lock(serving.mu);
    serving.accepting = accepting;
    health->SetServingStatus(kService, serving.synced && serving.accepting);
  });
  // An agent whose local service cannot take connections gets restarted.
  notifier.set_liveness([&server] { return server->accepting(); });
  const std::unique_ptr<prometheus::Exposer> exposer =
      daemon::serve_metrics_or_exit(cfg.metrics.listen, registry);
  std::string all_masters;
  for (const std::string& m : cfg.masters) all_masters += (all_masters.empty() ? "" : ", ") + m;
  TS_LOG_INFO("local service on %s; master%s %s over %s", cfg.listen.c_str(),
              cfg.masters.size() > 1 ? "s (in order)" : "", all_masters.c_str(),
              daemon::describe(cfg.tls).c_str());
  // Ready: the segment exists (readers get "unsynchronized" until the first
  // lock) and the local service answers.
  notifier.ready("unsynchronized: waiting for " + all_masters);

  agent.run(waker);
  notifier.stopping();

  alarms.close();
  server->shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  writer.value().reset();  // marks the segment unsynchronized
  TS_LOG_INFO("stopped; %s marked unsynchronized", cfg.segment.c_str());
  return daemon::kExitOk;
}
