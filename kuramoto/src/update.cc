#include "timesync/kuramoto/update.hpp"

#include <cmath>

namespace timesync::kuramoto {

double wrap_rad(double rad) {
  double r = std::remainder(rad, 2 * kPi);  // [-pi, pi]
  if (r <= -kPi) r += 2 * kPi;               // the half-open interval the contract names
  return r;
}

int64_t wrap_ns(int64_t ns, int64_t period_ns) {
  int64_t r = ns % period_ns;  // (-P, P), sign of ns
  if (r > period_ns / 2) r -= period_ns;
  if (r <= -(period_ns - period_ns / 2)) r += period_ns;  // -P/2 goes to +P/2 for even P
  return r;
}

int64_t period_ns_for(double hz) { return std::llround(1e9 / hz); }

double ns_to_rad(double ns, double hz) { return 2 * kPi * hz * ns * 1e-9; }

double rad_to_ns(double rad, double hz) { return rad / (2 * kPi * hz) * 1e9; }

double critical_coupling(double rate_diff_ppm) { return 2 * kPi * std::fabs(rate_diff_ppm) * 1e-6; }

std::optional<double> locked_phase_rad(double coupling, double rate_diff_ppm) {
  const double kc = critical_coupling(rate_diff_ppm);
  if (coupling < kc || coupling <= 0) return std::nullopt;
  return std::asin(kc / coupling);
}

std::string params_error(const CouplingParams& p) {
  if (!(p.hz >= kMinHz && p.hz <= kMaxHz)) {
    return "frequency " + std::to_string(p.hz) + " Hz is outside [1, 500] Hz";
  }
  if (!(p.coupling >= 0 && p.coupling < kMaxCoupling)) {
    return "coupling K " + std::to_string(p.coupling) +
           " is outside [0, 2): at K >= 2 each correction overshoots by more than the error it "
           "corrects";
  }
  if (p.participants < 2) return "participants N must be at least 2 (this peer and one other)";
  return "";
}

Update kuramoto_update(const CouplingParams& p, int64_t emit_ns,
                       std::span<const std::optional<int64_t>> peer_last_ns) {
  Update u;
  const int64_t period = period_ns_for(p.hz);
  u.delta_ns.reserve(peer_last_ns.size());
  double sum = 0;
  for (const std::optional<int64_t>& last : peer_last_ns) {
    if (!last || emit_ns - *last > kStalePeriods * period) {
      u.delta_ns.push_back(std::nullopt);
      continue;
    }
    const int64_t delta = wrap_ns(*last - emit_ns, period);
    u.delta_ns.push_back(delta);
    // theta_j - theta_i = -2 pi f delta: a peer that pulses later is behind.
    sum += std::sin(-ns_to_rad(static_cast<double>(delta), p.hz));
  }
  u.dtheta_rad = p.coupling / p.participants * sum;
  u.shift_ns = std::llround(-rad_to_ns(u.dtheta_rad, p.hz));
  return u;
}

Peer::Peer(const CouplingParams& p, int64_t first_wake_ns)
    : params_(p), period_ns_(period_ns_for(p.hz)), next_wake_ns_(first_wake_ns) {}

const Update& Peer::on_pulse(int64_t emit_ns,
                             std::span<const std::optional<int64_t>> peer_last_ns) {
  last_ = kuramoto_update(params_, emit_ns, peer_last_ns);
  next_wake_ns_ += period_ns_ + last_.shift_ns;
  // |shift| < P/pi, so only a wake-up late by most of a period lands here;
  // pulsing twice back to back would tell the peers nothing true.
  while (next_wake_ns_ <= emit_ns) {
    next_wake_ns_ += period_ns_;
    ++missed_;
  }
  return last_;
}

int64_t LocalTimescale::to_local(int64_t base_ns) const {
  const double since = static_cast<double>(base_ns - anchor_ns);
  return base_ns + std::llround(since * drift_ppm * 1e-6);
}

int64_t LocalTimescale::to_base(int64_t local_ns) const {
  // local - anchor = (base - anchor)(1 + d)
  const double since = static_cast<double>(local_ns - anchor_ns);
  return anchor_ns + std::llround(since / (1 + drift_ppm * 1e-6));
}

}  // namespace timesync::kuramoto
