#include "timesync/daemon/metrics.hpp"

#include <cmath>
#include <cstdlib>
#include <exception>

#include "timesync/daemon/log.hpp"
#include "timesync/daemon/runtime.hpp"

namespace timesync::daemon {

std::unique_ptr<prometheus::Exposer> start_metrics_server(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry,
    std::string* why) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(listen, 1);
    exposer->RegisterCollectable(registry);
    return exposer;
  } catch (const std::exception& e) {
    if (why != nullptr) {
      *why = "cannot serve metrics on '" + listen + "' (address in use, or not a valid " +
             "host:port): " + e.what();
    }
    return nullptr;
  }
}

std::unique_ptr<prometheus::Exposer> serve_metrics_or_exit(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry) {
  if (listen.empty()) return nullptr;
  std::string why;
  std::unique_ptr<prometheus::Exposer> exposer = start_metrics_server(listen, registry, &why);
  if (exposer == nullptr) {
    TS_LOG_ERROR("%s", why.c_str());
    std::exit(kExitFailure);
  }
  TS_LOG_INFO("metrics on http://%s/metrics", listen.c_str());
  return exposer;
}

std::vector<double> decade_buckets(double first_s, double last_s) {
  std::vector<double> out;
  static constexpr double kSteps[] = {1, 2.5, 5};
  for (double decade = first_s; decade <= last_s * 1.0001; decade *= 10) {
    for (double step : kSteps) {
      const double v = decade * step;
      if (v <= last_s * 1.0001) out.push_back(v);
    }
  }
  return out;
}

}  // namespace timesync::daemon
