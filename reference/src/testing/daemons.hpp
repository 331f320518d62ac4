// Test equipment for reference/ (never installed): temporary directories,
// daemons run as child processes, network namespaces, a fake datagram server,
// bounded polling. Waiting is always polling a condition with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace timesync::reference::testing {

// A directory /tmp/<tag>-XXXXXX with `mode`, removed with its contents.
class TempDir {
 public:
  explicit TempDir(const std::string& tag, mode_t mode = 0755);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

// A child process with stdout and stderr in `log_path`; the destructor stops it
// (SIGTERM, SIGKILL after 5 s) and reaps it.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  bool running();  // false once it has exited (reaped)
  void stop();
  std::string log() const;  // the last 4 KiB of its output

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

// Calls `cond` every `interval` until it is true (returns true) or `timeout`
// has passed (returns false).
bool poll_until(std::chrono::nanoseconds timeout, const std::function<bool()>& cond,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

uint16_t free_udp_port();  // on 127.0.0.1: bound, read and released
bool run(const std::string& command);  // `sh -c`, output discarded; true on exit status 0

// Network namespace ts-ref-<pid>-<suffix>, deleted (with its devices) by the destructor.
class NetNs {
 public:
  explicit NetNs(const std::string& suffix);
  ~NetNs();
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool ok_ = false;
};
// Deletes ts-ref-<pid>-* namespaces whose pid no longer runs (a killed earlier run).
void remove_stale_namespaces();

// The kernel clock's discipline state, read with adjtimex (modes 0).
struct KernelClock {
  long freq = 0;
  int status = 0;
  long tick = 0;
  long offset = 0;
  long constant = 0;
  bool operator==(const KernelClock&) const = default;
};
KernelClock read_kernel_clock();
std::string to_string(const KernelClock& k);

// A Unix datagram socket bound at `path`: a daemon stand-in answering from tests.
class FakeDgramServer {
 public:
  explicit FakeDgramServer(const std::string& path);
  ~FakeDgramServer();
  FakeDgramServer(const FakeDgramServer&) = delete;
  FakeDgramServer& operator=(const FakeDgramServer&) = delete;
  bool ok() const { return fd_ >= 0; }

  struct Datagram {
    std::vector<uint8_t> bytes;
    std::string from;  // the sender's bound path
  };
  std::optional<Datagram> receive(std::chrono::milliseconds timeout);
  bool send_to(const std::string& path, const std::vector<uint8_t>& bytes);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace timesync::reference::testing
