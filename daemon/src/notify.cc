#include "timesync/daemon/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include "timesync/daemon/log.hpp"

namespace timesync::daemon {
namespace {
int64_t steady_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}
}  // namespace

ServiceNotifier::ServiceNotifier() {
  uint64_t usec = 0;
  // unset_environment = 0: the daemons start no children, so leaving the
  // variables in place costs nothing.
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    every_ns_ = static_cast<int64_t>(usec) * 1000 / 2;
    TS_LOG_INFO("systemd watchdog: %.1f s, keep-alive every %.1f s",
                static_cast<double>(usec) / 1e6, static_cast<double>(every_ns_) / 1e9);
  }
}

void ServiceNotifier::ready(const std::string& status) {
  last_status_ = status;
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
  last_ns_ = steady_now_ns();
  if (every_ns_ > 0) sd_notify(0, "WATCHDOG=1");
}

void ServiceNotifier::status(const std::string& text) {
  if (text == last_status_) return;
  last_status_ = text;
  sd_notifyf(0, "STATUS=%s", text.c_str());
}

void ServiceNotifier::stopping() { sd_notify(0, "STOPPING=1"); }

void ServiceNotifier::keepalive() {
  if (every_ns_ == 0) return;
  const int64_t now = steady_now_ns();
  if (now - last_ns_ < every_ns_) return;
  if (alive_ && !alive_()) {
    if (!withheld_) TS_LOG_ERROR("withholding the watchdog keep-alive: not accepting connections");
    withheld_ = true;
    return;
  }
  if (withheld_) TS_LOG_INFO("watchdog keep-alives resumed");
  withheld_ = false;
  last_ns_ = now;
  sd_notify(0, "WATCHDOG=1");
}

}  // namespace timesync::daemon
