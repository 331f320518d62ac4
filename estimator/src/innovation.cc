#include <cmath>

#include "timesync/estimator/servo.hpp"

namespace timesync::estimator {

void InnovationWindow::add(double innovation_ns, double normalized) {
  v_.emplace_back(innovation_ns, normalized);
  while (static_cast<int>(v_.size()) > window_) v_.pop_front();
}

void InnovationWindow::clear() { v_.clear(); }

InnovationStats InnovationWindow::stats() const {
  InnovationStats st;
  st.count = static_cast<int>(v_.size());
  if (st.count == 0) return st;
  double sum = 0, sum_n2 = 0;
  int normalized = 0;
  for (const auto& [y, n] : v_) {
    sum += y;
    if (!std::isnan(n)) {
      sum_n2 += n * n;
      ++normalized;
    }
  }
  st.mean_ns = sum / st.count;
  if (st.count >= 2) {
    double ss = 0;
    for (const auto& [y, n] : v_) ss += (y - st.mean_ns) * (y - st.mean_ns);
    st.std_ns = std::sqrt(ss / (st.count - 1));
  }
  // RMS, not a deviation about the mean: a biased filter should not look
  // consistent because its innovations are all equally wrong.
  if (normalized >= 2) st.normalized_std = std::sqrt(sum_n2 / normalized);
  return st;
}

}  // namespace timesync::estimator
