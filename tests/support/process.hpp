// Real processes for integration tests: spawn a daemon, signal it, wait for it
// with a deadline, read what it logged. No shell in between.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace timesync::testing {

// The whole file; "" when it cannot be read.
inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Process {
 public:
  Process() = default;
  // Starts argv with stdout and stderr appended to log_path.
  Process(std::vector<std::string> argv, const std::string& log_path) : log_(log_path) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    if (pid_ <= 0) throw std::runtime_error("cannot start " + argv[0]);
  }
  Process(Process&& o) noexcept { *this = std::move(o); }
  Process& operator=(Process&& o) noexcept {
    std::swap(pid_, o.pid_);
    std::swap(log_, o.log_);
    return *this;
  }
  ~Process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  void signal(int sig) const {
    if (pid_ > 0) kill(pid_, sig);
  }
  // Exit status (or 128 + signal); -1 if still running at the deadline.
  int wait(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      int st = 0;
      const pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() > end) return -1;
      const timespec ts{0, 2'000'000};
      nanosleep(&ts, nullptr);
    }
    return -1;
  }
  bool running() const { return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::string log() const { return read_file(log_); }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// Runs argv to completion; returns the exit status and fills *output.
inline int run_to_exit(std::vector<std::string> argv, const std::string& log_path,
                       std::string* output) {
  Process p(std::move(argv), log_path);
  const int rc = p.wait(std::chrono::seconds(30));
  *output = p.log();
  return rc;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
inline int free_port(int type = SOCK_STREAM) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    throw std::runtime_error("no free port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

// A UDP port nobody is bound to on loopback now.
inline int free_udp_port() { return free_port(SOCK_DGRAM); }

// Polls `done` every `every` (a millisecond unless said) until it holds or
// the timeout passes. This waits for a condition; it never stands in for one.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds every = std::chrono::milliseconds(1)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  const timespec ts{static_cast<time_t>(every.count() / 1000),
                    static_cast<long>(every.count() % 1000) * 1'000'000};
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    nanosleep(&ts, nullptr);
  }
  return true;
}

inline std::string make_temp_dir() {
  char tmpl[] = "/tmp/timesync-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace timesync::testing
