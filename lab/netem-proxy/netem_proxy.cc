// timesync-netem-proxy: a user-space stand-in for `tc netem` (absent from this
// kernel). It relays TCP connections or UDP datagrams between a listening
// address and an upstream address and holds every chunk for a configured delay
// before passing it on:
//
//   timesync-netem-proxy --listen ADDR:PORT --connect ADDR:PORT [--udp]
//       [--delay-up-ms D] [--delay-down-ms D] [--jitter-ms J] [--loss P]
//       [--retransmit-ms R] [--seed N] [--schedule T:UP_MS:DOWN_MS:LOSS,...]
//
// "up" is client -> upstream (the request leg), "down" the answer leg, so
// unequal delays give a path asymmetry. Jitter adds a uniform [-J, +J] to each
// chunk's delay (never below zero). Loss drops a UDP datagram with probability
// P; a TCP stream cannot lose bytes, so a "lost" TCP chunk instead arrives one
// retransmission timeout (--retransmit-ms, default 200, Linux's minimum RTO)
// late, which is what a lost segment costs the application. TCP chunks of one
// direction stay in order (a later chunk never overtakes an earlier one), as
// TCP's reordering buffer would see to. --schedule changes delays and loss at
// times (seconds) after the proxy starts: a route change, a loss burst (see
// schedule.hpp); the --delay-*/--loss values hold before its first entry.
//
// Holding times are on CLOCK_MONOTONIC, waited for with absolute deadlines. It prints "ready"
// on stdout once it listens. SIGINT/SIGTERM end it.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "schedule.hpp"

namespace {

using timesync::lab::Path;
using timesync::lab::Phase;

struct Options {
  std::string listen, connect;
  bool udp = false;
  double delay_up_ms = 0, delay_down_ms = 0, jitter_ms = 0, loss = 0, retransmit_ms = 200;
  uint64_t seed = 1;
  std::vector<Phase> schedule;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "timesync-netem-proxy: %s\n"
               "usage: timesync-netem-proxy --listen ADDR:PORT --connect ADDR:PORT [--udp]\n"
               "         [--delay-up-ms D] [--delay-down-ms D] [--jitter-ms J] [--loss P]\n"
               "         [--retransmit-ms R] [--seed N] [--schedule T:UP_MS:DOWN_MS:LOSS,...]\n",
               why.c_str());
  std::exit(64);
}

double number(const std::string& flag, const char* v, double lo, double hi) {
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (*v == '\0' || *end != '\0' || !(d >= lo && d <= hi)) {
    usage("bad value for " + flag + ": '" + v + "' (expected " + std::to_string(lo) + " to " +
          std::to_string(hi) + ")");
  }
  return d;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (f == "--udp") { o.udp = true; continue; }
    if (i + 1 >= argc) usage("missing value for " + f);
    const char* v = argv[++i];
    if (f == "--listen") o.listen = v;
    else if (f == "--connect") o.connect = v;
    else if (f == "--delay-up-ms") o.delay_up_ms = number(f, v, 0, 10000);
    else if (f == "--delay-down-ms") o.delay_down_ms = number(f, v, 0, 10000);
    else if (f == "--jitter-ms") o.jitter_ms = number(f, v, 0, 10000);
    else if (f == "--loss") o.loss = number(f, v, 0, 1);
    else if (f == "--retransmit-ms") o.retransmit_ms = number(f, v, 0, 60000);
    else if (f == "--seed") o.seed = static_cast<uint64_t>(number(f, v, 0, 1e18));
    else if (f == "--schedule") {
      std::string why;
      if (!timesync::lab::parse_schedule(v, &o.schedule, &why)) usage(why);
    }
    else usage("unknown option '" + f + "'");
  }
  if (o.listen.empty() || o.connect.empty()) usage("--listen and --connect are required");
  return o;
}

sockaddr_storage resolve(const std::string& hostport, socklen_t* len, bool udp) {
  const size_t colon = hostport.rfind(':');
  if (colon == std::string::npos) usage("address '" + hostport + "' has no :PORT");
  std::string host = hostport.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = getaddrinfo(host.c_str(), hostport.c_str() + colon + 1, &hints, &res);
  if (rc != 0) usage("cannot resolve '" + hostport + "': " + gai_strerror(rc));
  sockaddr_storage ss{};
  std::memcpy(&ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return ss;
}

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// Decides each chunk's holding time. One per proxy; thread-safe.
class Impairment {
 public:
  Impairment(const Options& o, int64_t start_ns) : o_(o), start_ns_(start_ns), rng_(o.seed) {}
  // Holding time in ns for a chunk going up (true) or down at now_ns; -1 means drop.
  int64_t hold_ns(bool up, bool can_drop, int64_t now) {
    const Path path = timesync::lab::path_at(o_.schedule, {o_.delay_up_ms, o_.delay_down_ms, o_.loss},
                                             now - start_ns_);
    std::lock_guard<std::mutex> lock(mu_);
    double ms = up ? path.delay_up_ms : path.delay_down_ms;
    if (o_.jitter_ms > 0) ms += std::uniform_real_distribution<double>(-o_.jitter_ms, o_.jitter_ms)(rng_);
    ms = std::max(ms, 0.0);
    if (path.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < path.loss) {
      if (can_drop) return -1;
      ms += o_.retransmit_ms;
    }
    return static_cast<int64_t>(ms * 1e6);
  }

 private:
  const Options o_;
  const int64_t start_ns_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

// Runs actions at their release times, in release order.
class Scheduler {
 public:
  Scheduler() : thread_([this] { run(); }) {}
  ~Scheduler() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void at(int64_t release_ns, std::function<void()> fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      q_.push(Item{release_ns, seq_++, std::move(fn)});
    }
    cv_.notify_one();
  }

 private:
  struct Item {
    int64_t release;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Item& o) const { return release != o.release ? release > o.release : seq > o.seq; }
  };
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !q_.empty(); });
      if (stop_) return;
      const int64_t release = q_.top().release;
      if (release > now_ns()) {
        // steady_clock is CLOCK_MONOTONIC; an earlier item wakes this wait.
        cv_.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(release)));
        continue;
      }
      Item it = q_.top();
      q_.pop();
      lock.unlock();
      it.fn();
      lock.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q_;
  uint64_t seq_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// One relayed TCP connection: two pumps, each reading one side and scheduling
// the bytes for the other. Shared so the scheduled writes keep the sockets open.
struct TcpPair {
  int client = -1, upstream = -1;
  ~TcpPair() {
    if (client >= 0) close(client);
    if (upstream >= 0) close(upstream);
  }
};

void pump(std::shared_ptr<TcpPair> pair, bool up, Impairment* imp, Scheduler* sched) {
  const int from = up ? pair->client : pair->upstream;
  const int to = up ? pair->upstream : pair->client;
  int64_t last_release = 0;
  std::vector<char> buf(64 * 1024);
  for (;;) {
    const ssize_t n = recv(from, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    const int64_t now = now_ns();
    last_release = std::max(last_release, now + imp->hold_ns(up, false, now));
    if (n <= 0) {
      // EOF or error: pass the half-close on after the same delay.
      sched->at(last_release, [pair, to] { shutdown(to, SHUT_WR); });
      break;
    }
    auto data = std::make_shared<std::string>(buf.data(), static_cast<size_t>(n));
    sched->at(last_release, [pair, to, data] {
      if (!write_all(to, data->data(), data->size())) shutdown(to, SHUT_RDWR);
    });
  }
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int listen_socket(const Options& o, int type) {
  socklen_t len = 0;
  const sockaddr_storage ss = resolve(o.listen, &len, type == SOCK_DGRAM);
  const int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) != 0 ||
      (type == SOCK_STREAM && listen(fd, 64) != 0)) {
    std::fprintf(stderr, "timesync-netem-proxy: cannot listen on %s: %s\n", o.listen.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

// The listening socket and the upstream address; says "ready" once listening.
struct Endpoints {
  int lfd = -1;
  sockaddr_storage up{};
  socklen_t ulen = 0;
};

Endpoints open_endpoints(const Options& o, int type) {
  Endpoints e;
  e.lfd = listen_socket(o, type);
  e.up = resolve(o.connect, &e.ulen, type == SOCK_DGRAM);
  std::printf("ready\n");
  std::fflush(stdout);
  return e;
}

void run_tcp(const Options& o, Impairment* imp, Scheduler* sched) {
  const auto [lfd, up, ulen] = open_endpoints(o, SOCK_STREAM);
  for (;;) {
    const int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("timesync-netem-proxy: accept");
      std::exit(1);
    }
    auto pair = std::make_shared<TcpPair>();
    pair->client = c;
    pair->upstream = socket(up.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(pair->upstream, reinterpret_cast<const sockaddr*>(&up), ulen) != 0) {
      std::fprintf(stderr, "timesync-netem-proxy: connect %s: %s\n", o.connect.c_str(),
                   std::strerror(errno));
      continue;  // pair's destructor closes the client: it sees a reset, as with a dead server
    }
    set_nodelay(pair->client);
    set_nodelay(pair->upstream);
    std::thread(pump, pair, true, imp, sched).detach();
    std::thread(pump, pair, false, imp, sched).detach();
  }
}

// UDP: one upstream socket per client address, all served by one poll loop.
void run_udp(const Options& o, Impairment* imp, Scheduler* sched) {
  const auto [lfd, up, ulen] = open_endpoints(o, SOCK_DGRAM);
  struct Peer {
    sockaddr_storage addr;
    socklen_t len;
    int fd;
  };
  std::map<std::string, Peer> peers;  // key: client address bytes
  std::vector<char> buf(65536);
  for (;;) {
    std::vector<pollfd> fds{{lfd, POLLIN, 0}};
    std::vector<const Peer*> order;
    for (const auto& [k, p] : peers) {
      fds.push_back({p.fd, POLLIN, 0});
      order.push_back(&p);
    }
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      const ssize_t n = recvfrom(lfd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n >= 0) {
        const std::string key(reinterpret_cast<const char*>(&from), flen);
        auto it = peers.find(key);
        if (it == peers.end()) {
          const int fd = socket(up.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
          connect(fd, reinterpret_cast<const sockaddr*>(&up), ulen);
          it = peers.emplace(key, Peer{from, flen, fd}).first;
        }
        const int64_t now = now_ns();
        const int64_t hold = imp->hold_ns(true, true, now);
        if (hold >= 0) {
          auto data = std::make_shared<std::string>(buf.data(), static_cast<size_t>(n));
          const int fd = it->second.fd;
          sched->at(now + hold, [fd, data] { send(fd, data->data(), data->size(), 0); });
        }
      }
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      const ssize_t n = recv(fds[i].fd, buf.data(), buf.size(), 0);
      if (n < 0) continue;
      const int64_t now = now_ns();
      const int64_t hold = imp->hold_ns(false, true, now);
      if (hold < 0) continue;
      auto data = std::make_shared<std::string>(buf.data(), static_cast<size_t>(n));
      const Peer peer = *order[i - 1];
      sched->at(now + hold, [lfd, peer, data] {
        sendto(lfd, data->data(), data->size(), 0, reinterpret_cast<const sockaddr*>(&peer.addr), peer.len);
      });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  Impairment imp(o, now_ns());
  Scheduler sched;
  if (o.udp) run_udp(o, &imp, &sched);
  else run_tcp(o, &imp, &sched);
}
