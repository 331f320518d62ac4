// chronyd -x as a real process for integration tests (issue 18): it never
// touches the host clock, so every chronyd here shares this host's
// CLOCK_REALTIME and the truth stays exact. Each runs in DIR/NAME/ with its
// own command socket, pid file and drift file, as root (-u root), with no NTP
// port unless the test gives it one and no UDP command port.
//
// Thread safety: none; a test drives its chronyds from one thread.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "support/process.hpp"

namespace timesync::testing {

inline constexpr const char* kChronydBin = "/usr/sbin/chronyd";

class Chronyd {
 public:
  // `config`: chrony.conf lines after the pidfile, driftfile and command socket.
  Chronyd(const std::string& dir, const std::string& name, std::string config)
      : dir_(dir + "/" + name), config_(std::move(config)) {
    ::mkdir(dir_.c_str(), 0700);  // chronyd refuses a socket directory open to others
  }
  ~Chronyd() { stop(); }
  Chronyd(const Chronyd&) = delete;
  Chronyd& operator=(const Chronyd&) = delete;

  // Starts (or restarts) it; true once its command socket exists.
  bool start() {
    stop();
    const std::string conf = dir_ + "/chronyd.conf";
    write_file(conf, "pidfile " + dir_ + "/chronyd.pid\ndriftfile " + dir_ + "/drift\nbindcmdaddress " +
                         socket() + "\ncmdport 0\n" + config_);
    ::unlink(socket().c_str());
    process_ = Process({kChronydBin, "-x", "-d", "-u", "root", "-f", conf}, log_path());
    return eventually([&] { return ::access(socket().c_str(), F_OK) == 0; }, std::chrono::seconds(20),
                      std::chrono::milliseconds(20));
  }
  // SIGTERM, then SIGKILL after 5 s; reaped.
  void stop() {
    if (!process_.running()) {
      process_ = Process();
      return;
    }
    process_.signal(SIGTERM);
    if (process_.wait(std::chrono::seconds(5)) < 0) process_ = Process();
  }
  bool running() const { return process_.running(); }
  std::string socket() const { return dir_ + "/chronyd.sock"; }
  std::string log_path() const { return dir_ + "/chronyd.log"; }
  std::string log() const { return read_file(log_path()); }

 private:
  std::string dir_;
  std::string config_;
  Process process_;
};

// chrony.conf lines of a server on 127.0.0.1:port serving its own clock at stratum 8.
inline std::string chrony_local_server(int port) {
  return "port " + std::to_string(port) + "\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 8\n";
}
// chrony.conf lines of a client of that server, polling every 1/16 s, no NTP port of its own.
inline std::string chrony_client_of(int port) {
  return "port 0\nserver 127.0.0.1 port " + std::to_string(port) + " iburst minpoll -4 maxpoll -4\n";
}

}  // namespace timesync::testing
