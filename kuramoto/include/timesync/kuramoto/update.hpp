// Kuramoto mode: masterless pulse-coupled synchronization of a cyclic task
// (seed 000). Pure maths: phase conversions, the coupling update and the
// cycle schedule. No I/O and no clock reads: every time is passed in.
//
// The model. Each peer runs a task with period P = 1/f on its own clock and
// pulses a line at every wake-up. Peer i, right after its pulse at local time
// t_i, looks up the last pulse t_j it saw from every peer j (timestamped on
// its own clock) and applies the seed's equation
//     d(theta_i)/dt = omega + K/N * sum_j sin(theta_j - theta_i)
// once per cycle: omega is the ordinary period, and the coupling term is a
// phase step dtheta_i (radians) that moves the next wake-up by
//     shift_ns = -dtheta_i / (2 pi f)                       (see Peer)
// N counts every participant, this peer included (the seed's N = 2 for two
// boards); the j = i term is sin(0) = 0 and is left out of the sum.
//
// Sign conventions, fixed here and used everywhere in kuramoto/:
//   delta_ns = t_j - t_i wrapped into (-P/2, P/2]: POSITIVE when the peer
//     pulses LATER than this peer (the peer lags).
//   theta_j - theta_i = -2 pi f delta: the phase of a peer that lags is behind.
//   dtheta > 0 advances this peer (it wakes EARLIER next cycle, shift < 0).
//
// Locking (two peers, per-cycle map of phi = theta_j - theta_i):
//   phi' = phi + 2 pi (d_j - d_i) - K sin(phi)      d: fractional clock rate error
// so the pair locks iff K >= 2 pi |d_j - d_i| (critical_coupling()); f drops
// out because both the drift and the correction are counted per cycle. Near
// lock, differences shrink by a factor (1 - K) per cycle for any N (all to
// all), so 0 < K < 2 converges and K = 1 is dead-beat; K >= 2 overshoots.
//
// Thread safety: free functions are pure; a Peer is a value, one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace timesync::kuramoto {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kMinHz = 1.0;
inline constexpr double kMaxHz = 500.0;
inline constexpr double kMaxCoupling = 2.0;  // exclusive: (1 - K) must stay above -1

// Wraps radians into (-pi, pi].
double wrap_rad(double rad);
// Wraps a time difference into (-period/2, period/2].
int64_t wrap_ns(int64_t ns, int64_t period_ns);
int64_t period_ns_for(double hz);
double ns_to_rad(double ns, double hz);  // 2 pi f t
double rad_to_ns(double rad, double hz);  // theta / (2 pi f)

// The smallest K at which two peers whose clocks differ in rate by
// rate_diff_ppm (d_j - d_i, in ppm) stay phase locked: 2 pi |d_j - d_i|.
// For N > 2 peers, 2 pi max_i |d_i - mean(d)| * N / (N - 1) is a lower bound.
double critical_coupling(double rate_diff_ppm);

// The phase a pair locks at above the threshold: asin(K_c / K), radians;
// nullopt below the threshold.
std::optional<double> locked_phase_rad(double coupling, double rate_diff_ppm);

struct CouplingParams {
  double hz = 100;          // task frequency, [kMinHz, kMaxHz]
  double coupling = 0.5;    // K, [0, kMaxCoupling)
  int participants = 2;     // N, this peer included, >= 2
};
// "" when usable, else a message naming the first bad field.
std::string params_error(const CouplingParams& p);

struct Update {
  // Per peer: delta_ns (see the sign conventions), nullopt when the peer has
  // not pulsed within the last kStalePeriods periods (absent or silent).
  std::vector<std::optional<int64_t>> delta_ns;
  double dtheta_rad = 0;  // K/N * sum sin(theta_j - theta_i)
  int64_t shift_ns = 0;   // added to the next wake-up: -dtheta / (2 pi f)
};

// A peer's last pulse older than this many periods before our own is stale.
inline constexpr int64_t kStalePeriods = 2;

// The seed's update, evaluated right after this peer's pulse at emit_ns.
// peer_last_ns[j]: peer j's last pulse on the same clock, nullopt if none yet.
Update kuramoto_update(const CouplingParams& p, int64_t emit_ns,
                       std::span<const std::optional<int64_t>> peer_last_ns);

// The schedule of one peer, on its own clock.
class Peer {
 public:
  // Precondition: params_error(p) is empty.
  Peer(const CouplingParams& p, int64_t first_wake_ns);

  // When to pulse next (local clock).
  int64_t next_wake_ns() const { return next_wake_ns_; }
  // Call right after pulsing at emit_ns (>= next_wake_ns(): the actual time,
  // wake-up latency included). The next wake-up is the SCHEDULED one plus a
  // period plus the shift, so latency is measured by the peers but never
  // accumulates in the schedule. A wake-up that would already be past is
  // skipped by whole periods (counted in missed()).
  const Update& on_pulse(int64_t emit_ns, std::span<const std::optional<int64_t>> peer_last_ns);

  const Update& last() const { return last_; }
  uint64_t missed() const { return missed_; }
  int64_t period_ns() const { return period_ns_; }
  const CouplingParams& params() const { return params_; }

 private:
  CouplingParams params_;
  int64_t period_ns_;
  int64_t next_wake_ns_;
  uint64_t missed_ = 0;
  Update last_;
};

// A peer's own clock simulated over a base clock, as a crystal off by
// drift_ppm would run: local = base + (base - anchor) * drift_ppm * 1e-6.
// Positive drift_ppm: the local clock is fast, so its periods are short in
// base time and the peer pulses at a higher rate.
struct LocalTimescale {
  int64_t anchor_ns = 0;  // base time where local == base
  double drift_ppm = 0;   // |.| < 1e5

  int64_t to_local(int64_t base_ns) const;
  int64_t to_base(int64_t local_ns) const;
};

}  // namespace timesync::kuramoto
