// timesync-master and timesync-agent as real processes for integration tests.
// Each daemon has a name in the test's directory: it writes DIR/NAME.yaml
// (role, id, its own loopback port, plus what the test adds), logs to
// DIR/NAME.log and, for an agent, publishes DIR/NAME.segment.
//
// The binaries are the including target's TIMESYNC_MASTER_BIN and
// TIMESYNC_AGENT_BIN (timesync_daemon_test in tests/integration/CMakeLists.txt).
// No gRPC here: support/rpc.hpp asks the daemons questions.
// Thread safety: none; a test drives its daemons from one thread.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>

#include "support/process.hpp"

#if !defined(TIMESYNC_MASTER_BIN) || !defined(TIMESYNC_AGENT_BIN)
#error "support/daemons.hpp needs TIMESYNC_MASTER_BIN and TIMESYNC_AGENT_BIN"
#endif

namespace timesync::testing {

inline std::string loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// An agent on a simulated crystal 35 ppm fast and 250 ms off, polling every
// 0.05-0.5 s: what most integration tests run.
inline const std::string kSimulatedAgent =
    "poll: {min_s: 0.05, max_s: 0.5, rpc_timeout_s: 0.5}\n"
    "sim_clock: {enabled: true, freq_ppm: 35, initial_offset_s: 0.25}\n";

class Daemon {
 public:
  int port() const { return port_; }
  std::string target() const { return loopback(port_); }
  std::string config_path() const { return dir_ + "/" + name_ + ".yaml"; }
  std::string log_path() const { return dir_ + "/" + name_ + ".log"; }
  const std::string& name() const { return name_; }

  void signal(int sig) const { process_.signal(sig); }
  int wait(std::chrono::milliseconds timeout) { return process_.wait(timeout); }
  bool running() const { return process_.running(); }
  std::string log() const { return read_file(log_path()); }
  // SIGKILL, and reaped; a no-op when it is not running.
  void stop() { process_ = Process(); }

 protected:
  Daemon(std::string dir, std::string name)
      : dir_(std::move(dir)), name_(std::move(name)), port_(free_port()) {}
  // Writes the configuration and starts the binary on it (a running one is
  // killed first). The log is appended to, across restarts.
  void launch(const char* binary, const std::string& yaml) {
    stop();
    write_file(config_path(), yaml);
    process_ = Process({binary, "--config", config_path()}, log_path());
  }
  const std::string dir_, name_;
  const int port_;
  Process process_;
};

class MasterProcess : public Daemon {
 public:
  explicit MasterProcess(std::string dir, std::string name = "master")
      : Daemon(std::move(dir), std::move(name)) {}
  // role, id and listen, then `extra` (YAML lines, each ending in "\n").
  void start(const std::string& extra = "", const std::string& id = "test-master") {
    // The UDP service on a port of its own (the default, 7452, would collide
    // between masters of tests running at once), unless the test says.
    if (udp_port_ == 0) udp_port_ = free_udp_port();
    const std::string udp = extra.find("udp:") == std::string::npos
                                ? "udp: {listen: \"127.0.0.1:" + std::to_string(udp_port_) + "\"}\n"
                                : "";
    launch(TIMESYNC_MASTER_BIN,
           "role: master\nid: " + id + "\nlisten: \"" + target() + "\"\n" + udp + extra);
  }
  int udp_port() const { return udp_port_; }

 private:
  int udp_port_ = 0;
};

class AgentProcess : public Daemon {
 public:
  AgentProcess(std::string dir, std::string master_target, std::string name = "agent")
      : Daemon(std::move(dir), std::move(name)), master_(std::move(master_target)) {}
  std::string segment() const { return dir_ + "/" + name_ + ".segment"; }
  // role, id, master, listen and segment, then `extra` (YAML lines, each
  // ending in "\n"; kSimulatedAgent for most tests).
  // A master target starting with '[' is a YAML list of masters, as is.
  void start(const std::string& extra, const std::string& id = "test-agent") {
    const std::string master = master_.front() == '[' ? master_ : "\"" + master_ + "\"";
    launch(TIMESYNC_AGENT_BIN, "role: client\nid: " + id + "\nmaster: " + master +
                                   "\nlisten: \"" + target() + "\"\nsegment: " + segment() +
                                   "\n" + extra);
  }

 private:
  const std::string master_;
};

// A fixture with a temporary directory, one master and one agent of it. On
// failure both logs are printed; the directory is removed in any case.
class MasterAndAgent : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- master log ---\n" << master_.log() << "--- agent log ---\n"
                << agent_.log();
    }
    master_.stop();
    agent_.stop();
    std::filesystem::remove_all(dir_);
  }

  const std::string dir_ = make_temp_dir();
  MasterProcess master_{dir_};
  AgentProcess agent_{dir_, master_.target()};
};

}  // namespace timesync::testing
