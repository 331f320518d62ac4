// LinkSim: one agent's exchanges with a master in simulated time, and a reader
// checking every published line against the exact truth. Test equipment for
// the estimator (its unit tests and bench/honesty_sim), not product code.
//
// The world: host time h (ns) is the truth and the master's timeline. The
// agent's local clock is a SimulatedOscillator (timebase/): offset, frequency,
// wander, steps and ramps. An exchange stamps
//   t0 = local(h0)                       the agent reads its clock ...
//   t1 = h0 + s0 + up + m1               ... is preempted s0 before sending; the
//                                        request travels `up`; the master's
//                                        handler wakes m1 after it arrived
//   t2 = t1 + hold                       the master stamps the answer ...
//   t3 = local(t2 + m2 + down + s3)      ... sends it m2 later; it travels `down`;
//                                        the agent reads its clock s3 after it
//                                        arrived
// Every extra (s0, m1, m2, s3, queueing) is >= 0, so the true offset always
// lies within the sample's hard interval offset +/- delay/2: what a real
// user-space exchange guarantees, no more. Scheduling stalls (a loaded or
// starved machine: the start-up storm) make those extras heavy-tailed.
//
// The agent: a burst of exchanges per poll, the least delayed one fed to the
// Estimator; polls at poll_min_s until locked, then doubling up to
// poll_max_s after 4 accepted samples, halving while the bound two polls ahead
// passes half of max_error, back to poll_min_s while exchanges fail. A new
// line is published publish_delay after the exchange (the agent's own
// processing, longer when its CPU is starved).
//
// The reader: every read_every_ns of host time it evaluates what the agent
// last published, as libtimesync does: refused while the estimator is not
// locked, past void_after, or with a bound above max_error; otherwise one
// served reading, checked against the truth.
//
// Deterministic for a given config (seed included). Thread safety: none.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "timesync/estimator/estimator.hpp"
#include "timesync/timebase/sim_oscillator.hpp"

namespace timesync::estimator::testing {

struct LinkSimConfig {
  uint64_t seed = 1;
  double seconds = 60;
  // The local crystal (a SimulatedOscillator's parameters).
  double freq_ppm = 35;
  double offset_s = 0.25;
  double wander_ppb_per_sqrt_s = 2;
  double step_every_s = 0;   // thermal transients: see SimOscillatorParams
  double step_ppm = 0;
  double step_ramp_s = 0;
  // The path, each leg: base + exponential jitter (+ queueing).
  double leg_ns = 25'000;
  double jitter_mean_ns = 3'000;
  double queue_prob = 0.02;
  double queue_max_ns = 200'000;
  double asymmetry_ns = 0;  // added to the request leg
  // Scheduling stalls at each of the four stamping points (s0, m1, m2, s3):
  // with this probability each, uniform in [0, stall_max_ns].
  double stall_prob = 0;
  double stall_max_ns = 0;
  double hold_ns = 5'000;
  // A route change: from delay_step_at_s to delay_step_until_s each leg gets
  // these extras (asymmetric when they differ).
  double delay_step_at_s = -1, delay_step_until_s = -1;
  double delay_step_up_ns = 0, delay_step_down_ns = 0;
  // Loss: each exchange independently, and bursts in which every exchange is
  // lost (loss_burst_s long, every loss_burst_every_s).
  double loss_prob = 0;
  double loss_burst_every_s = 0, loss_burst_s = 0;
  // The master frozen (SIGSTOP) from freeze_at_s for freeze_s: requests wait.
  double freeze_at_s = -1, freeze_s = 0;
  // The agent.
  double poll_min_s = 0.05, poll_max_s = 1.0, rpc_timeout_s = 0.5;
  int burst = 3;
  double publish_delay_ns = 20'000;  // plus, under stalls, a stall
  double max_error_ns = 2e6;
  double void_after_s = 10;
  // The reader.
  double read_every_ns = 1e6;
  // Called after every sample the estimator took (debugging, tests).
  std::function<void(double t_s, const AddResult&, const Estimator&)> on_sample;
};

struct LinkSimResult {
  uint64_t readings = 0;   // served
  uint64_t refused = 0;
  uint64_t outside = 0;    // served with |error| > bound
  double worst_ratio = 0;  // max |error| / bound over served readings
  double worst_abs_err_ns = 0;
  double first_outside_s = -1;
  double bound_sum_ns = 0;
  double err_sum_sq = 0;
  double time_to_first_served_s = -1;
  double freq_err_ppb = 0;  // estimate minus truth, at the end
  uint64_t exchanges = 0, accepted = 0, lost = 0;
  std::string first_outside;  // what the estimate looked like then
  double mean_bound_ns() const { return readings ? bound_sum_ns / static_cast<double>(readings) : 0; }
};

// Runs one simulated agent; `servo` is consumed.
inline LinkSimResult run_link_sim(const LinkSimConfig& c, const EstimatorParams& ep,
                                  std::unique_ptr<Servo> servo) {
  SimOscillatorParams op;
  op.freq_ppm = c.freq_ppm;
  op.initial_offset_s = c.offset_s;
  op.wander_ppb_per_sqrt_s = c.wander_ppb_per_sqrt_s;
  op.step_every_s = c.step_every_s;
  op.step_ppm = c.step_ppm;
  op.step_ramp_s = c.step_ramp_s;
  op.seed = c.seed * 7919 + 13;
  constexpr int64_t kStart = 1'000'000'000'000;  // host time the run starts at
  const SimulatedOscillator local(op, kStart);
  Estimator est(ep, std::move(servo));
  std::mt19937_64 rng(c.seed);
  std::uniform_real_distribution<double> u01(0, 1);
  std::exponential_distribution<double> jit(1.0 / std::max(1.0, c.jitter_mean_ns));
  const auto at_s = [&](double h) { return (h - static_cast<double>(kStart)) / 1e9; };
  const auto stall = [&] { return u01(rng) < c.stall_prob ? u01(rng) * c.stall_max_ns : 0.0; };
  const auto leg = [&](double h, bool up) {
    double d = c.leg_ns + (c.jitter_mean_ns > 0 ? jit(rng) : 0.0) + (up ? c.asymmetry_ns : 0.0);
    if (u01(rng) < c.queue_prob) d += u01(rng) * c.queue_max_ns;
    const double s = at_s(h);
    if (s >= c.delay_step_at_s && s < c.delay_step_until_s) d += up ? c.delay_step_up_ns : c.delay_step_down_ns;
    return d;
  };
  const auto lost_in_burst = [&](double h) {
    if (c.loss_burst_every_s <= 0) return false;
    const double s = at_s(h);
    return std::fmod(s, c.loss_burst_every_s) >= c.loss_burst_every_s - c.loss_burst_s;
  };
  const auto local_at = [&](double h) {
    return LocalTime{local.from_host_raw_ns(static_cast<int64_t>(std::llround(h)))};
  };

  LinkSimResult r;
  // What readers see: the estimate as last published, and when it took effect.
  Estimate pub;
  bool pub_locked = false;
  double poll = c.poll_min_s;
  int good = 0;
  double h = static_cast<double>(kStart);
  const double end = h + c.seconds * 1e9;
  double next_read = h;
  const auto read_until = [&](double until) {
    for (; next_read < until && next_read < end; next_read += c.read_every_ns) {
      const LocalTime l = local_at(next_read);
      const double void_after = static_cast<double>(pub.as_of.ns) + c.void_after_s * 1e9;
      if (!pub_locked || !pub.valid || static_cast<double>(l.ns) > void_after) {
        ++r.refused;
        continue;
      }
      const double age_s = std::fabs(static_cast<double>(l.ns - pub.as_of.ns)) / 1e9;
      // The growth the agent publishes holds until void_after (growth_until).
      const double growth = pub.growth_ppb + ep.holdover_wander_ppb_per_s * c.void_after_s;
      const double bound = static_cast<double>(pub.bound_at_as_of_ns) + growth * age_s;
      if (bound > c.max_error_ns) {
        ++r.refused;
        continue;
      }
      const double err = static_cast<double>(pub.line.at(l).ns) - next_read;
      ++r.readings;
      if (r.time_to_first_served_s < 0) r.time_to_first_served_s = at_s(next_read);
      r.bound_sum_ns += bound;
      r.err_sum_sq += err * err;
      const double ratio = std::fabs(err) / std::max(bound, 1.0);
      if (std::fabs(err) > r.worst_abs_err_ns) r.worst_abs_err_ns = std::fabs(err);
      if (ratio > r.worst_ratio) r.worst_ratio = ratio;
      if (std::fabs(err) > bound) {
        if (r.outside++ == 0) {
          r.first_outside_s = at_s(next_read);
          char text[256];
          std::snprintf(text, sizeof text,
                        "t=%.3f s: error %.0f ns, bound %.0f ns (at as_of %llu, growth %.0f ppb, "
                        "age %.3f s), freq %.0f ppb, sigma %.0f ppb, slew %.0f ppb",
                        at_s(next_read), err, bound,
                        static_cast<unsigned long long>(pub.bound_at_as_of_ns), growth, age_s,
                        pub.freq_est_ppb, pub.freq_sigma_ppb, pub.slew_ppb);
          r.first_outside = text;
        }
      }
    }
  };

  while (h < end) {
    // One poll: a burst of exchanges back to back.
    Exchange best;
    int64_t best_delay = INT64_MAX;
    bool any = false;
    double hh = h;
    for (int b = 0; b < c.burst; ++b) {
      ++r.exchanges;
      const double h0 = hh;
      double h1 = h0 + stall() + leg(h0, true);
      const double fs = c.freeze_at_s >= 0 ? static_cast<double>(kStart) + c.freeze_at_s * 1e9 : -1;
      if (fs >= 0 && h1 >= fs && h1 < fs + c.freeze_s * 1e9) h1 = fs + c.freeze_s * 1e9;
      const double t1 = h1 + stall();
      const double t2 = t1 + c.hold_ns;
      const double h3 = t2 + stall() + leg(t2, false);
      const double t3h = h3 + stall();
      const bool lost = u01(rng) < c.loss_prob || lost_in_burst(h0) || lost_in_burst(h3) ||
                        t3h - h0 > c.rpc_timeout_s * 1e9;
      if (lost) {
        ++r.lost;
        hh = std::min(t3h, h0 + c.rpc_timeout_s * 1e9);
        break;  // as the agent: a failure ends the burst
      }
      Exchange x;
      x.t0 = local_at(h0);
      x.t1_ns = static_cast<int64_t>(std::llround(t1));
      x.t2_ns = static_cast<int64_t>(std::llround(t2));
      x.t3 = local_at(t3h);
      const int64_t d = (x.t3.ns - x.t0.ns) - (x.t2_ns - x.t1_ns);
      if (d < best_delay) {
        best_delay = d;
        best = x;
      }
      any = true;
      hh = t3h;
    }
    read_until(hh);
    if (any) {
      const double publish_at = hh + c.publish_delay_ns + stall();
      const AddResult ar = est.add(best, local_at(publish_at));
      if (c.on_sample) c.on_sample(at_s(hh), ar, est);
      read_until(publish_at);
      pub = est.estimate();
      pub_locked = est.locked();
      if (ar.verdict == Verdict::kAccepted) {
        ++r.accepted;
        ++good;
      }
      hh = publish_at;
    }
    // The agent's poll adaptation (client/src/agent.cc, adapt_poll).
    const double bound_now = static_cast<double>(pub.bound_at_as_of_ns);
    if (!any || !est.locked()) {
      poll = c.poll_min_s;
      good = 0;
    } else if (bound_now + pub.growth_ppb * 2 * poll > 0.5 * c.max_error_ns) {
      poll = std::max(c.poll_min_s, poll / 2);
      good = 0;
    } else if (good >= 4) {
      poll = std::min(c.poll_max_s, poll * 2);
      good = 0;
    }
    const double next = std::max(h + poll * 1e9, hh);
    read_until(next);
    h = next;
  }
  // Estimated frequency (master against local) minus the truth at the end.
  const double f_local = local.freq_ppm_at(static_cast<int64_t>(end)) * 1e3;
  const double truth_ppb = (1.0 / (1.0 + f_local * 1e-9) - 1.0) * 1e9;
  r.freq_err_ppb = est.estimate().freq_est_ppb - truth_ppb;
  return r;
}

}  // namespace timesync::estimator::testing
