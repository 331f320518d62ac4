#include "timesync/daemon/runtime.hpp"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "grpc/health/v1/health.grpc.pb.h"
#include "timesync/daemon/log.hpp"
#include "timesync/timebase/sim_oscillator.hpp"

namespace timesync::daemon {
namespace {

[[noreturn]] void usage(const char* program, const char* why) {
  FILE* out = why != nullptr ? stderr : stdout;
  if (why != nullptr) std::fprintf(out, "%s: %s\n", program, why);
  std::fprintf(out,
               "usage: %s --config FILE.yaml [--sim-origin-ns N] [--check-config]\n"
               "       %s --print-schema\n"
               "  --config FILE        YAML configuration (see --print-schema)\n"
               "  --sim-origin-ns N    CLOCK_MONOTONIC_RAW ns at which simulated clocks start;\n"
               "                       processes sharing a simulated truth pass the same N\n"
               "  --check-config       load and validate the file, then exit\n",
               program, program);
  std::exit(why != nullptr ? kExitUsage : kExitOk);
}

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

bool parse_ns(const std::string& text, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || n < 0) return false;
  *out = n;
  return true;
}

Options parse_options(int argc, char** argv, const char* program, const std::string& schema) {
  Options o;
  o.sim_origin_ns = host_raw_now_ns();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(program, ("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--config") {
      o.config_path = value();
    } else if (a == "--sim-origin-ns") {
      const std::string v = value();
      if (!parse_ns(v, &o.sim_origin_ns)) {
        usage(program, ("--sim-origin-ns needs a non-negative integer, got '" + v + "'").c_str());
      }
    } else if (a == "--check-config") {
      o.check_only = true;
    } else if (a == "--print-schema") {
      std::fputs(schema.c_str(), stdout);
      std::exit(kExitOk);
    } else if (a == "-h" || a == "--help") {
      usage(program, nullptr);
    } else {
      usage(program, ("unknown option '" + a + "'").c_str());
    }
  }
  if (o.config_path.empty()) usage(program, "--config is required");
  return o;
}

void log_and_exit_config(const char* program, const std::string& error) {
  std::fprintf(stderr, "%s: %s\n", program, error.c_str());
  std::exit(kExitConfig);
}

void exit_config_ok(const std::string& path) {
  std::printf("%s: ok\n", path.c_str());
  std::exit(kExitOk);
}

Waker make_waker_or_exit() {
  Result<Waker> w = Waker::create();
  if (!w.ok()) {
    TS_LOG_ERROR("cannot create an eventfd for shutdown signalling");
    std::exit(kExitFailure);
  }
  return std::move(w.value());
}

SignalThread::SignalThread(const Waker& waker) : waker_(waker) {
  sigset_t set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this, set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (done_.load()) return;  // the destructor's wake-up
      if (sig == SIGHUP) {
        TS_LOG_INFO("SIGHUP ignored (the configuration is read at start only)");
        continue;
      }
      received_.store(sig);
      TS_LOG_INFO("%s received, shutting down", strsignal(sig));
      waker_.signal();
    }
  });
}

SignalThread::~SignalThread() {
  done_.store(true);
  // Wake sigwait with a signal aimed at that thread alone.
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

std::unique_ptr<TimeSource> make_time_source(const config::SimClock& sim, int64_t origin_ns) {
  if (!sim.enabled) return make_monotonic_raw_source();
  SimOscillatorParams p;
  p.initial_offset_s = sim.initial_offset_s;
  p.freq_ppm = sim.freq_ppm;
  p.wander_ppb_per_sqrt_s = sim.wander_ppb_per_sqrt_s;
  p.step_every_s = sim.step_every_s;
  p.step_ppm = sim.step_ppm;
  p.step_ramp_s = sim.step_ramp_s;
  p.seed = static_cast<uint64_t>(sim.seed);
  return make_sim_oscillator(p, origin_ns);
}

std::string node_id(const std::string& configured) {
  if (!configured.empty()) return configured;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "unknown";
  return host;
}

uint64_t random_instance_id() {
  uint64_t id = 0;
  while (id == 0) {
    if (getrandom(&id, sizeof id, 0) != static_cast<ssize_t>(sizeof id)) {
      // No entropy source: time and pid still differ between runs.
      id = static_cast<uint64_t>(host_raw_now_ns()) ^ (static_cast<uint64_t>(getpid()) << 40);
    }
  }
  return id;
}

GrpcServer::GrpcServer(std::unique_ptr<grpc::Server> server, std::unique_ptr<Acceptor> acceptor)
    : server_(std::move(server)), acceptor_(std::move(acceptor)) {}

GrpcServer::~GrpcServer() { shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1)); }

void GrpcServer::on_accepting(std::function<void(bool)> f) {
  std::lock_guard<std::mutex> lock(mu_);
  on_accepting_ = std::move(f);
}

void GrpcServer::on_self_check(std::function<void(int64_t, bool)> f) {
  std::lock_guard<std::mutex> lock(mu_);
  on_self_check_ = std::move(f);
}

void GrpcServer::check_itself() {
  constexpr auto kEvery = std::chrono::milliseconds(200);
  auto stub = grpc::health::v1::Health::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, kEvery, [this] { return shut_down_; })) {
    lock.unlock();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    grpc::health::v1::HealthCheckResponse resp;
    const int64_t t0 = host_raw_now_ns();
    const bool ok = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest{}, &resp).ok();
    const int64_t dt = host_raw_now_ns() - t0;
    lock.lock();
    if (on_self_check_) on_self_check_(dt, ok);
  }
}

void GrpcServer::changed(bool accepting) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return;
  server_->GetHealthCheckService()->SetServingStatus("", accepting);
  if (on_accepting_) on_accepting_(accepting);
}

void GrpcServer::shutdown(std::chrono::system_clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  cv_.notify_all();
  if (checker_.joinable()) checker_.join();
  acceptor_->stop();
  server_->Shutdown(deadline);
}

std::unique_ptr<GrpcServer> start_grpc_server(
    const std::string& listen, const std::vector<grpc::Service*>& services, int threads,
    int max_threads, std::string* why, std::shared_ptr<grpc::ServerCredentials> credentials) {
  // Our own listening socket (acceptor.hpp says why), bound first so that a
  // taken port is reported before anything starts.
  std::unique_ptr<Acceptor> acceptor = Acceptor::bind(listen, why);
  if (acceptor == nullptr) return nullptr;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> sink =
      builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
          credentials != nullptr ? credentials : grpc::InsecureServerCredentials());
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 20'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 300'000);
  grpc::ResourceQuota quota("timesync");
  quota.SetMaxThreads(std::max(max_threads, threads + 1));
  builder.SetResourceQuota(quota);
  for (grpc::Service* s : services) builder.RegisterService(s);
  // Pollers pick requests off the wire and run the synchronous handlers; gRPC
  // adds threads beyond them on demand (a WatchAlarms stream holds one while
  // it is open), up to the quota.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, threads);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr) {
    if (why != nullptr) *why = "cannot start the gRPC server on '" + listen + "'";
    return nullptr;
  }
  auto out = std::make_unique<GrpcServer>(std::move(server), std::move(acceptor));
  GrpcServer* raw = out.get();
  out->acceptor_->start(std::move(sink), [raw](bool accepting) { raw->changed(accepting); });
  out->checker_ = std::thread([raw] { raw->check_itself(); });
  return out;
}

}  // namespace timesync::daemon
