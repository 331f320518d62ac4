// A network of Kuramoto peers in simulated time: the same Peer schedule and
// update rule the real tool runs, driven by an event loop over a true
// timeline instead of sleeps and GPIO lines. No wall clock is read or slept on,
// so a run of a hundred thousand cycles takes milliseconds and repeats exactly
// for a given seed.
//
// What is simulated, per peer i:
//   - its own clock: local_i = true * (1 + drift_ppm_i * 1e-6) (LocalTimescale
//     anchored at true time 0), on which its Peer schedules wake-ups;
//   - wake-up latency: each pulse leaves U[0, wake_jitter_ns] of true time after
//     the scheduled instant, and the peer stamps its own pulse at that moment;
//   - the line: a pulse becomes visible to the other peers' watchers
//     visible_after_ns after it left (before that they still see the previous
//     one, as a watcher thread that has not run yet would), and each received
//     timestamp carries N(0, stamp_jitter_ns) noise.
// Every peer sees every other (all to all) and N = the number of peers.
// Start: peer i's first pulse is due at true time (1 + start_phase_deg_i / 360) P.
//
// Thread safety: simulate() is pure (seeded RNG of its own); call it from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "timesync/kuramoto/report.hpp"

namespace timesync::kuramoto {

struct SimPeer {
  double drift_ppm = 0;
  double start_phase_deg = 0;  // [-360, 360]
};

struct SimParams {
  double hz = 100;
  double coupling = 0.5;
  std::vector<SimPeer> peers;  // at least 2
  uint64_t cycles = 1000;      // per peer
  double wake_jitter_ns = 0;
  double stamp_jitter_ns = 0;
  int64_t visible_after_ns = 0;
  uint64_t seed = 1;
};

// "" when usable, else a message naming the first bad field.
std::string sim_params_error(const SimParams& p);

// One CycleLog per peer, peers named "peer0", "peer1", ... Precondition:
// sim_params_error(p) is empty (else the result is empty).
std::vector<CycleLog> simulate(const SimParams& p);

}  // namespace timesync::kuramoto
