// What timesync-master and timesync-agent share: command line, shutdown
// signals, the clock they run on, and how their gRPC servers are built.
//
// Thread safety: see each declaration.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "timesync/config/config.hpp"
#include "timesync/daemon/acceptor.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::daemon {

// Exit codes, as sysexits(3) would have them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 64;    // bad command line
inline constexpr int kExitConfig = 78;   // bad configuration file
inline constexpr int kExitFailure = 1;   // runtime failure (port taken, segment locked, ...)

struct Options {
  std::string config_path;
  // Host CLOCK_MONOTONIC_RAW instant at which simulated clocks start (their
  // initial offset applies there). Processes that must share a simulated truth
  // (a test bed, the demo) pass the same value; default: this process's start.
  int64_t sim_origin_ns = 0;
  bool check_only = false;  // --check-config: load, report, exit
};

// A non-negative decimal integer that fits int64 (e.g. --sim-origin-ns), parsed
// as an integer so ns values never round through a double. False otherwise.
bool parse_ns(const std::string& text, int64_t* out);

// Parses --config PATH [--sim-origin-ns N] [--check-config] [--help]
// [--print-schema]. --help and --print-schema print and exit 0; a usage error
// prints to stderr and exits kExitUsage. `schema` is the role's
// describe_*_schema() text.
Options parse_options(int argc, char** argv, const char* program, const std::string& schema);

// The start every daemon shares: parse the command line, load the config with
// `load` (on error: "program: file:line: ..." on stderr, exit kExitConfig; with
// --check-config: "file: ok", exit 0), set the log level.
template <class Config>
Config start_daemon(int argc, char** argv, const char* program, const std::string& schema,
                    config::Loaded<Config> (*load)(const std::string&), Options* opts);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and, through
// inheritance, in every thread it starts later (call it first in main), then
// waits for them on a thread of its own: SIGINT/SIGTERM signal `waker`
// (shutdown), SIGHUP is logged and ignored. Joined by the destructor.
class SignalThread {
 public:
  explicit SignalThread(const Waker& waker);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;
  int received() const { return received_.load(); }  // last shutdown signal, 0 if none

 private:
  const Waker& waker_;
  std::thread thread_;
  std::atomic<int> received_{0};
  std::atomic<bool> done_{false};
};

// CLOCK_MONOTONIC_RAW, or the simulated oscillator the section describes,
// started at origin_ns. Never null: the config loader has range-checked sim.
std::unique_ptr<TimeSource> make_time_source(const config::SimClock& sim, int64_t origin_ns);

// The configured id, or the hostname when it is empty.
std::string node_id(const std::string& configured);

// A random 64-bit id for this process run (getrandom; never 0).
uint64_t random_instance_id();

// A running gRPC server and the Acceptor (acceptor.hpp) that feeds it
// connections. Its health service's overall status ("") follows accepting():
// NOT_SERVING while the server cannot take a new connection.
//
// Limits, so that no client can take the daemon's descriptors, threads or
// memory: connections stay below the soft RLIMIT_NOFILE minus a reserve (the
// Acceptor); a connection that has not finished its HTTP/2 (and TLS)
// handshake within 20 s is closed (gRPC's default is 120 s), one with no call
// for 5 minutes gets a GOAWAY (agents ask at least every minute; a beacon
// stream is a call); the synchronous handlers get at most `max_threads`
// threads, beyond which a call is answered RESOURCE_EXHAUSTED.
//
// The server also asks itself a grpc.health Check every 200 ms over gRPC's
// in-process transport. Without it, a gRPC 1.51 server that has had no call
// for about a second answers the next one late, by up to 100 ms, in a
// sawtooth of period ~1.1 s (issue 17, item 7). Measured on a master
// (docs/BENCHMARKS.md): whichever method comes first after the pause stalls,
// grpc.health Check included, with synchronous and callback handlers alike,
// and not at all while another client calls every 100 ms, nor with these
// checks. The likeliest mechanism, not traced in gRPC's code: threads that
// poll for I/O give up after a second without events and sleep 100 ms
// before polling again (as CallbackAlternativeCQ's threads in
// completion_queue_cc.cc do); a call every 200 ms keeps them from timing
// out. The round trips are reported to on_self_check().
//
// Thread safety: shutdown() from one thread; the rest from any.
class GrpcServer {
 public:
  GrpcServer(std::unique_ptr<grpc::Server> server, std::unique_ptr<Acceptor> acceptor);
  ~GrpcServer();  // shutdown() with a second's grace
  grpc::Server& server() { return *server_; }
  grpc::HealthCheckServiceInterface* health() { return server_->GetHealthCheckService(); }
  bool accepting() const { return acceptor_->accepting(); }
  Acceptor::Stats connections() const { return acceptor_->stats(); }
  // Called (on the acceptor's thread) after the health status "" followed a
  // change of accepting(). Set before the first change can happen, i.e.
  // right after start_grpc_server.
  void on_accepting(std::function<void(bool)> f);
  // Called (on the checking thread) with each self check's round trip in ns
  // and whether it succeeded within a second.
  void on_self_check(std::function<void(int64_t, bool)> f);
  // Stops accepting, then shuts the server down: calls still running after
  // `deadline` are cancelled. Idempotent.
  void shutdown(std::chrono::system_clock::time_point deadline);

 private:
  friend std::unique_ptr<GrpcServer> start_grpc_server(
      const std::string&, const std::vector<grpc::Service*>&, int, int, std::string*,
      std::shared_ptr<grpc::ServerCredentials>);
  void changed(bool accepting);
  void check_itself();

  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Acceptor> acceptor_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void(bool)> on_accepting_;
  std::function<void(int64_t, bool)> on_self_check_;
  bool shut_down_ = false;
  std::thread checker_;
};

// Builds and starts a gRPC server on `listen` with the given services, the
// default health service (overall status SERVING) and server reflection.
// `threads` pollers serve synchronous handlers (callback-API methods run on
// gRPC's own threads), at most `max_threads` threads in all. nullptr and
// *why on failure (address in use, bad address). Null credentials:
// plaintext.
std::unique_ptr<GrpcServer> start_grpc_server(
    const std::string& listen, const std::vector<grpc::Service*>& services, int threads,
    int max_threads, std::string* why,
    std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

// A waker for shutdown; exits kExitFailure if the kernel has no eventfd left.
Waker make_waker_or_exit();

void log_and_exit_config(const char* program, const std::string& error);
void exit_config_ok(const std::string& path);

template <class Config>
Config start_daemon(int argc, char** argv, const char* program, const std::string& schema,
                    config::Loaded<Config> (*load)(const std::string&), Options* opts) {
  *opts = parse_options(argc, argv, program, schema);
  config::Loaded<Config> loaded = load(opts->config_path);
  if (!loaded.ok()) log_and_exit_config(program, loaded.error);
  if (opts->check_only) exit_config_ok(opts->config_path);
  set_log_level(loaded.value->log_level);
  return std::move(*loaded.value);
}

}  // namespace timesync::daemon
