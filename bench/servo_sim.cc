// servo_sim: the PLL and the Kalman servo side by side on identical exchanges,
// in simulated time (seconds of runtime for hours of clock): the true error
// of the published line, the frequency error and the innovation statistics,
// per path scenario. The test bed (lab/testbed) measures the same on real
// sockets; this isolates the servo from everything else.
//
//   servo_sim [--seconds S] [--seed N] [--floor-ns F] [--csv]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "timesync/estimator/estimator.hpp"

using namespace timesync;
using namespace timesync::estimator;

namespace {

struct Path {
  const char* name;
  double jitter_mean_ns;     // exponential scheduling noise, each leg
  double queue_prob;         // chance a leg is queued
  double queue_max_ns;       // uniform queueing delay when it is
  double asym_ns;            // request leg longer by this, constant
  double step_ppm;           // local crystal step at 40% (and back at 80%)
};

const Path kPaths[] = {
    {"idle", 4'000, 0.02, 100'000, 0, 0},
    {"jitter", 250'000, 0.0, 0, 0, 0},   // +-0.5 ms uniform each way, as the bed's proxy
    {"queueing", 4'000, 0.3, 1'000'000, 0, 0},
    {"drift-step", 4'000, 0.02, 100'000, 0, 5},
};

struct RunResult {
  std::vector<double> err;  // |line - truth| at checks after lock, ns
  double freq_err_ppb = 0;
  InnovationStats innov;
  int bound_violations = 0;
};

double pct(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// One run: the agent's loop (burst of 3, the smallest delay kept, polls
// doubling from 0.1 s to max_poll_s once locked) against a local oscillator
// with wander; the master is host time.
RunResult run(const Path& path, std::unique_ptr<Servo> servo, double seconds, double max_poll_s,
           uint64_t seed) {
  Estimator est(EstimatorParams{}, std::move(servo));
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> jit(1.0 / path.jitter_mean_ns);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> wander(0, 2.0);  // ppb per sqrt(s)
  const bool uniform = std::strcmp(path.name, "jitter") == 0;
  double h = 0, local = 0.25e9, ppm = 35, poll = 0.1;
  int good = 0;
  RunResult r;
  auto leg = [&](double base) {
    double d = base + (uniform ? 500'000 + (u(rng) - 0.5) * 1e6 : jit(rng));
    if (u(rng) < path.queue_prob) d += u(rng) * path.queue_max_ns;
    return d;
  };
  auto step_ppm = [&](double at_h) {
    const double f = at_h / (seconds * 1e9);
    return (f >= 0.4 && f < 0.8) ? path.step_ppm : 0.0;
  };
  auto rate = [&](double at_h) { return 1 + (ppm + step_ppm(at_h)) * 1e-6; };
  while (h < seconds * 1e9) {
    Exchange best;
    int64_t best_delay = INT64_MAX;
    double hh = h, ll = local;
    for (int b = 0; b < 3; ++b) {
      const double up = leg(60'000 + path.asym_ns), down = leg(60'000), hold = 10'000;
      Exchange x;
      x.t0 = LocalTime{std::llround(ll)};
      x.t1_ns = std::llround(hh + up);
      x.t2_ns = std::llround(hh + up + hold);
      const double dt = up + hold + down;
      ll += dt * rate(hh);
      hh += dt;
      x.t3 = LocalTime{std::llround(ll)};
      const int64_t d = (x.t3.ns - x.t0.ns) - (x.t2_ns - x.t1_ns);
      if (d < best_delay) {
        best_delay = d;
        best = x;
      }
    }
    const AddResult ar = est.add(best, LocalTime{std::llround(ll)});
    good = ar.verdict == Verdict::kAccepted ? good + 1 : 0;
    if (est.locked() && good >= 8) {
      poll = std::min(max_poll_s, poll * 2);
      good = 0;
    }
    // Advance to the next poll, checking the line on the way.
    const double next_h = h + poll * 1e9;
    const Estimate& e = est.estimate();
    for (int k = 0; k < 4; ++k) {
      const double dh = (next_h - hh) * k / 4;
      if (est.locked() && h > 0.2 * seconds * 1e9) {
        const double l = ll + dh * rate(hh);
        const double err = static_cast<double>(e.line.at(LocalTime{std::llround(l)}).ns) - (hh + dh);
        r.err.push_back(std::fabs(err));
        const double bound = static_cast<double>(e.bound_at_as_of_ns) +
                             (l - static_cast<double>(e.as_of.ns)) / 1e9 *
                                 est.growth_until(LocalTime{std::llround(l)});
        if (std::fabs(err) > bound) ++r.bound_violations;
      }
    }
    local = ll + (next_h - hh) * rate(hh);
    h = next_h;
    ppm += wander(rng) * std::sqrt(poll) * 1e-3;
  }
  const double true_freq_ppb = (1.0 / rate(h) - 1) * 1e9;
  r.freq_err_ppb = est.estimate().freq_est_ppb - true_freq_ppb;
  r.innov = est.innovations();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 600, floor_ns = KalmanParams{}.measurement_floor_ns;
  uint64_t seed = 1;
  int runs = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "servo_sim: %s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--seconds") seconds = std::atof(next());
    else if (a == "--seed") seed = std::strtoull(next(), nullptr, 0);
    else if (a == "--floor-ns") floor_ns = std::atof(next());
    else if (a == "--runs") runs = std::atoi(next());
    else {
      std::fprintf(stderr, "usage: servo_sim [--seconds S] [--seed N] [--runs N] [--floor-ns F]\n");
      return 64;
    }
  }
  std::printf("%d runs of %.0f s per path, polls 0.1 s -> 1 s, 35 ppm crystal with 2 ppb/sqrt(s) wander; "
              "medians over runs\n\n", runs, seconds);
  std::printf("| path | servo | abs err p50 us | p99 us | max us | freq err ppb | innov mean us | "
              "innov std us | normalized | outside bound |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Path& path : kPaths) {
    for (const char* servo : {"pll", "kalman"}) {
      std::vector<double> p50, p99, mx, ferr, im, is, in;
      int violations = 0;
      for (int k = 0; k < runs; ++k) {
        std::unique_ptr<Servo> s;
        if (std::strcmp(servo, "pll") == 0) {
          s = make_pll_servo(PllParams{});
        } else {
          KalmanParams kp;
          kp.measurement_floor_ns = floor_ns;
          s = make_kalman_servo(kp);
        }
        RunResult r = run(path, std::move(s), seconds, 1.0, seed + static_cast<uint64_t>(k));
        p50.push_back(pct(r.err, 0.5) / 1e3);
        p99.push_back(pct(r.err, 0.99) / 1e3);
        mx.push_back(pct(r.err, 1.0) / 1e3);
        ferr.push_back(std::fabs(r.freq_err_ppb));
        im.push_back(r.innov.mean_ns / 1e3);
        is.push_back(r.innov.std_ns / 1e3);
        in.push_back(r.innov.normalized_std);
        violations += r.bound_violations;
      }
      std::printf("| %s | %s | %.1f | %.1f | %.1f | %.1f | %+.2f | %.1f | %s | %d |\n", path.name, servo,
                  pct(p50, 0.5), pct(p99, 0.5), pct(mx, 0.5), pct(ferr, 0.5), pct(im, 0.5), pct(is, 0.5),
                  pct(in, 0.5) < 0 ? "-" : std::to_string(pct(in, 0.5)).substr(0, 4).c_str(), violations);
    }
  }
  return 0;
}
