// The Prometheus endpoint of a daemon: http://listen/metrics serving one
// registry in the text exposition format (prometheus-cpp's civetweb server).
//
// Thread safety: the server scrapes the registry from its own threads; metric
// updates through prometheus-cpp types are thread-safe.
#pragma once

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

namespace timesync::daemon {

// nullptr and *why ("cannot serve metrics on '...': ...") when the address is
// taken or invalid. An empty listen is the caller's "off"; do not call then.
std::unique_ptr<prometheus::Exposer> start_metrics_server(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry,
    std::string* why);

// What both daemons do with metrics.listen: "" -> nullptr (no server);
// otherwise the running server, or the error logged and exit(kExitFailure).
std::unique_ptr<prometheus::Exposer> serve_metrics_or_exit(
    const std::string& listen, const std::shared_ptr<prometheus::Registry>& registry);

// Histogram buckets for durations from `first_s` growing by x2.5 / x2 / x2
// (1-2.5-5 per decade) up to `last_s`, in seconds.
std::vector<double> decade_buckets(double first_s, double last_s);

}  // namespace timesync::daemon
