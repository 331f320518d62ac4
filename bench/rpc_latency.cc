// timesync-rpc-latency: what a client sees of a master's (or an agent's) unary
// RPCs at a low, steady rate, the way timesync-agent asks them: one channel,
// the synchronous stub, a deadline per call. Each round asks every chosen
// method once (in turn, so they share the same moments), then sleeps the
// interval. Prints per method the count, p50, p99, p99.9, max and the number
// of calls over 25 ms, and with --slow FILE the time of each call over the
// threshold (seconds since the start), to see whether outliers are periodic.
//
//   timesync-rpc-latency --target HOST:PORT [--count N] [--interval-ms MS]
//                        [--methods GetTime,GetStatus,Check] [--slow FILE]
//
// Check is grpc.health.v1.Health/Check for the server as a whole.
#include <grpcpp/grpcpp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "timesync/v1/timesync.grpc.pb.h"

namespace {

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double pct(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

struct Method {
  std::string name;
  std::function<grpc::Status(grpc::ClientContext*)> call;
  std::vector<double> ms;
  int errors = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  std::string methods = "GetTime,GetStatus,Check";
  int count = 3000;
  int interval_ms = 20;
  const char* slow_path = nullptr;
  double slow_ms = 25;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    if (f == "--target") target = argv[i + 1];
    else if (f == "--count") count = std::atoi(argv[i + 1]);
    else if (f == "--interval-ms") interval_ms = std::atoi(argv[i + 1]);
    else if (f == "--methods") methods = argv[i + 1];
    else if (f == "--slow") slow_path = argv[i + 1];
    else if (f == "--slow-ms") slow_ms = std::atof(argv[i + 1]);
    else {
      target.clear();
      break;
    }
  }
  if (target.empty() || count <= 0) {
    std::fprintf(stderr,
                 "usage: timesync-rpc-latency --target HOST:PORT [--count N] [--interval-ms MS]\n"
                 "       [--methods GetTime,GetStatus,Check] [--slow FILE] [--slow-ms 25]\n");
    return 64;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    std::fprintf(stderr, "timesync-rpc-latency: cannot connect to %s\n", target.c_str());
    return 1;
  }
  auto time = timesync::v1::TimeService::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);

  std::vector<Method> chosen;
  std::stringstream list(methods);
  for (std::string m; std::getline(list, m, ',');) {
    Method x;
    x.name = m;
    if (m == "GetTime") {
      x.call = [&time, seq = uint64_t{0}](grpc::ClientContext* ctx) mutable {
        timesync::v1::GetTimeRequest req;
        req.set_sequence(++seq);
        req.set_client_id("rpc-latency");
        timesync::v1::GetTimeResponse resp;
        return time->GetTime(ctx, req, &resp);
      };
    } else if (m == "GetStatus") {
      x.call = [&time](grpc::ClientContext* ctx) {
        timesync::v1::GetStatusResponse resp;
        return time->GetStatus(ctx, timesync::v1::GetStatusRequest{}, &resp);
      };
    } else if (m == "Check") {
      x.call = [&health](grpc::ClientContext* ctx) {
        grpc::health::v1::HealthCheckResponse resp;
        return health->Check(ctx, grpc::health::v1::HealthCheckRequest{}, &resp);
      };
    } else {
      std::fprintf(stderr, "timesync-rpc-latency: unknown method '%s'\n", m.c_str());
      return 64;
    }
    chosen.push_back(std::move(x));
  }

  FILE* slow = slow_path != nullptr ? std::fopen(slow_path, "w") : nullptr;
  const int64_t start = mono_ns();
  int64_t next = start;
  for (int i = 0; i < count; ++i) {
    for (Method& m : chosen) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      const int64_t t0 = mono_ns();
      const grpc::Status st = m.call(&ctx);
      const int64_t t1 = mono_ns();
      if (!st.ok()) {
        ++m.errors;
        continue;
      }
      const double ms = static_cast<double>(t1 - t0) / 1e6;
      if (i >= 10) m.ms.push_back(ms);  // the first calls warm caches
      if (slow != nullptr && ms > slow_ms) {
        std::fprintf(slow, "%.3f %s %.3f\n", static_cast<double>(t0 - start) / 1e9,
                     m.name.c_str(), ms);
      }
    }
    next += static_cast<int64_t>(interval_ms) * 1'000'000;
    const timespec at{static_cast<time_t>(next / 1'000'000'000), static_cast<long>(next % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
  }
  if (slow != nullptr) std::fclose(slow);
  std::printf("%s, one call of each method every %d ms, %.0f s\n", target.c_str(), interval_ms,
              static_cast<double>(mono_ns() - start) / 1e9);
  std::printf("%-10s %7s %6s %8s %8s %8s %8s %7s\n", "method", "calls", "errors", "p50 ms",
              "p99 ms", "p99.9 ms", "max ms", ">25 ms");
  for (Method& m : chosen) {
    std::sort(m.ms.begin(), m.ms.end());
    const auto over = std::count_if(m.ms.begin(), m.ms.end(), [](double v) { return v > 25; });
    std::printf("%-10s %7zu %6d %8.3f %8.3f %8.3f %8.3f %7ld\n", m.name.c_str(), m.ms.size(),
                m.errors, pct(m.ms, 0.5), pct(m.ms, 0.99), pct(m.ms, 0.999),
                m.ms.empty() ? 0.0 : m.ms.back(), static_cast<long>(over));
  }
  return 0;
}
