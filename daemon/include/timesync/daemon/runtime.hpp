// What timesync-master and timesync-agent share: command line, shutdown
// signals, the clock they run on, and how their gRPC servers are built.
//
// Thread safety: see each declaration.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "timesync/config/config.hpp"
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

// Builds and starts a gRPC server on `listen` with the given services, the
// default health service (overall status SERVING) and server reflection.
// nullptr and *why on failure (address in use, bad address). Null
// credentials: plaintext.
std::unique_ptr<grpc::Server> start_grpc_server(
    const std::string& listen, const std::vector<grpc::Service*>& services, int threads,
    std::string* why, std::shared_ptr<grpc::ServerCredentials> credentials = nullptr);

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
