// systemd service notification (sd_notify(3)) for Type=notify units:
// readiness once the service answers, a one-line status for `systemctl status`,
// STOPPING=1 on shutdown, and watchdog keep-alives at half of WatchdogSec=.
// Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op.
//
// The keep-alive is sent from the loop that does the daemon's work, never from
// a thread of its own, so a stuck loop is what the watchdog sees and restarts.
// It is also withheld while the liveness check says no (the daemon's gRPC
// server cannot accept connections): alive but useless is restarted too.
//
// Thread safety: one thread calls keepalive() and status(); ready() and
// stopping() may come from another, before and after that loop.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace timesync::daemon {

class ServiceNotifier {
 public:
  ServiceNotifier();  // reads WATCHDOG_USEC/WATCHDOG_PID for this process

  void ready(const std::string& status);
  // Sends STATUS=... when the text differs from the last one sent.
  void status(const std::string& text);
  void stopping();
  // WATCHDOG=1 if half the watchdog interval has passed since the last one
  // and the liveness check (if any) holds.
  void keepalive();
  // A check keepalive() consults, e.g. GrpcServer::accepting(). Set it before
  // the loop starts; it is called from keepalive()'s thread.
  void set_liveness(std::function<bool()> alive) { alive_ = std::move(alive); }
  // How often the caller's loop must call keepalive() at least; 0: no watchdog.
  int64_t keepalive_every_ns() const { return every_ns_; }

 private:
  std::function<bool()> alive_;
  bool withheld_ = false;
  int64_t every_ns_ = 0;
  int64_t last_ns_ = 0;
  std::string last_status_;
};

}  // namespace timesync::daemon
