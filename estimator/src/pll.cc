#include <algorithm>
#include <climits>
#include <cmath>
#include <deque>

#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

SyncTime Line::at(LocalTime t) const {
  const int64_t d = t.ns - ref_local.ns;
  return SyncTime{ref_sync.ns + d + std::llround(static_cast<double>(d) * freq_ppb * 1e-9)};
}

namespace {

class PllServo final : public Servo {
 public:
  explicit PllServo(const PllParams& p) : p_(p), innov_(p.innovation_window) {}
  const char* name() const override { return "pll"; }
  void reset() override {
    pts_.clear();
    fit_ = Fit{};
    innov_.clear();
  }
  InnovationStats innovations() const override { return innov_.stats(); }

  void restart(LocalTime since) override {
    while (!pts_.empty() && pts_.front().t < since.ns) pts_.pop_front();
    fit_ = fit();
  }

  ServoDecision update(const Sample& s, double phase_error_ns) override {
    // The fit's prediction is the PLL's model of the offset; it has no sigma.
    if (double pred = 0; predict_offset(s.local, &pred))
      innov_.add(static_cast<double>(s.offset_ns) - pred, std::nan(""));
    // One-way beacons share one calibrated delay: hundreds of them are one
    // measurement, and in the fit they made sigma collapse. They move the
    // phase (below); the frequency comes from two-way exchanges.
    if (!s.one_way) {
      pts_.push_back({s.local.ns, s.offset_ns, s.delay_ns, 1.0});
      const int64_t span_ns = static_cast<int64_t>(2 * p_.freq_time_constant_s * 1e9);
      while (pts_.size() > 2 &&
             (static_cast<int>(pts_.size()) > p_.max_samples || s.local.ns - pts_.front().t > span_ns)) {
        pts_.pop_front();
      }
      fit_ = fit();
    }
    ServoDecision d;
    d.freq_est_ppb = fit_.slope_ppb;
    d.freq_sigma_ppb = fit_.sigma_ppb;
    // Fast stage: remove the phase error over the phase time constant; a poor
    // sample (low weight) moves the clock less.
    d.slew_ppb = s.weight * phase_error_ns / p_.phase_time_constant_s;
    return d;
  }

  bool predict_offset(LocalTime t, double* offset_ns) const override {
    if (fit_.n < 3) return false;
    *offset_ns = fit_.y0 + fit_.mean_y +
                 fit_.slope_ppb * (static_cast<double>(t.ns - fit_.x0) / 1e9 - fit_.mean_x);
    return true;
  }

 private:
  struct Point {
    int64_t t;
    int64_t offset;
    int64_t delay;
    double w;
  };
  struct Fit {
    int n = 0;
    int64_t x0 = 0;  // origin of x (ns), to keep doubles small
    double y0 = 0;   // origin of y (ns)
    double mean_x = 0, mean_y = 0;  // weighted means; x in s, y in ns
    double slope_ppb = 0;           // ns per s
    double sigma_ppb = -1;
  };

  // Weighted least squares of offset against local time. Weights are taken
  // against the best delay in the fit now, not the one known when a sample came
  // in: a queued sample accepted early, before a better path was seen, loses its
  // influence as soon as better samples arrive.
  Fit fit() {
    int64_t best = INT64_MAX;
    for (const auto& p : pts_) best = std::min(best, std::max<int64_t>(p.delay, 1'000));
    for (auto& p : pts_) {
      const double q = static_cast<double>(best) / static_cast<double>(std::max<int64_t>(p.delay, 1'000));
      p.w = q * q;
    }
    Fit f;
    f.n = static_cast<int>(pts_.size());
    if (f.n == 0) return f;
    f.x0 = pts_.back().t;
    f.y0 = static_cast<double>(pts_.back().offset);
    double sw = 0, sx = 0, sy = 0;
    for (const auto& p : pts_) {
      const double x = static_cast<double>(p.t - f.x0) / 1e9;
      const double y = static_cast<double>(p.offset) - f.y0;
      sw += p.w;
      sx += p.w * x;
      sy += p.w * y;
    }
    f.mean_x = sx / sw;
    f.mean_y = sy / sw;
    if (f.n < 2) return f;
    double sxx = 0, sxy = 0;
    for (const auto& p : pts_) {
      const double dx = static_cast<double>(p.t - f.x0) / 1e9 - f.mean_x;
      const double dy = static_cast<double>(p.offset) - f.y0 - f.mean_y;
      sxx += p.w * dx * dx;
      sxy += p.w * dx * dy;
    }
    if (sxx <= 0) return f;
    f.slope_ppb = sxy / sxx;
    if (f.n < 3) return f;
    double ssr = 0;
    for (const auto& p : pts_) {
      const double dx = static_cast<double>(p.t - f.x0) / 1e9 - f.mean_x;
      const double r = static_cast<double>(p.offset) - f.y0 - f.mean_y - f.slope_ppb * dx;
      ssr += p.w * r * r;
    }
    f.sigma_ppb = std::sqrt(ssr / (f.n - 2) / sxx);
    return f;
  }

  PllParams p_;
  std::deque<Point> pts_;
  Fit fit_;
  InnovationWindow innov_;
};

}  // namespace

std::unique_ptr<Servo> make_pll_servo(const PllParams& p) { return std::make_unique<PllServo>(p); }

}  // namespace timesync::estimator
