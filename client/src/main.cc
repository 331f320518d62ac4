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
#include "timesync/config/config.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/daemon/runtime.hpp"

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
  agent::AlarmHub alarms;
  agent::Agent agent(cfg, daemon::node_id(cfg.id), *local, *writer.value(), alarms);
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
  agent.set_on_state([health, kService, last = -1](v1::SyncState s) mutable {
    const int serving = s == v1::SYNC_STATE_SYNCHRONIZED || s == v1::SYNC_STATE_HOLDOVER;
    if (serving != last) health->SetServingStatus(kService, serving != 0);
    last = serving;
  });
  TS_LOG_INFO("local service on %s", cfg.listen.c_str());

  agent.run(waker);

  alarms.close();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  writer.value().reset();  // marks the segment unsynchronized
  TS_LOG_INFO("stopped; %s marked unsynchronized", cfg.segment.c_str());
  return daemon::kExitOk;
}
