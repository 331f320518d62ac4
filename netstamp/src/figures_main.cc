// timesync-netstamp-figures: the loopback figures behind the design's claims.
//   - (rx stamp - tx stamp) of a datagram between two sockets of this process,
//     kernel software stamps and user-space stamps, IPv4 and IPv6;
//   - the half-width of a (raw, realtime, raw) paired read, one try and the
//     narrowest of five.
// Prints median and p99 of each. Usage: timesync-netstamp-figures [pings]
#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "timesync/netstamp/realtime_to_raw.hpp"
#include "timesync/netstamp/socket.hpp"

namespace ns = timesync::netstamp;
using namespace std::chrono_literals;

namespace {

void report(const char* what, std::vector<int64_t> v) {
  if (v.empty()) {
    std::printf("%-44s no data\n", what);
    return;
  }
  std::sort(v.begin(), v.end());
  std::printf("%-44s median %7lld ns   p99 %7lld ns   (n=%zu)\n", what, static_cast<long long>(v[v.size() / 2]),
              static_cast<long long>(v[std::min(v.size() - 1, v.size() * 99 / 100)]), v.size());
}

// (rx - tx) per ping; both stamps in one clock (realtime for kernel stamps,
// raw for user ones), so the difference needs no conversion.
std::vector<int64_t> ping(ns::Family family, ns::TimestampMode mode, int count, int* unstamped) {
  ns::SocketOptions o;
  o.mode = mode;
  auto a = ns::TimestampingSocket::open(family, o);
  auto b = ns::TimestampingSocket::open(family, o);
  if (!a.ok() || !b.ok()) {
    std::fprintf(stderr, "open: %s%s\n", a.status().message().c_str(), b.status().message().c_str());
    std::exit(1);
  }
  if (!b->bind(ns::Endpoint::loopback(family)).ok() || !a->connect(*b->local_endpoint()).ok()) {
    std::fprintf(stderr, "bind/connect failed\n");
    std::exit(1);
  }
  std::vector<int64_t> out;
  std::array<std::byte, 128> buf{};
  const std::array<std::byte, 112> payload{};  // a REQUEST's length
  // Receive stamping is switched on from a work queue when the first socket
  // asks for it: warm up until a ping comes back stamped (at most 5 s).
  bool warm = mode == ns::TimestampMode::kUser;
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  for (int i = 0; i < count;) {
    auto id = a->send(payload);
    auto d = b->recv(buf, 1s);
    auto tx = id.ok() ? a->tx_timestamp(*id, 1s) : ns::Result<ns::Timestamp>(id.status());
    if (!d.ok() || !tx.ok()) {
      std::fprintf(stderr, "ping %d: %s %s\n", i, d.status().message().c_str(), tx.status().message().c_str());
      std::exit(1);
    }
    if (!warm) {
      warm = d->rx.present() || std::chrono::steady_clock::now() > give_up;
      if (!warm) std::this_thread::sleep_for(1ms);
      continue;
    }
    ++i;
    if (!d->rx.present() || !tx->present()) {
      ++*unstamped;
      continue;
    }
    out.push_back(d->rx.ns - tx->ns);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20000;
  for (const ns::Family family : {ns::Family::kIPv4, ns::Family::kIPv6}) {
    const std::string fam = family == ns::Family::kIPv4 ? "IPv4" : "IPv6";
    int unstamped = 0;
    report((fam + " loopback rx-tx, kernel software").c_str(), ping(family, ns::TimestampMode::kSoftware, count, &unstamped));
    if (unstamped > 0) std::printf("  (%d pings without a kernel stamp)\n", unstamped);
    report((fam + " loopback rx-tx, user space").c_str(), ping(family, ns::TimestampMode::kUser, count, &unstamped));
  }
  ns::ClockReader& clocks = ns::system_clock_reader();
  for (const int tries : {1, 5}) {
    std::vector<int64_t> hw;
    for (int i = 0; i < count; ++i) hw.push_back(ns::read_realtime_pair(clocks, tries).half_width_ns);
    report(("paired read half-width, best of " + std::to_string(tries)).c_str(), hw);
  }
  return 0;
}
