#include "timesync/sleep.hpp"

#include <errno.h>
#include <time.h>

#include <limits>

namespace timesync {

namespace {
__extension__ using i128 = __int128;

bool fits_i64(i128 v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

// d + floor(d * f / 2^48): the synchronized time elapsed after d local ns.
i128 sync_delta(i128 d, int64_t freq_adj_q48) { return d + ((d * freq_adj_q48) >> kFreqFracBits); }

bool read_ns(clockid_t id, int64_t* out) {
  timespec ts{};
  if (clock_gettime(id, &ts) != 0) return false;
  *out = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  return true;
}

// Absolute sleep on CLOCK_MONOTONIC: a deadline, not a duration, so time lost
// between computing it and entering the kernel is not added to the wait.
Error sleep_mono_until(int64_t deadline_ns) {
  const timespec ts{static_cast<time_t>(deadline_ns / 1'000'000'000),
                    static_cast<long>(deadline_ns % 1'000'000'000)};
  const int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
  if (rc == 0) return Error::kOk;
  return rc == EINTR ? Error::kInterrupted : Error::kClock;
}

bool stop_requested(const SleepOptions& o) {
  if (o.stop != nullptr && o.stop->load(std::memory_order_acquire)) return true;
  return o.stop_flag_c != nullptr && __atomic_load_n(o.stop_flag_c, __ATOMIC_ACQUIRE) != 0;
}

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
}  // namespace

bool local_deadline(const Transform& s, SyncTime target, LocalTime* out) {
  constexpr i128 kOne = i128{1} << kFreqFracBits;
  const i128 want = static_cast<i128>(target.ns) - s.ref_sync.ns;
  const i128 rate = kOne + s.freq_adj_q48;  // > 0: |freq_adj| is at most 1%
  if (rate <= 0) return false;
  // First guess from the exact rational inverse, then fix the rounding of the
  // floor in sync_delta (at most a step or two either way).
  i128 d = want * kOne / rate;
  while (sync_delta(d, s.freq_adj_q48) < want) ++d;
  while (sync_delta(d - 1, s.freq_adj_q48) >= want) --d;
  const i128 t = d + s.ref_local.ns;
  if (!fits_i64(t)) return false;
  out->ns = static_cast<int64_t>(t);
  return true;
}

Result<WakeReport> sleep_until(const Clock& clock, SyncTime target, const SleepOptions& o) {
  if (o.chunk_ns <= 0 || o.final_ns < 0 || o.spin_ns < 0) return Error::kInvalidArgument;
  bool have_epoch = false;
  uint64_t epoch = 0;
  for (;;) {
    if (stop_requested(o)) return Error::kInterrupted;
    // Every round starts from the latest publication: that is what makes the
    // wake-up follow slews, frequency changes and new offsets.
    auto snap = clock.snapshot();
    if (!snap.ok()) return snap.error();
    LocalTime raw;
    int64_t mono_ns = 0;
    if (!read_local_clock(&raw) || !read_ns(CLOCK_MONOTONIC, &mono_ns)) return Error::kClock;
    const TimestampWithError now = evaluate(snap.value(), raw);
    if (!now.ok()) return now.error;
    if (o.max_error_ns != 0 && now.bound_ns > o.max_error_ns) return Error::kBoundExceeded;
    if (!have_epoch) {
      have_epoch = true;
      epoch = now.epoch;
    } else if (now.epoch != epoch) {
      if (o.on_epoch_change == EpochPolicy::kFail) return Error::kEpochChanged;
      epoch = now.epoch;
    }
    if (now.time >= target) {
      WakeReport r;
      r.target = target;
      r.woke = now.time;
      r.bound_ns = now.bound_ns;
      r.woke_local = raw;
      r.epoch = now.epoch;
      return r;
    }
    LocalTime deadline;
    if (!local_deadline(snap.value(), target, &deadline)) return Error::kInvalidArgument;
    const int64_t left_ns = deadline.ns - raw.ns;  // > 0: the clock is still short of target
    if (left_ns <= o.spin_ns) {
      // The scheduler's wake-up latency is tens of microseconds; spinning on
      // the vDSO clock for the last few lands much closer to the instant.
      while (raw < deadline) {
        if (!read_local_clock(&raw)) return Error::kClock;
      }
      continue;  // re-evaluate: the report comes from a fresh snapshot
    }
    int64_t wait_ns = 0;
    if (left_ns > o.chunk_ns) {
      wait_ns = o.chunk_ns;
    } else if (left_ns > o.final_ns) {
      wait_ns = left_ns / 2;  // look again half-way: later changes still count
    } else {
      wait_ns = left_ns - o.spin_ns;
    }
    // CLOCK_MONOTONIC may run up to 500 ppm off RAW (NTP slewing the host);
    // the next round measures again, so that error never accumulates.
    if (const Error e = sleep_mono_until(mono_ns + wait_ns); e != Error::kOk) return e;
  }
}

PeriodicTimer::PeriodicTimer(const Clock& clock, int64_t period_ns, int64_t offset_ns,
                             SleepOptions opts)
    : clock_(&clock),
      period_ns_(period_ns),
      offset_ns_(period_ns > 0 ? (offset_ns % period_ns + period_ns) % period_ns : 0),
      opts_(opts) {}

Result<Tick> PeriodicTimer::wait_next() {
  if (period_ns_ <= 0) return Error::kInvalidArgument;
  if (stop_requested(opts_)) return Error::kInterrupted;
  const TimestampWithError now = clock_->get_timestamp_with_error();
  if (!now.ok()) return now.error;
  // The first boundary strictly after now: a boundary that has passed is never
  // fired late, it is counted as missed.
  int64_t index = floor_div(now.time.ns - offset_ns_, period_ns_) + 1;
  const bool same_line = have_last_ && now.epoch == last_epoch_;
  if (same_line && index <= last_index_) index = last_index_ + 1;
  int64_t boundary_ns = 0;
  if (__builtin_mul_overflow(index, period_ns_, &boundary_ns) ||
      __builtin_add_overflow(boundary_ns, offset_ns_, &boundary_ns)) {
    return Error::kInvalidArgument;
  }
  auto woke = sleep_until(*clock_, SyncTime{boundary_ns}, opts_);
  if (!woke.ok()) return woke.error();  // last_index_ kept: the next tick counts this one missed
  Tick t;
  t.index = index;
  t.boundary = SyncTime{boundary_ns};
  t.missed = same_line && woke->epoch == last_epoch_
                 ? static_cast<uint64_t>(index - last_index_ - 1)
                 : 0;
  t.wake = woke.value();
  have_last_ = true;
  last_index_ = index;
  last_epoch_ = woke->epoch;
  return t;
}

}  // namespace timesync
