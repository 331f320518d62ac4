// C API: a thin shell over timesync::Clock. Nothing here throws.
#include <new>

#include "timesync/clock.hpp"
#include "timesync/convert.hpp"
#include "timesync/sleep.hpp"
#include "timesync/timesync.h"
#include "timesync/wait.hpp"

struct ts_context {
  explicit ts_context(timesync::Clock c) : clock(std::move(c)) {}
  timesync::Clock clock;
};

struct ts_timer {
  explicit ts_timer(timesync::PeriodicTimer t) : timer(t) {}
  timesync::PeriodicTimer timer;
};

namespace {
ts_error to_c(timesync::Error e) { return static_cast<ts_error>(e); }

// NULL means the defaults; unknown policies and nonzero reserved fields are
// refused so that later versions can give them a meaning.
bool from_c(const ts_sleep_options* in, timesync::SleepOptions* out) {
  *out = timesync::SleepOptions{};
  if (in == nullptr) return true;
  if (in->on_epoch_change != TS_EPOCH_FAIL && in->on_epoch_change != TS_EPOCH_FOLLOW) return false;
  if (in->reserved0 != 0) return false;
  for (const uint64_t r : in->reserved) {
    if (r != 0) return false;
  }
  out->chunk_ns = in->chunk_ns;
  out->final_ns = in->final_ns;
  out->spin_ns = in->spin_ns;
  out->max_error_ns = in->max_error_ns;
  out->on_epoch_change = in->on_epoch_change == TS_EPOCH_FOLLOW ? timesync::EpochPolicy::kFollow
                                                                : timesync::EpochPolicy::kFail;
  out->stop_flag_c = in->stop_flag;
  return true;
}

void to_c(const timesync::TimestampWithError& r, ts_timestamp* out) {
  out->time_ns = r.ok() ? r.time.ns : 0;
  out->bound_ns = r.bound_ns;
  out->local_ns = r.local.ns;
  out->epoch = r.epoch;
  out->status = static_cast<ts_status>(r.status);
  out->reserved = 0;
}

void to_c(const timesync::WakeReport& w, ts_wake* out) {
  out->target_ns = w.target.ns;
  out->woke_ns = w.woke.ns;
  out->bound_ns = w.bound_ns;
  out->local_ns = w.woke_local.ns;
  out->epoch = w.epoch;
}
}  // namespace

extern "C" {

ts_error ts_open(const char* path, ts_context** out) {
  if (out == nullptr) return TS_E_INVALID_ARGUMENT;
  *out = nullptr;
  auto clock = timesync::Clock::open(path != nullptr ? path : TS_DEFAULT_SEGMENT_PATH);
  if (!clock.ok()) return to_c(clock.error());
  auto* ctx = new (std::nothrow) ts_context(std::move(clock).value());
  if (ctx == nullptr) return TS_E_NO_MEMORY;
  *out = ctx;
  return TS_OK;
}

void ts_close(ts_context* ctx) { delete ctx; }

ts_error ts_get_timestamp(const ts_context* ctx, int64_t* time_ns) {
  if (ctx == nullptr || time_ns == nullptr) return TS_E_INVALID_ARGUMENT;
  const auto r = ctx->clock.get_timestamp_with_error();
  *time_ns = r.ok() ? r.time.ns : 0;
  return to_c(r.error);
}

ts_error ts_get_timestamp_with_error(const ts_context* ctx, ts_timestamp* out) {
  if (ctx == nullptr || out == nullptr) return TS_E_INVALID_ARGUMENT;
  const auto r = ctx->clock.get_timestamp_with_error();
  to_c(r, out);
  return to_c(r.error);
}

ts_error ts_get_utc_with_error(const ts_context* ctx, ts_utc* out) {
  if (ctx == nullptr || out == nullptr) return TS_E_INVALID_ARGUMENT;
  const timesync::UtcWithError r = ctx->clock.get_utc_with_error();
  *out = ts_utc{};
  out->utc_ns = r.ok() ? r.utc_ns : 0;
  out->bound_ns = r.bound_ns;
  out->time_ns = r.ok() ? r.time.ns : 0;
  out->local_ns = r.local.ns;
  out->epoch = r.epoch;
  out->status = static_cast<ts_status>(r.status);
  out->leap = static_cast<ts_leap>(r.leap);
  out->tai_minus_utc_s = r.tai_minus_utc_s;
  out->flags = (r.reference_synchronized ? TS_UTC_REFERENCE_SYNCHRONIZED : 0u) |
               (r.leap_list_expired ? TS_UTC_LEAP_LIST_EXPIRED : 0u);
  return to_c(r.error);
}

ts_error ts_wait_synchronized(const char* path, uint64_t max_error_ns, int64_t timeout_ns,
                              const int* stop_flag, ts_timestamp* out) {
  timesync::WaitOptions o;
  if (path != nullptr) o.path = path;
  o.max_error_ns = max_error_ns;
  o.timeout_ns = timeout_ns;
  o.stop_flag_c = stop_flag;
  const auto r = timesync::wait_synchronized(o);
  if (!r.ok()) return to_c(r.error());
  if (out != nullptr) to_c(r.value(), out);
  return TS_OK;
}

ts_error ts_convert(const ts_context* ctx, int clock_id, int64_t instant_ns, int64_t max_age_ns,
                    uint64_t max_slew_ppb, ts_timestamp* out) {
  if (ctx == nullptr || out == nullptr || max_age_ns < 0) return TS_E_INVALID_ARGUMENT;
  timesync::ConvertOptions o;
  if (max_age_ns != 0) o.max_age_ns = max_age_ns;
  if (max_slew_ppb != 0) o.max_slew_ppb = max_slew_ppb;
  const auto r = timesync::convert(ctx->clock, static_cast<clockid_t>(clock_id), instant_ns, o);
  to_c(r, out);
  return to_c(r.error);
}

int ts_is_synchronized(const ts_context* ctx) {
  return ctx != nullptr && ctx->clock.is_synchronized() ? 1 : 0;
}

void ts_sleep_options_init(ts_sleep_options* opts) {
  if (opts == nullptr) return;
  const timesync::SleepOptions d;
  *opts = ts_sleep_options{};
  opts->chunk_ns = d.chunk_ns;
  opts->final_ns = d.final_ns;
  opts->spin_ns = d.spin_ns;
  opts->max_error_ns = d.max_error_ns;
  opts->on_epoch_change = TS_EPOCH_FAIL;
}

ts_error ts_sleep_until(const ts_context* ctx, int64_t target_ns, const ts_sleep_options* opts,
                        ts_wake* out) {
  timesync::SleepOptions o;
  if (ctx == nullptr || !from_c(opts, &o)) return TS_E_INVALID_ARGUMENT;
  const auto r = timesync::sleep_until(ctx->clock, timesync::SyncTime{target_ns}, o);
  if (!r.ok()) return to_c(r.error());
  if (out != nullptr) to_c(r.value(), out);
  return TS_OK;
}

ts_error ts_timer_create(const ts_context* ctx, int64_t period_ns, int64_t offset_ns,
                         const ts_sleep_options* opts, ts_timer** out) {
  if (out == nullptr) return TS_E_INVALID_ARGUMENT;
  *out = nullptr;
  timesync::SleepOptions o;
  if (ctx == nullptr || period_ns <= 0 || !from_c(opts, &o)) return TS_E_INVALID_ARGUMENT;
  auto* t = new (std::nothrow) ts_timer(timesync::PeriodicTimer(ctx->clock, period_ns, offset_ns, o));
  if (t == nullptr) return TS_E_NO_MEMORY;
  *out = t;
  return TS_OK;
}

ts_error ts_timer_wait_next(ts_timer* timer, ts_tick* out) {
  if (timer == nullptr || out == nullptr) return TS_E_INVALID_ARGUMENT;
  const auto r = timer->timer.wait_next();
  if (!r.ok()) return to_c(r.error());
  out->index = r->index;
  out->boundary_ns = r->boundary.ns;
  out->missed = r->missed;
  to_c(r->wake, &out->wake);
  return TS_OK;
}

void ts_timer_destroy(ts_timer* timer) { delete timer; }

const char* ts_strerror(ts_error err) {
  switch (err) {
    case TS_OK: return "success";
    case TS_E_INVALID_ARGUMENT: return "invalid argument";
    case TS_E_NO_SEGMENT: return "no timesync segment at that path (is timesync-agent running?)";
    case TS_E_PERMISSION: return "permission denied opening the timesync segment";
    case TS_E_IO: return "I/O error opening or mapping the timesync segment";
    case TS_E_TRUNCATED: return "timesync segment is truncated";
    case TS_E_BAD_MAGIC: return "not a timesync segment (bad magic)";
    case TS_E_BAD_VERSION: return "timesync segment has an unknown layout version";
    case TS_E_SIZE_MISMATCH: return "timesync segment size does not match its layout";
    case TS_E_NOT_INITIALIZED: return "timesync segment was never published";
    case TS_E_BUSY: return "timesync segment stayed locked by its writer (writer died mid-update?)";
    case TS_E_CORRUPT: return "timesync segment holds impossible values";
    case TS_E_NOT_SYNCHRONIZED: return "clock is not synchronized";
    case TS_E_STALE: return "timesync data is stale (agent stopped updating)";
    case TS_E_BOUND_EXCEEDED: return "error bound exceeds the configured maximum";
    case TS_E_CLOCK: return "cannot read CLOCK_MONOTONIC_RAW";
    case TS_E_WRITER_EXISTS: return "timesync segment already has a writer";
    case TS_E_NO_MEMORY: return "out of memory";
    case TS_E_EPOCH_CHANGED: return "the synchronized timeline stepped (new epoch) while waiting";
    case TS_E_INTERRUPTED: return "wait interrupted (signal or stop flag)";
    case TS_E_NOT_REGULAR: return "timesync segment (or lock) path is not a regular file (FIFO, device, directory...)";
    case TS_E_SYMLINK: return "timesync segment (or lock) path is a symbolic link; not followed";
    case TS_E_HARD_LINK: return "timesync segment (or lock) file has another name (hard link); refused";
    case TS_E_WRONG_OWNER: return "timesync lock file belongs to another user";
    case TS_E_NO_UTC: return "the master publishes no UTC (no reference configured, or none read yet)";
  }
  return "unknown timesync error";
}

}  // extern "C"
