// TimeSource: the one way the master and the agent read time and sleep on it.
//
// Production injects MonotonicRawSource (or RealtimeSource); tests and the demo
// inject a SimulatedOscillator, so nothing above this layer reads a clock itself.
//
// Units: every time is int64 nanoseconds on the clock the method names.
//   "host raw"    - this host's CLOCK_MONOTONIC_RAW, the clock libtimesync readers
//                   evaluate the published transform at.
//   "source"      - this source's own timeline (now_ns()). For the agent it is the
//                   LOCAL clock the transform takes as input; for the master, the
//                   master timeline before the epoch offset is applied.
// to_host_raw_ns / from_host_raw_ns map between the two. Both are nondecreasing;
// to_host_raw_ns(s) is the earliest host raw time at which the source reads >= s.
//
// Sleeping: sleep_until() always sleeps on CLOCK_MONOTONIC (clock_nanosleep on
// CLOCK_MONOTONIC_RAW fails with ENOTSUP) and re-checks the source on waking, so
// it never returns true before now_ns() >= deadline_ns. Each sleep is at most
// about 1 s long, which bounds how late a step of CLOCK_REALTIME is noticed.
//
// Thread safety: every TimeSource method is const and may be called from any
// number of threads concurrently. Waker: see below.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "timesync/types.hpp"

namespace timesync {

// Something another thread (or a signal handler) signals to cut sleeps short,
// e.g. on SIGTERM. Backed by an eventfd. Signalling latches: the waker stays
// signalled, and every sleep on it returns false at once, until reset(); so a
// shutdown request that arrives between two sleeps is not lost, and any number
// of sleepers can share one waker.
//
// signal() is async-signal-safe (one write(2), errno preserved): call it from a
// signal handler or a signal-handling thread alike. All methods may be called
// concurrently; reset() racing signal() may of course lose that signal.
class Waker {
 public:
  // Fails (Error::kIo / kNoMemory) only when no eventfd can be created.
  static Result<Waker> create();

  Waker(Waker&& other) noexcept;
  Waker& operator=(Waker&& other) noexcept;
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;
  ~Waker();

  void signal() const noexcept;
  bool signalled() const noexcept;
  void reset() noexcept;
  // Readable while signalled: lets a caller put the waker into its own poll loop.
  int fd() const { return fd_; }

 private:
  explicit Waker(int fd) : fd_(fd) {}
  int fd_ = -1;  // -1 after a move: never signalled, sleeps run to their deadline
};

// CLOCK_MONOTONIC_RAW now, in ns. Never fails on Linux >= 2.6.28.
int64_t host_raw_now_ns();

// The host's CLOCK_MONOTONIC_RAW as a clock to read and to sleep on. Tests
// that run a whole agent in simulated time substitute a VirtualHostClock, which
// moves only when slept on or told to.
class HostClock {
 public:
  virtual ~HostClock() = default;
  virtual int64_t now_ns() const = 0;
  // Until now_ns() >= deadline_ns (true), or `wake` is signalled (false).
  virtual bool sleep_until(int64_t deadline_ns, const Waker* wake) const = 0;
};

// The real one.
const HostClock& real_host_clock();

// Simulated time: now_ns() is what the test set; sleep_until() jumps to the
// deadline at once (false without moving when `wake` is signalled). Never
// goes backwards. Thread safety: any thread may read and advance it.
class VirtualHostClock final : public HostClock {
 public:
  explicit VirtualHostClock(int64_t start_ns) : now_(start_ns) {}
  int64_t now_ns() const override { return now_.load(std::memory_order_acquire); }
  bool sleep_until(int64_t deadline_ns, const Waker* wake) const override;
  void advance_to(int64_t t_ns) const;
  void advance(int64_t dt_ns) const { advance_to(now_ns() + dt_ns); }

 private:
  mutable std::atomic<int64_t> now_;
};

class TimeSource {
 public:
  virtual ~TimeSource() = default;

  // This source's notion of "now", in ns (see "source" above).
  virtual int64_t now_ns() const = 0;
  // The host CLOCK_MONOTONIC_RAW reading that corresponds to `source_ns`
  // (inverse mapping); real sources return it unchanged.
  virtual int64_t to_host_raw_ns(int64_t source_ns) const = 0;
  virtual int64_t from_host_raw_ns(int64_t host_raw_ns) const = 0;
  // Sleeps until this source reads >= deadline_ns (returns true, also when the
  // deadline has already passed) or until `wake` is signalled (returns false).
  virtual bool sleep_until(int64_t deadline_ns, const Waker* wake = nullptr) const = 0;
  virtual std::string describe() const = 0;
  // How fast this source runs against host raw at host_raw_ns: ppb, positive
  // when the source is fast. 0 for the real clocks (by definition for
  // CLOCK_MONOTONIC_RAW; CLOCK_REALTIME's slew is not known here).
  virtual double rate_vs_host_ppb(int64_t /*host_raw_ns*/) const { return 0; }
  // The host raw clock this source runs against, now (a virtual one in
  // simulated-time tests).
  virtual int64_t host_now_ns() const { return host_raw_now_ns(); }

 protected:
  // The shared sleep loop: convert the (capped) deadline to host raw with
  // to_host_raw_ns(), sleep that long on CLOCK_MONOTONIC, re-check now_ns().
  bool sleep_until_via_host_raw(int64_t deadline_ns, const Waker* wake) const;
};

// CLOCK_MONOTONIC_RAW: never stepped, never slewed. The identity mapping to host raw.
class MonotonicRawSource final : public TimeSource {
 public:
  int64_t now_ns() const override;
  int64_t to_host_raw_ns(int64_t source_ns) const override { return source_ns; }
  int64_t from_host_raw_ns(int64_t host_raw_ns) const override { return host_raw_ns; }
  bool sleep_until(int64_t deadline_ns, const Waker* wake = nullptr) const override;
  std::string describe() const override;
};

// CLOCK_REALTIME. The host raw mapping uses the difference between the two
// clocks read at call time, so it is approximate: off by the read jitter (tens
// of ns) and by any slew or step of CLOCK_REALTIME between the mapping and its use.
class RealtimeSource final : public TimeSource {
 public:
  int64_t now_ns() const override;
  int64_t to_host_raw_ns(int64_t source_ns) const override;
  int64_t from_host_raw_ns(int64_t host_raw_ns) const override;
  bool sleep_until(int64_t deadline_ns, const Waker* wake = nullptr) const override;
  std::string describe() const override;
};

std::unique_ptr<TimeSource> make_monotonic_raw_source();
std::unique_ptr<TimeSource> make_realtime_source();

}  // namespace timesync
