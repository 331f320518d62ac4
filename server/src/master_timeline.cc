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

MasterTimeline::Reading MasterTimeline::read() const {
  // Raw first, source second: for CLOCK_REALTIME the pair is ~30 ns apart, far
  // below any threshold the config allows (>= 1 us).
  if (threshold_ns_ <= 0) return {source_->now_ns(), epoch_.load(std::memory_order_acquire)};
  const int64_t raw = host_raw_now_ns();
  const int64_t ns = source_->now_ns();
  const int64_t diff = ns - raw;
  const int64_t ref = ref_diff_.load(std::memory_order_relaxed);
  if (std::llabs(diff - ref) > threshold_ns_) {
    on_jump(diff);
  } else if (diff != ref) {
    ref_diff_.store(diff, std::memory_order_relaxed);  // slewing: follow it
  }
  return {ns, epoch_.load(std::memory_order_acquire)};
}

void MasterTimeline::on_jump(int64_t diff) const {
  std::lock_guard<std::mutex> lock(step_mu_);
  const int64_t ref = ref_diff_.load(std::memory_order_relaxed);
  if (std::llabs(diff - ref) <= threshold_ns_) return;  // another thread handled it
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
