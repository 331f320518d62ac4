// The Kuramoto peer over real lines: the seed's gsync (wake, pulse, update,
// sleep) on this thread and its gtimer (timestamp the peers' edges) as one
// watcher thread per input. The decisions are timesync_kuramoto's Peer; this
// file only reads clocks, sleeps and drives lines.
//
// Clocks: the peer's local clock is the inputs' event clock (wire:
// CLOCK_MONOTONIC_RAW, gpiod: CLOCK_MONOTONIC) run through a LocalTimescale
// with the requested drift, so that processes sharing one host clock still
// disagree on the period as separate crystals would. Edge timestamps are
// mapped onto that local clock by the watchers; sleeps are absolute
// clock_nanosleep(CLOCK_MONOTONIC) instants.
//
// Thread safety: run_peer() owns the calling thread and the watcher threads it
// starts and joins; `stop` may be set from a signal handler.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "timesync/gpio/line.hpp"
#include "timesync/kuramoto/report.hpp"
#include "timesync/kuramoto/update.hpp"

namespace timesync::kuramoto {

struct LoopOptions {
  CouplingParams coupling;      // participants = 1 + inputs
  double drift_ppm = 0;
  // The first pulse is due this far into a period of the base clock's grid
  // (multiples of the period since boot): peers on one host started with
  // different phases begin that far apart, whenever each process started.
  double start_phase_deg = 0;
  uint64_t cycles = 0;          // 0: until stop
  int64_t width_ns = 1'000'000; // how long the line stays high
  int fifo_priority = 0;        // > 0: watchers run one priority above the loop
};

struct LoopResult {
  CycleLog log;
  std::string error;  // a line failed; the log holds the cycles before it
};

LoopResult run_peer(gpio::OutputLine& out, const std::vector<std::unique_ptr<gpio::InputLine>>& ins,
                    const std::vector<std::string>& names, const LoopOptions& opt,
                    const std::atomic<bool>& stop);

}  // namespace timesync::kuramoto
