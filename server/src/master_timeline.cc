#include "master_timeline.hpp"

#include <cstdlib>
#include <fstream>
#include <string>

#include "timesync/daemon/log.hpp"

namespace timesync::master {

MasterTimeline::MasterTimeline(std::unique_ptr<TimeSource> source, uint64_t initial_epoch,
                               int64_t step_threshold_ns)
    : source_(std::move(source)),
      threshold_ns_(step_threshold_ns),
      ref_diff_(source_->now_ns() - host_raw_now_ns()),
      epoch_(initial_epoch) {}

MasterTimeline::MasterTimeline(const TimelineFollower& follower)
    : source_(make_monotonic_raw_source()),
      follower_(&follower),
      threshold_ns_(0),
      ref_diff_(0),
      epoch_(0) {}

MasterTimeline::Reading MasterTimeline::plain(int64_t ns, uint64_t epoch, bool ambiguous) {
  Reading r;
  r.ns = ns;
  r.epoch = epoch;
  r.ambiguous = ambiguous;
  return r;
}

MasterTimeline::Reading MasterTimeline::follow(int64_t host_raw_ns) const {
  const TimelineFollower::At a = follower_->at(host_raw_ns);
  Reading r;
  r.epoch = a.epoch;
  if (!a.ok) {
    r.unavailable = true;
    r.ambiguous = true;  // nothing to serve: whoever checks only that skips it too
    r.why = a.why;
    return r;
  }
  r.ns = a.ns;
  r.error_ns = a.error_ns;
  return r;
}

bool MasterTimeline::tight_diff(int64_t* ns, int64_t* diff) const {
  // Raw, source, raw: the source is compared with the midpoint of the two raw
  // reads. A thread preempted between them would see the gap as a jump and
  // bump the epoch for nothing, so a pair that is not tight is not judged.
  const int64_t raw1 = host_raw_now_ns();
  *ns = source_->now_ns();
  const int64_t raw2 = host_raw_now_ns();
  *diff = *ns - (raw1 + (raw2 - raw1) / 2);
  return raw2 - raw1 <= threshold_ns_ / 4;
}

MasterTimeline::Reading MasterTimeline::read() const {
  if (follower_ != nullptr) return follow(host_raw_now_ns());
  if (threshold_ns_ <= 0) {
    return plain(source_->now_ns(), epoch_.load(std::memory_order_acquire), false);
  }
  const uint64_t before = epoch_.load(std::memory_order_acquire);
  int64_t ns = 0, diff = 0;
  if (tight_diff(&ns, &diff)) {
    const int64_t ref = ref_diff_.load(std::memory_order_relaxed);
    if (std::llabs(diff - ref) > threshold_ns_) {
      on_jump();
    } else if (diff != ref) {
      ref_diff_.store(diff, std::memory_order_relaxed);  // slewing: follow it
    }
  }
  // A step detected while we read leaves it open which timeline ns is on.
  const uint64_t after = epoch_.load(std::memory_order_acquire);
  return plain(ns, before, before != after);
}

MasterTimeline::Reading MasterTimeline::at_host_raw(int64_t raw_ns) const {
  if (follower_ != nullptr) return follow(raw_ns);
  const uint64_t before = epoch_.load(std::memory_order_acquire);
  if (threshold_ns_ > 0) check();  // a step since would change the mapping below
  const int64_t ns = source_->from_host_raw_ns(raw_ns);
  const uint64_t after = epoch_.load(std::memory_order_acquire);
  return plain(ns, before, before != after);
}

void MasterTimeline::on_jump() const {
  std::lock_guard<std::mutex> lock(step_mu_);
  // Judge a fresh reading, not the caller's: it may have been preempted since,
  // and another thread may have handled this step already.
  int64_t ns = 0, diff = 0;
  bool tight = false;
  for (int i = 0; i < 3 && !tight; ++i) tight = tight_diff(&ns, &diff);
  if (!tight) return;  // the next read judges again
  const int64_t ref = ref_diff_.load(std::memory_order_relaxed);
  if (std::llabs(diff - ref) <= threshold_ns_) return;
  ref_diff_.store(diff, std::memory_order_relaxed);
  const uint64_t e = epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
  steps_.fetch_add(1, std::memory_order_relaxed);
  TS_LOG_WARN("timeline stepped by %+.6f ms (%s); new epoch %016llx: agents re-lock",
              static_cast<double>(diff - ref) / 1e6, source_->describe().c_str(),
              static_cast<unsigned long long>(e));
}

uint64_t fnv1a(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string boot_id() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(f, id);
  return id;
}

}  // namespace timesync::master
