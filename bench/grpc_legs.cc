// grpc_legs: where the time of a GetTime exchange goes. Against a master that
// serves this host's CLOCK_MONOTONIC_RAW (timebase: monotonic, same machine,
// any network namespace), t0..t3 are all on one clock, so each exchange splits
// exactly into its request leg (t1 - t0), the master's residence (t2 - t1) and
// the answer leg (t3 - t2). Half their difference is the offset error that
// asymmetry alone gives a two-way exchange.
//
//   grpc_legs --target HOST:PORT [--count N] [--interval-ms MS] [--raw FILE]
//
// It issues the RPC the way timesync-agent does (same channel arguments, the
// synchronous stub, t0/t3 right around the call) and prints percentiles.
#include <grpcpp/grpcpp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "timesync/v1/timesync.grpc.pb.h"

namespace {

int64_t raw_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  int count = 2000;
  int interval_ms = 10;
  const char* raw_path = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string f = argv[i];
    if (f == "--target") target = argv[i + 1];
    else if (f == "--count") count = std::atoi(argv[i + 1]);
    else if (f == "--interval-ms") interval_ms = std::atoi(argv[i + 1]);
    else if (f == "--raw") raw_path = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: grpc_legs --target HOST:PORT [--count N] [--interval-ms MS] [--raw FILE]\n");
      return 64;
    }
  }
  if (target.empty() || count <= 0) {
    std::fprintf(stderr, "grpc_legs: --target is required\n");
    return 64;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  auto stub = timesync::v1::TimeService::NewStub(channel);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    std::fprintf(stderr, "grpc_legs: cannot connect to %s\n", target.c_str());
    return 1;
  }
  FILE* raw = raw_path != nullptr ? std::fopen(raw_path, "w") : nullptr;
  std::vector<double> up, res, down, rtt, asym;
  for (int i = 0; i < count; ++i) {
    timesync::v1::GetTimeRequest req;
    req.set_sequence(static_cast<uint64_t>(i + 1));
    req.set_client_id("grpc_legs");
    timesync::v1::GetTimeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    const int64_t t0 = raw_ns();
    req.set_client_send_ns(t0);
    const grpc::Status st = stub->GetTime(&ctx, req, &resp);
    const int64_t t3 = raw_ns();
    if (!st.ok()) {
      std::fprintf(stderr, "grpc_legs: %s\n", st.error_message().c_str());
      return 1;
    }
    if (resp.timebase() != timesync::v1::TIMEBASE_MONOTONIC) {
      std::fprintf(stderr, "grpc_legs: the master must serve the monotonic timebase\n");
      return 1;
    }
    const double a = static_cast<double>(resp.master_receive_ns() - t0);
    const double r = static_cast<double>(resp.master_send_ns() - resp.master_receive_ns());
    const double d = static_cast<double>(t3 - resp.master_send_ns());
    if (i >= 20) {  // the first exchanges warm caches and connections
      up.push_back(a / 1e3);
      res.push_back(r / 1e3);
      down.push_back(d / 1e3);
      rtt.push_back((a + d) / 1e3);
      asym.push_back((a - d) / 2e3);
      if (raw != nullptr) std::fprintf(raw, "%.3f %.3f %.3f\n", a / 1e3, r / 1e3, d / 1e3);
    }
    const timespec pause{0, static_cast<long>(interval_ms) * 1'000'000};
    nanosleep(&pause, nullptr);
  }
  if (raw != nullptr) std::fclose(raw);
  std::printf("%zu exchanges with %s, us:       p10      p50      p90      p99\n", up.size(), target.c_str());
  const auto row = [](const char* name, const std::vector<double>& v) {
    std::printf("  %-32s %8.1f %8.1f %8.1f %8.1f\n", name, pct(v, 0.1), pct(v, 0.5), pct(v, 0.9), pct(v, 0.99));
  };
  row("request leg  t1 - t0", up);
  row("master residence  t2 - t1", res);
  row("answer leg  t3 - t2", down);
  row("delay  (t3 - t0) - (t2 - t1)", rtt);
  row("offset error  (up - down) / 2", asym);
  return 0;
}
