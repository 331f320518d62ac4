// C API: a thin shell over timesync::Clock. Nothing here throws.
#include <new>

#include "timesync/clock.hpp"
#include "timesync/timesync.h"

struct ts_context {
  explicit ts_context(timesync::Clock c) : clock(std::move(c)) {}
  timesync::Clock clock;
};

namespace {
ts_error to_c(timesync::Error e) { return static_cast<ts_error>(e); }
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
  out->time_ns = r.ok() ? r.time.ns : 0;
  out->bound_ns = r.bound_ns;
  out->local_ns = r.local.ns;
  out->epoch = r.epoch;
  out->status = static_cast<ts_status>(r.status);
  out->reserved = 0;
  return to_c(r.error);
}

int ts_is_synchronized(const ts_context* ctx) {
  return ctx != nullptr && ctx->clock.is_synchronized() ? 1 : 0;
}

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
  }
  return "unknown timesync error";
}

}  // extern "C"
