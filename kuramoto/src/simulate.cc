#include "timesync/kuramoto/simulate.hpp"

#include <cmath>
#include <limits>
#include <optional>
#include <random>

#include "timesync/kuramoto/update.hpp"

namespace timesync::kuramoto {

std::string sim_params_error(const SimParams& p) {
  if (p.peers.size() < 2) return "a simulation needs at least 2 peers";
  CouplingParams c{p.hz, p.coupling, static_cast<int>(p.peers.size())};
  if (std::string e = params_error(c); !e.empty()) return e;
  for (size_t i = 0; i < p.peers.size(); ++i) {
    if (!(std::fabs(p.peers[i].drift_ppm) <= 1e4)) {
      return "peer " + std::to_string(i) + ": drift must be within +-10000 ppm";
    }
    if (!(std::fabs(p.peers[i].start_phase_deg) <= 360)) {
      return "peer " + std::to_string(i) + ": start phase must be within +-360 degrees";
    }
  }
  if (p.cycles == 0 || p.cycles > 100'000'000) return "cycles must be in [1, 1e8]";
  const double period = 1e9 / p.hz;
  if (!(p.wake_jitter_ns >= 0 && p.wake_jitter_ns < period / 4)) {
    return "wake jitter must be in [0, period/4)";
  }
  if (!(p.stamp_jitter_ns >= 0 && p.stamp_jitter_ns < period / 4)) {
    return "stamp jitter must be in [0, period/4)";
  }
  if (p.visible_after_ns < 0 || static_cast<double>(p.visible_after_ns) >= period / 4) {
    return "visible_after must be in [0, period/4)";
  }
  return "";
}

std::vector<CycleLog> simulate(const SimParams& p) {
  if (!sim_params_error(p).empty()) return {};
  const size_t n = p.peers.size();
  const CouplingParams cp{p.hz, p.coupling, static_cast<int>(n)};
  const int64_t period = period_ns_for(p.hz);
  std::mt19937_64 rng(p.seed);
  std::uniform_real_distribution<double> wake(0.0, p.wake_jitter_ns);
  std::normal_distribution<double> stamp(0.0, p.stamp_jitter_ns > 0 ? p.stamp_jitter_ns : 1.0);

  struct State {
    LocalTimescale clock;
    Peer peer;
    int64_t due_true_ns = 0;  // when the pending pulse leaves (latency included)
    uint64_t done = 0;
    // The last two pulses in true time: a watcher may not have seen the newest yet.
    std::optional<int64_t> newest, previous;
  };
  std::vector<State> s;
  std::vector<CycleLog> logs(n);
  for (size_t i = 0; i < n; ++i) {
    const LocalTimescale clock{0, p.peers[i].drift_ppm};
    const auto first_true = static_cast<int64_t>(
        std::llround(static_cast<double>(period) * (1 + p.peers[i].start_phase_deg / 360.0)));
    s.push_back(State{clock, Peer(cp, clock.to_local(first_true)), 0, 0, {}, {}});
    s[i].due_true_ns = first_true + std::llround(wake(rng));
    logs[i].hz = p.hz;
    logs[i].coupling = p.coupling;
    logs[i].participants = static_cast<int>(n);
    logs[i].drift_ppm = p.peers[i].drift_ppm;
    for (size_t j = 0; j < n; ++j) {
      if (j != i) logs[i].peers.push_back(PeerTrace{"peer" + std::to_string(j), {}});
    }
    for (PeerTrace& t : logs[i].peers) t.delta_ns.reserve(p.cycles);
  }

  std::vector<std::optional<int64_t>> last(n - 1);
  for (;;) {
    size_t i = n;
    for (size_t k = 0; k < n; ++k) {
      if (s[k].done < p.cycles && (i == n || s[k].due_true_ns < s[i].due_true_ns)) i = k;
    }
    if (i == n) break;
    State& me = s[i];
    const int64_t t = me.due_true_ns;
    // What this peer's watchers hold for each other peer at time t.
    size_t slot = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      std::optional<int64_t> seen = s[j].newest;
      if (seen && *seen + p.visible_after_ns > t) seen = s[j].previous;
      if (seen) {
        const double noise = p.stamp_jitter_ns > 0 ? stamp(rng) : 0.0;
        seen = me.clock.to_local(*seen + std::llround(noise));
      }
      last[slot++] = seen;
    }
    const Update& u = me.peer.on_pulse(me.clock.to_local(t), last);
    for (size_t k = 0; k < u.delta_ns.size(); ++k) logs[i].peers[k].delta_ns.push_back(u.delta_ns[k]);
    me.previous = me.newest;
    me.newest = t;
    ++me.done;
    me.due_true_ns = me.clock.to_base(me.peer.next_wake_ns()) + std::llround(wake(rng));
  }
  for (size_t i = 0; i < n; ++i) {
    logs[i].cycles = s[i].done;
    logs[i].missed_wakeups = s[i].peer.missed();
  }
  return logs;
}

}  // namespace timesync::kuramoto
