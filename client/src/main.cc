// timesync-agent: keeps this SoM's shared segment synchronized to the master.
//
//   timesync-agent --config /etc/timesync/client.yaml
//
// Exit codes: 0 after SIGINT/SIGTERM, 64 bad command line, 78 bad config,
// 1 runtime failure (segment held by another agent, port taken, ...).
#include <cstdio>
#include <string>

#include "agent.hpp"
#include "agent_service.hpp"
#include "auto_link.hpp"
#include "grpc_link.hpp"
#include "udp_link.hpp"
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
  grpc::ChannelArguments channel_args;
  daemon::add_tls_channel_args(cfg.tls, &channel_args);
  agent::GrpcLink grpc_link({cfg.master, id, cfg.poll.rpc_timeout_s, daemon::describe(cfg.tls)},
                            agent::make_master_channel(cfg.master, credentials, channel_args),
                            *local);
  agent::SegmentPublisher publisher(*writer.value());
  // The transport: gRPC alone, or UDP (kernel timestamps) with gRPC for
  // discovery and keys, and as the fallback in auto.
  agent::UdpLink udp_link({cfg.master, cfg.udp.master, cfg.udp.timestamping, cfg.udp.interface,
                           cfg.poll.rpc_timeout_s, cfg.tls.enabled()},
                          *local, grpc_link);
  agent::AutoLink auto_link(grpc_link, udp_link, *local,
                            {cfg.transport == config::Transport::kUdp, cfg.udp.retry_s, 3});
  agent::MasterLink& link = cfg.transport == config::Transport::kGrpc
                                ? static_cast<agent::MasterLink&>(grpc_link)
                                : static_cast<agent::MasterLink&>(auto_link);
  agent::Agent agent(cfg, id, *local, publisher, alarms, link, &metrics, &notifier);
  std::unique_ptr<agent::BeaconStream> beacons;
  if (cfg.beacon.enabled) {
    beacons = std::make_unique<agent::BeaconStream>(grpc_link.stub(), *local, id);
    agent.set_beacons(beacons.get());
  }
  agent::AgentServiceImpl service(agent, alarms);
  std::unique_ptr<grpc::Server> server =
      daemon::start_grpc_server(cfg.listen, {&service}, 2, &why);
  if (server == nullptr) {
    TS_LOG_ERROR("%s", why.c_str());
    return daemon::kExitFailure;
  }
  // Health: "" is SERVING while the process runs; the AgentService entry says
  // whether applications get timestamps right now.
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  const std::string kService = v1::AgentService::service_full_name();
  health->SetServingStatus(kService, false);
  agent.set_on_state([health, kService, last = -1](ClockStatus s) mutable {
    const int serving = s == ClockStatus::kSynchronized || s == ClockStatus::kHoldover;
    if (serving != last) health->SetServingStatus(kService, serving != 0);
    last = serving;
  });
  const std::unique_ptr<prometheus::Exposer> exposer =
      daemon::serve_metrics_or_exit(cfg.metrics.listen, registry);
  TS_LOG_INFO("local service on %s; master %s over %s", cfg.listen.c_str(), cfg.master.c_str(),
              daemon::describe(cfg.tls).c_str());
  // Ready: the segment exists (readers get "unsynchronized" until the first
  // lock) and the local service answers.
  notifier.ready("unsynchronized: waiting for " + cfg.master);

  agent.run(waker);
  notifier.stopping();

  alarms.close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  writer.value().reset();  // marks the segment unsynchronized
  TS_LOG_INFO("stopped; %s marked unsynchronized", cfg.segment.c_str());
  return daemon::kExitOk;
}
