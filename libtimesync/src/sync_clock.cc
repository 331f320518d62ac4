#include "timesync/sync_clock.hpp"

#include <atomic>
#include <mutex>

#include "timesync/clock.hpp"

namespace timesync {
namespace {

std::mutex g_mu;  // opening, and the path before it
std::string& path() {
  static std::string* p = new std::string(kDefaultSegmentPath);  // never destroyed
  return *p;
}
std::atomic<const Clock*> g_clock{nullptr};
std::atomic<bool> g_used{false};

// The process's Clock, opened on first use. It is never destroyed: now() may
// be called from other static objects' destructors.
Result<const Clock*> clock() {
  const Clock* c = g_clock.load(std::memory_order_acquire);
  if (c != nullptr) return c;
  std::lock_guard<std::mutex> lock(g_mu);
  g_used.store(true, std::memory_order_relaxed);
  c = g_clock.load(std::memory_order_relaxed);
  if (c != nullptr) return c;
  Result<Clock> opened = Clock::open(path());
  if (!opened.ok()) return opened.error();
  c = new Clock(std::move(opened).value());
  g_clock.store(c, std::memory_order_release);
  return c;
}

}  // namespace

sync_error::sync_error(Error e) : std::runtime_error(std::string("timesync: ") + to_string(e)), code_(e) {}

sync_clock::reading sync_clock::now_with_error() {
  const Result<const Clock*> c = clock();
  if (!c.ok()) throw sync_error(c.error());
  const TimestampWithError r = c.value()->get_timestamp_with_error();
  if (!r.ok()) throw sync_error(r.error);
  reading out;
  out.time = time_point(duration(r.time.ns));
  out.bound = duration(static_cast<int64_t>(r.bound_ns));
  out.epoch = r.epoch;
  out.status = r.status;
  return out;
}

sync_clock::time_point sync_clock::now() {
  const Result<const Clock*> c = clock();
  if (!c.ok()) throw sync_error(c.error());
  const Result<SyncTime> t = c.value()->get_timestamp();
  if (!t.ok()) throw sync_error(t.error());
  return time_point(duration(t.value().ns));
}

bool sync_clock::is_synchronized() noexcept {
  try {
    const Result<const Clock*> c = clock();
    return c.ok() && c.value()->is_synchronized();
  } catch (...) {  // the first open's allocation or lock: no time either way
    return false;
  }
}

bool sync_clock::use_segment(const std::string& p) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_used.load(std::memory_order_relaxed)) return false;
  path() = p;
  return true;
}

}  // namespace timesync
