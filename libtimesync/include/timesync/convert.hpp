// Sensor timestamps: the synchronized time of a past instant of another clock.
//
//   // a V4L2 buffer's timestamp (CLOCK_MONOTONIC), a few ms ago
//   const timesync::TimestampWithError t =
//       timesync::convert(clock, CLOCK_MONOTONIC, frame_ns);
//   if (!t.ok()) drop(t.error); else stamp(t.time, t.bound_ns);
//
// Camera frames, GPIO edge events, IIO samples and socket timestamps carry
// CLOCK_MONOTONIC, CLOCK_BOOTTIME or CLOCK_REALTIME, not the
// CLOCK_MONOTONIC_RAW the agent's transform is defined on. convert() maps the
// instant to the raw clock, evaluates the published transform there (the
// bound at that instant, which grows with its distance from the transform's
// reference either way) and adds what the mapping cannot know exactly:
//
//   - the paired read: the source clock read between two raw reads (the
//     narrowest of three tries); half its width enters the bound;
//   - the source clock's slewing over the instant's age. CLOCK_MONOTONIC,
//     BOOTTIME and REALTIME run at the rate an NTP daemon sets with
//     adjtimex(), RAW does not, and the reader cannot see the history of that
//     rate, only its present. So the bound gains age x max_slew_ppb, and
//     convert refuses (kBoundExceeded) while the kernel's present adjustment
//     (tick and frequency, from a read-only adjtimex) is faster than
//     max_slew_ppb. The default, 1000 ppm, covers the kernel's frequency
//     limit (500 ppm) plus as much again for a phase slew; chronyd's fast
//     slews (maxslewrate 83333 ppm by default, through the tick) are refused
//     while they run. An application that knows its SoM's daemon may pass a
//     tighter figure (chronyd with `maxslewrate 100` allows 100 ppm + its
//     frequency).
//   - steps. CLOCK_REALTIME can be set (settimeofday, a daemon's step): the
//     first REALTIME conversion in a process arms a kernel notification of
//     every step (timerfd, TFD_TIMER_CANCEL_ON_SET), and an instant older than
//     the arming or than the last step seen is refused (kStale): the mapping
//     of that instant is unknown. CLOCK_MONOTONIC and MONOTONIC_RAW never step;
//     BOOTTIME steps at a resume from suspend, which stops RAW too: an
//     instant from before a suspend is not one this API can convert.
//
// Refusals (TimestampWithError::error): kInvalidArgument for another clock or
// an instant in the future; kStale for an instant older than max_age_ns or
// than REALTIME's last step (or its monitoring); kClock when a clock cannot
// be read; the reader's own refusals (not synchronized, stale segment, bound
// over max_error) at the instant, with the added terms in the bound.
//
// Thread safety: reentrant; the REALTIME step monitor is one per process,
// behind a mutex (a conversion is not the hot path: about 0.3 us).
#pragma once

#include <time.h>

#include <cstdint>

#include "timesync/clock.hpp"
#include "timesync/transform.hpp"

namespace timesync {

struct ConvertOptions {
  int64_t max_age_ns = 1'000'000'000;  // older instants are refused (kStale)
  uint64_t max_slew_ppb = 1'000'000;   // the source clock's rate against RAW, at most
};

// `source`: CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME or
// CLOCK_MONOTONIC_RAW; `instant_ns` a reading of it (tv_sec * 1e9 + tv_nsec).
TimestampWithError convert(const Clock& clock, clockid_t source, int64_t instant_ns,
                           const ConvertOptions& o = {});

}  // namespace timesync
