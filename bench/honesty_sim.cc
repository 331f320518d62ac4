// honesty_sim: the estimator's error bound against the exact truth in
// simulated time, over seeds x servos x impairments (estimator/testing/
// link_sim.hpp). Every served reading is counted; the test bed's `honesty`
// command does the same with real processes and sockets.
//
//   honesty_sim [--seeds N] [--first-seed S] [--seconds S] [--only IMPAIRMENT] [--servo pll|kalman]
//
// Exit 1 if any reading was outside its bound.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../estimator/testing/link_sim.hpp"

using namespace timesync;
using namespace timesync::estimator;
using timesync::estimator::testing::LinkSimConfig;
using timesync::estimator::testing::LinkSimResult;

namespace {

struct Impairment {
  const char* name;
  const char* what;
  std::function<void(LinkSimConfig&)> apply;
};

const std::vector<Impairment>& impairments() {
  static const std::vector<Impairment> v = {
      {"idle", "3 us jitter, 2% of legs queued up to 200 us", [](LinkSimConfig&) {}},
      {"storm", "start-up storm: half the stamps stalled up to 2 ms, polls 0.05-0.2 s",
       [](LinkSimConfig& c) {
         c.stall_prob = 0.5;
         c.stall_max_ns = 2e6;
         c.poll_min_s = 0.05;
         c.poll_max_s = 0.2;
       }},
      {"storm-hard", "start-up storm, harder: 70% of stamps stalled up to 20 ms, polls 0.05-0.2 s",
       [](LinkSimConfig& c) {
         c.stall_prob = 0.7;
         c.stall_max_ns = 20e6;
         c.poll_min_s = 0.05;
         c.poll_max_s = 0.2;
       }},
      {"starved", "CPU-starved agent: 30% of stamps stalled up to 20 ms",
       [](LinkSimConfig& c) {
         c.stall_prob = 0.3;
         c.stall_max_ns = 20e6;
       }},
      {"thermal-step", "+-20 ppm frequency steps every 30% of the run",
       [](LinkSimConfig& c) {
         c.step_every_s = c.seconds * 0.3;
         c.step_ppm = (c.seed % 2 ? 20 : -20);
       }},
      {"thermal-ramp", "+-30 ppm ramps over 5 s every 20 s",
       [](LinkSimConfig& c) {
         c.step_every_s = 20;
         c.step_ppm = (c.seed % 2 ? 30 : -30);
         c.step_ramp_s = 5;
       }},
      {"wander", "crystal wander 500 ppb/sqrt(s)", [](LinkSimConfig& c) { c.wander_ppb_per_sqrt_s = 500; }},
      {"master-freeze", "master stopped 5 s at 40%",
       [](LinkSimConfig& c) {
         c.freeze_at_s = c.seconds * 0.4;
         c.freeze_s = 5;
       }},
      {"delay-step", "route change at 40%: +2 ms request leg, +0.3 ms answer leg, back at 75%",
       [](LinkSimConfig& c) {
         c.delay_step_at_s = c.seconds * 0.4;
         c.delay_step_until_s = c.seconds * 0.75;
         c.delay_step_up_ns = 2e6;
         c.delay_step_down_ns = 0.3e6;
       }},
      {"loss-burst", "every exchange lost for 1.5 s every 8 s, 2% otherwise",
       [](LinkSimConfig& c) {
         c.loss_burst_every_s = 8;
         c.loss_burst_s = 1.5;
         c.loss_prob = 0.02;
       }},
      {"jitter", "1 ms legs with 250 us mean jitter",
       [](LinkSimConfig& c) {
         c.leg_ns = 1e6;
         c.jitter_mean_ns = 250'000;
       }},
  };
  return v;
}

std::unique_ptr<Servo> servo(const std::string& name) {
  if (name == "kalman") return make_kalman_servo(KalmanParams{});
  return make_pll_servo(PllParams{});
}

}  // namespace

int main(int argc, char** argv) {
  int seeds = 20;
  uint64_t first = 1;
  double seconds = 120;
  std::string only, only_servo;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "honesty_sim: %s needs a value\n", a.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (a == "--seeds") seeds = std::atoi(next());
    else if (a == "--first-seed") first = std::strtoull(next(), nullptr, 0);
    else if (a == "--seconds") seconds = std::atof(next());
    else if (a == "--only") only = next();
    else if (a == "--servo") only_servo = next();
    else {
      std::fprintf(stderr, "usage: honesty_sim [--seeds N] [--first-seed S] [--seconds S] "
                           "[--only IMPAIRMENT] [--servo pll|kalman]\n");
      return 64;
    }
  }
  std::printf("%d seeds x %.0f s per cell (crystal uniform in +-50 ppm and +-0.5 s, wander 2 ppb/sqrt(s) "
              "unless the impairment says otherwise), a reading every 1 ms\n\n", seeds, seconds);
  std::printf("| impairment | servo | readings | outside | worst \\|err\\|/bound | worst \\|err\\| us | "
              "mean bound us | rms err us | first served s (max) |\n|---|---|---|---|---|---|---|---|---|\n");
  uint64_t total = 0, total_out = 0;
  for (const Impairment& imp : impairments()) {
    if (!only.empty() && only != imp.name) continue;
    for (const char* sv : {"pll", "kalman"}) {
      if (!only_servo.empty() && only_servo != sv) continue;
      uint64_t n = 0, out = 0;
      double worst = 0, worst_abs = 0, bound_sum = 0, sq = 0, first_served = 0;
      std::string example;
      for (int k = 0; k < seeds; ++k) {
        LinkSimConfig c;
        c.seed = first + static_cast<uint64_t>(k);
        c.seconds = seconds;
        std::mt19937_64 pick(c.seed * 31 + 7);
        std::uniform_real_distribution<double> u(-1, 1);
        c.freq_ppm = 50 * u(pick);
        c.offset_s = 0.5 * u(pick);
        imp.apply(c);
        const LinkSimResult r = testing::run_link_sim(c, EstimatorParams{}, servo(sv));
        n += r.readings;
        out += r.outside;
        worst = std::max(worst, r.worst_ratio);
        worst_abs = std::max(worst_abs, r.worst_abs_err_ns);
        bound_sum += r.bound_sum_ns;
        sq += r.err_sum_sq;
        first_served = std::max(first_served, r.time_to_first_served_s);
        if (r.outside > 0 && example.empty()) {
          example = "seed " + std::to_string(c.seed) + ": " + r.first_outside;
        }
      }
      total += n;
      total_out += out;
      std::printf("| %s | %s | %llu | %llu | %.3f | %.1f | %.1f | %.1f | %.2f |\n", imp.name, sv,
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(out), worst,
                  worst_abs / 1e3, n ? bound_sum / static_cast<double>(n) / 1e3 : 0.0,
                  n ? std::sqrt(sq / static_cast<double>(n)) / 1e3 : 0.0, first_served);
      if (!example.empty()) std::fprintf(stderr, "  %s/%s first outside: %s\n", imp.name, sv, example.c_str());
      std::fflush(stdout);
    }
  }
  std::printf("\ntotal: %llu readings, %llu outside the bound\n", static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(total_out));
  return total_out > 0 ? 1 : 0;
}
