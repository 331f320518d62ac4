// timesyncctl waitsync: exit 0 once this SoM's clock serves timestamps within
// --max-error, for scripts and units that must not start earlier (chronyc
// waitsync and ClockBound's cbctl waitsync are the peers). It reads the
// segment as an application does (libtimesync's wait_synchronized), so it
// needs no agent RPC and succeeds exactly when applications would.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "ctl.hpp"
#include "timesync/wait.hpp"

namespace timesync::ctl {
namespace {

std::atomic<bool> g_wait_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);
void on_wait_signal(int) { g_wait_stop.store(true); }

double since_s(const timespec& t0) {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec - t0.tv_sec) + static_cast<double>(t.tv_nsec - t0.tv_nsec) / 1e9;
}

}  // namespace

int cmd_waitsync(const Args& a) {
  struct sigaction sa {};
  sa.sa_handler = on_wait_signal;  // no SA_RESTART: a sleep ends at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  WaitOptions o;
  o.path = a.segment.empty() ? kDefaultSegmentPath : a.segment;
  o.max_error_ns = static_cast<uint64_t>(std::llround(a.max_error_us * 1e3));
  o.timeout_ns = a.timeout_s > 0 ? static_cast<int64_t>(a.timeout_s * 1e9) : -1;
  o.poll_ns = a.interval_set ? static_cast<int64_t>(a.interval_ms) * 1'000'000 : 10'000'000;
  o.stop = &g_wait_stop;
  timespec t0{};
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const Result<TimestampWithError> r = wait_synchronized(o);
  const double waited = since_s(t0);
  const int rc = r.ok() ? kExitOk : wait_can_cure(r.error()) || r.error() == Error::kInterrupted
                                        ? kExitOutOfSync
                                        : kExitRpc;
  if (a.json) {
    JsonObject j;
    j.boolean("ok", r.ok()).str("segment", o.path).num("waited_s", waited);
    if (r.ok()) {
      j.integer("time_ns", r->time.ns).uinteger("bound_ns", r->bound_ns).uinteger("epoch", r->epoch);
    } else {
      j.str("error", to_string(r.error()));
    }
    std::printf("%s\n", j.text().c_str());
  } else if (r.ok()) {
    std::printf("synchronized after %.3f s: bound %.3f us (epoch %" PRIu64 ")\n", waited,
                static_cast<double>(r->bound_ns) / 1e3, r->epoch);
  } else {
    std::fprintf(stderr, "timesyncctl: %s: not synchronized%s after %.3f s: %s\n", o.path.c_str(),
                 a.max_error_us > 0 ? " within --max-error" : "", waited, to_string(r.error()));
  }
  return rc;
}

}  // namespace timesync::ctl
