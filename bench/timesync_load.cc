// timesync-load: many simulated agents from one process against one master,
// to measure what the master can serve.
//
// A "connected agent" is one client connection of its own, held for the whole
// run, asking the master at an equal share of the total rate, one exchange
// outstanding at most (as timesync-agent does):
//   grpc: a gRPC channel with its own subchannel (a local subchannel pool), so
//         one HTTP/2 connection per agent; GetTime (or GetStatus) through the
//         asynchronous completion-queue API.
//   udp:  a UDP socket of its own (its own source port), plain (unauthenticated)
//         REQUESTs built with wire::make_request; an exchange is complete when
//         both the RESPONSE and the FOLLOW_UP arrived (wire::open_answer).
// The load is open-loop: each generator thread issues its share of the rate at
// fixed instants, round-robin over its agents, whatever the answers do (an agent
// whose previous exchange is still out skips its turn, counted as "busy").
// Latency is from just before the call is issued to its completion, as a
// client sees it. "late p99" is how far issuing fell behind its schedule: when
// it exceeds a millisecond the generator, not the master, is the limit.
//
//   timesync-load --transport grpc --target 127.0.0.1:7450 --agents 1000
//                 --rates 2000,5000,10000,20000 --step-s 10 --master-pid PID
//   timesync-load --transport udp --target 127.0.0.1:7452 ...
//   timesync-load ... --rates 2000 --step-s 600 --sample-s 10     (a soak)
//
// For each step it prints the exchanges per second that completed, errors
// (non-OK status, deadline or timeout, bad answer), latency percentiles, the
// master's CPU time per exchange and RSS (from /proc/PID; --master-pid), and
// this process's own CPU. The capacity is the highest step with p99 < 1 ms and
// no errors. Raise `ulimit -n` above the agent count (and the master's too).
#include <grpcpp/grpcpp.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "timesync/v1/timesync.grpc.pb.h"
#include "timesync/wire/exchange.hpp"

namespace {

int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

// Latencies at 1 us resolution up to 100 ms; beyond, one overflow bucket
// (its samples count as 100 ms in percentiles, and max is kept exactly).
class Histogram {
 public:
  static constexpr size_t kBuckets = 100'000;
  Histogram() : counts_(kBuckets + 1, 0) {}
  void add(int64_t ns) {
    const int64_t us = std::max<int64_t>(ns / 1000, 0);
    ++counts_[static_cast<size_t>(std::min<int64_t>(us, kBuckets))];
    ++n_;
    max_ns_ = std::max(max_ns_, ns);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    max_ns_ = std::max(max_ns_, o.max_ns_);
  }
  void clear() {
    std::fill(counts_.begin(), counts_.end(), 0);
    n_ = 0;
    max_ns_ = 0;
  }
  uint64_t count() const { return n_; }
  double max_ms() const { return static_cast<double>(max_ns_) / 1e6; }
  // In ms: the upper edge of the bucket holding the p-quantile.
  double pct_ms(double p) const {
    if (n_ == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(std::ceil(p * static_cast<double>(n_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= std::max<uint64_t>(rank, 1)) return static_cast<double>(i + 1) / 1e3;
    }
    return max_ms();
  }
  uint64_t over_ms(double ms) const {
    uint64_t c = 0;
    for (size_t i = static_cast<size_t>(ms * 1e3); i < counts_.size(); ++i) c += counts_[i];
    return c;
  }

 private:
  std::vector<uint64_t> counts_;
  uint64_t n_ = 0;
  int64_t max_ns_ = 0;
};

// What one generator thread measured since the last collect().
struct Stats {
  Histogram latency;
  Histogram late;  // issue time minus scheduled time
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t busy = 0;  // turns skipped: the agent's previous exchange was out
  void merge(const Stats& o) {
    latency.merge(o.latency);
    late.merge(o.late);
    ok += o.ok;
    errors += o.errors;
    busy += o.busy;
  }
  void clear() {
    latency.clear();
    late.clear();
    ok = errors = busy = 0;
  }
};

struct Options {
  std::string transport = "grpc";
  std::string target;
  std::string method = "GetTime";
  int agents = 100;
  std::vector<double> rates{1000};
  double step_s = 10;
  double warmup_s = 3;
  double sample_s = 0;
  int threads = 1;
  pid_t master_pid = 0;
  double deadline_ms = 1000;
  std::vector<int> pin;
};

// One generator thread: its agents, its share of the rate, its stats.
class Worker {
 public:
  virtual ~Worker() = default;
  // Opens the connections; false with *why.
  virtual bool connect(std::string* why) = 0;
  void start() { thread_ = std::thread([this] { run(); }); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  void set_rate(double per_s) { rate_.store(per_s); }
  Stats collect() {
    std::lock_guard<std::mutex> l(mu_);
    Stats s = std::move(stats_);
    stats_ = Stats();
    return s;
  }
  std::string failure() {
    std::lock_guard<std::mutex> l(mu_);
    return first_error_;
  }

 protected:
  virtual void run() = 0;
  // Scheduling: the next agent whose turn is due, or -1.
  int64_t period_ns() const {
    const double r = rate_.load();
    return r > 0 ? static_cast<int64_t>(1e9 / r) : 0;
  }
  void record_ok(int64_t latency_ns) {
    std::lock_guard<std::mutex> l(mu_);
    stats_.latency.add(latency_ns);
    ++stats_.ok;
  }
  void record_error(const std::string& why) {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.errors;
    if (first_error_.empty()) first_error_ = why;
  }
  void record_issue(int64_t late_ns, bool busy) {
    std::lock_guard<std::mutex> l(mu_);
    if (busy) ++stats_.busy;
    else stats_.late.add(late_ns);
  }

  std::atomic<bool> stop_{false};
  std::atomic<double> rate_{0};

 private:
  std::thread thread_;
  std::mutex mu_;
  Stats stats_;
  std::string first_error_;
};

// ---- gRPC ----------------------------------------------------------------

class GrpcWorker final : public Worker {
 public:
  GrpcWorker(std::string target, int agents, std::string method, double deadline_ms, int index)
      : target_(std::move(target)), n_(agents), method_(std::move(method)),
        deadline_ms_(deadline_ms), index_(index) {}

  bool connect(std::string* why) override {
    for (int i = 0; i < n_; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
      // A subchannel (so a TCP connection) of its own, as separate agents have.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("timesync.load.agent", index_ * 1'000'000 + i);
      auto ch = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
      ch->GetState(true);
      agents_.push_back({ch, timesync::v1::TimeService::NewStub(ch)});
    }
    const int64_t end = mono_ns() + 120'000'000'000LL;
    for (Agent& a : agents_) {
      while (a.channel->GetState(true) != GRPC_CHANNEL_READY) {
        if (mono_ns() > end) {
          *why = "not every channel connected within 120 s";
          return false;
        }
        a.channel->WaitForStateChange(a.channel->GetState(false),
                                      std::chrono::system_clock::now() + std::chrono::seconds(1));
      }
    }
    return true;
  }

 private:
  struct Agent {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<timesync::v1::TimeService::Stub> stub;
    bool busy = false;
    uint64_t seq = 0;
  };
  struct Call {
    int agent = 0;
    int64_t t0 = 0;
    grpc::ClientContext ctx;
    grpc::Status status;
    timesync::v1::GetTimeResponse time;
    timesync::v1::GetStatusResponse st;
    std::unique_ptr<grpc::ClientAsyncResponseReader<timesync::v1::GetTimeResponse>> time_rpc;
    std::unique_ptr<grpc::ClientAsyncResponseReader<timesync::v1::GetStatusResponse>> status_rpc;
  };

  void issue(int i) {
    Agent& a = agents_[static_cast<size_t>(i)];
    auto* c = new Call;
    c->agent = i;
    c->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::microseconds(static_cast<int64_t>(deadline_ms_ * 1e3)));
    a.busy = true;
    c->t0 = mono_ns();
    if (method_ == "GetStatus") {
      c->status_rpc = a.stub->AsyncGetStatus(&c->ctx, timesync::v1::GetStatusRequest{}, &cq_);
      c->status_rpc->Finish(&c->st, &c->status, c);
    } else {
      timesync::v1::GetTimeRequest req;
      req.set_sequence(++a.seq);
      req.set_client_id("load");
      req.set_client_send_ns(c->t0);
      c->time_rpc = a.stub->AsyncGetTime(&c->ctx, req, &cq_);
      c->time_rpc->Finish(&c->time, &c->status, c);
    }
  }

  void complete(Call* c) {
    const int64_t t = mono_ns();
    agents_[static_cast<size_t>(c->agent)].busy = false;
    if (c->status.ok()) {
      record_ok(t - c->t0);
    } else {
      record_error("gRPC " + std::to_string(c->status.error_code()) + ": " +
                   c->status.error_message());
    }
    delete c;
  }

  void run() override {
    int64_t next = mono_ns();
    size_t rr = 0;
    int64_t outstanding = 0;
    while (!stop_.load() || outstanding > 0) {
      int64_t now = mono_ns();
      const int64_t period = stop_.load() ? 0 : period_ns();
      if (period == 0) {
        next = now + 10'000'000;
      } else {
        if (now - next > 1'000'000'000) next = now;  // a stall: do not burst to catch up
        while (next <= now) {
          const size_t i = rr++ % agents_.size();
          const bool busy = agents_[i].busy;
          record_issue(mono_ns() - next, busy);
          if (!busy) {
            issue(static_cast<int>(i));
            ++outstanding;
          }
          next += period;
        }
      }
      void* tag = nullptr;
      bool ok = false;
      const gpr_timespec until = gpr_time_add(
          gpr_now(GPR_CLOCK_MONOTONIC),
          gpr_time_from_nanos(std::max<int64_t>(0, std::min<int64_t>(next - mono_ns(), 10'000'000)),
                              GPR_TIMESPAN));
      for (;;) {
        const auto r = cq_.AsyncNext(&tag, &ok, until);
        if (r != grpc::CompletionQueue::GOT_EVENT) break;
        complete(static_cast<Call*>(tag));
        --outstanding;
        // Drain without waiting, but leave to issue on time.
        if (mono_ns() >= next) break;
      }
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) complete(static_cast<Call*>(tag));
  }

  const std::string target_;
  const int n_;
  const std::string method_;
  const double deadline_ms_;
  const int index_;
  std::vector<Agent> agents_;
  grpc::CompletionQueue cq_;
};

// ---- UDP -----------------------------------------------------------------

class UdpWorker final : public Worker {
 public:
  UdpWorker(std::string target, int agents, double deadline_ms)
      : target_(std::move(target)), n_(agents), deadline_ns_(static_cast<int64_t>(deadline_ms * 1e6)) {}
  ~UdpWorker() override {
    for (Agent& a : agents_) close(a.fd);
    if (ep_ >= 0) close(ep_);
  }

  bool connect(std::string* why) override {
    const size_t colon = target_.rfind(':');
    if (colon == std::string::npos) {
      *why = "--target must be HOST:PORT";
      return false;
    }
    std::string host = target_.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), target_.substr(colon + 1).c_str(), &hints, &res) != 0 || !res) {
      *why = "cannot resolve " + target_;
      return false;
    }
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    std::mt19937_64 rng(std::random_device{}());
    for (int i = 0; i < n_; ++i) {
      const int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0 || ::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        *why = std::string("UDP socket: ") + std::strerror(errno);
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return false;
      }
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      agents_.push_back({fd, rng() >> 1});
    }
    freeaddrinfo(res);
    return true;
  }

 private:
  struct Agent {
    int fd = -1;
    uint64_t seq = 0;
    bool busy = false;
    bool got_response = false;
    bool got_follow_up = false;
    int64_t t0 = 0;
  };

  void issue(Agent& a) {
    ++a.seq;
    const auto d = timesync::wire::make_request(a.seq, nullptr);
    if (!d.ok()) {
      record_error("make_request failed");
      return;
    }
    a.busy = true;
    a.got_response = a.got_follow_up = false;
    a.t0 = mono_ns();
    if (send(a.fd, d.value().bytes.data(), d.value().size, 0) < 0) {
      a.busy = false;
      record_error(std::string("send: ") + std::strerror(errno));
    }
  }

  void receive(Agent& a) {
    uint8_t buf[512];
    for (;;) {
      const ssize_t n = recv(a.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) return;  // EAGAIN, or an ICMP error reported later as a timeout
      if (!a.busy) continue;  // late: its exchange already timed out
      const auto ans = timesync::wire::open_answer(
          std::span<const uint8_t>(buf, static_cast<size_t>(n)), nullptr, a.seq);
      if (!ans.ok()) continue;  // e.g. an answer to an earlier, timed-out request
      if (std::holds_alternative<timesync::wire::Response>(ans.value())) a.got_response = true;
      else a.got_follow_up = true;
      if (a.got_response && a.got_follow_up) {
        a.busy = false;
        record_ok(mono_ns() - a.t0);
      }
    }
  }

  void run() override {
    int64_t next = mono_ns();
    int64_t next_sweep = next + 100'000'000;
    size_t rr = 0;
    std::vector<epoll_event> events(256);
    while (!stop_.load()) {
      const int64_t now = mono_ns();
      const int64_t period = period_ns();
      if (period == 0) {
        next = now + 10'000'000;
      } else {
        if (now - next > 1'000'000'000) next = now;
        while (next <= now) {
          Agent& a = agents_[rr++ % agents_.size()];
          record_issue(mono_ns() - next, a.busy);
          if (!a.busy) issue(a);
          next += period;
        }
      }
      if (now >= next_sweep) {  // exchanges that will not complete
        for (Agent& a : agents_) {
          if (a.busy && now - a.t0 > deadline_ns_) {
            a.busy = false;
            record_error(a.got_response ? "UDP: no FOLLOW_UP in time" : "UDP: no answer in time");
          }
        }
        next_sweep = now + 100'000'000;
      }
      const int64_t wait_ns = std::max<int64_t>(0, std::min<int64_t>(next - mono_ns(), 10'000'000));
      // epoll_wait has ms resolution; spin-free sub-ms waits with epoll_pwait2.
      const timespec ts{0, static_cast<long>(wait_ns)};
      const int k = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
      for (int e = 0; e < k; ++e) receive(agents_[events[static_cast<size_t>(e)].data.u32]);
    }
  }

  const std::string target_;
  const int n_;
  const int64_t deadline_ns_;
  int ep_ = -1;
  std::vector<Agent> agents_;
};

// ---- the master's /proc --------------------------------------------------

struct ProcSample {
  double cpu_s = 0;   // utime + stime, all threads
  double rss_mb = 0;
  bool ok = false;
};

ProcSample sample_proc(pid_t pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // Fields after the command (which may hold spaces) start at ") ".
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  if (f.size() < 13) return s;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;  // fields 14 and 15
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_mb = std::stod(line.substr(6)) / 1024.0;
  }
  s.ok = true;
  return s;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::vector<double> parse_list(const std::string& s) {
  std::vector<double> v;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');) v.push_back(std::atof(x.c_str()));
  return v;
}

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "timesync-load: %s\n", why);
  std::fprintf(stderr,
               "usage: timesync-load --target HOST:PORT [--transport grpc|udp] [--agents N]\n"
               "         [--rates R1,R2,...] [--step-s S] [--warmup-s S] [--sample-s S]\n"
               "         [--threads T] [--master-pid PID] [--deadline-ms MS]\n"
               "         [--method GetTime|GetStatus] [--pin CPU[,CPU]]\n");
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + f).c_str());
    const std::string v = argv[++i];
    if (f == "--target") o.target = v;
    else if (f == "--transport") o.transport = v;
    else if (f == "--method") o.method = v;
    else if (f == "--agents") o.agents = std::atoi(v.c_str());
    else if (f == "--rates") o.rates = parse_list(v);
    else if (f == "--step-s") o.step_s = std::atof(v.c_str());
    else if (f == "--warmup-s") o.warmup_s = std::atof(v.c_str());
    else if (f == "--sample-s") o.sample_s = std::atof(v.c_str());
    else if (f == "--threads") o.threads = std::atoi(v.c_str());
    else if (f == "--master-pid") o.master_pid = std::atoi(v.c_str());
    else if (f == "--deadline-ms") o.deadline_ms = std::atof(v.c_str());
    else if (f == "--pin") for (double c : parse_list(v)) o.pin.push_back(static_cast<int>(c));
    else usage(("unknown option " + f).c_str());
  }
  if (o.target.empty()) usage("--target is required");
  if (o.transport != "grpc" && o.transport != "udp") usage("--transport is grpc or udp");
  if (o.agents < 1 || o.threads < 1 || o.threads > o.agents) usage("need 1 <= threads <= agents");
  if (!o.pin.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : o.pin) CPU_SET(c, &set);
    sched_setaffinity(0, sizeof set, &set);  // inherited by the threads started below
  }
  rlimit nofile{};
  getrlimit(RLIMIT_NOFILE, &nofile);
  if (nofile.rlim_cur < static_cast<rlim_t>(o.agents) + 64) {
    nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, static_cast<rlim_t>(o.agents) + 256);
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < o.threads; ++t) {
    const int n = o.agents / o.threads + (t < o.agents % o.threads ? 1 : 0);
    if (o.transport == "grpc") {
      workers.push_back(std::make_unique<GrpcWorker>(o.target, n, o.method, o.deadline_ms, t));
    } else {
      workers.push_back(std::make_unique<UdpWorker>(o.target, n, o.deadline_ms));
    }
  }
  const int64_t c0 = mono_ns();
  for (auto& w : workers) {
    std::string why;
    if (!w->connect(&why)) {
      std::fprintf(stderr, "timesync-load: %s\n", why.c_str());
      return 1;
    }
  }
  // The master's own cost with every agent connected and none asking.
  const ProcSample idle0 = sample_proc(o.master_pid);
  const timespec two_s{2, 0};
  nanosleep(&two_s, nullptr);
  const ProcSample idle = sample_proc(o.master_pid);
  std::printf("# %d %s agents connected to %s in %.1f s (%d generator threads); master idle: "
              "%.1f %% of a core, RSS %.1f MB\n",
              o.agents, o.transport.c_str(), o.target.c_str(),
              static_cast<double>(mono_ns() - c0) / 1e9, o.threads,
              100 * (idle.cpu_s - idle0.cpu_s) / 2, idle.rss_mb);
  std::printf("# %-8s %8s %7s %6s %7s %7s %8s %7s %7s %7s %9s %8s %8s %8s\n", "rate/s", "done/s",
              "errors", "busy", "p50 ms", "p99 ms", "p99.9 ms", "max ms", ">1ms", "late99",
              "mCPU us/x", "mCPU %", "mRSS MB", "gCPU %");
  std::fflush(stdout);
  for (auto& w : workers) w->start();

  auto set_rate = [&](double r) {
    for (auto& w : workers) w->set_rate(r / static_cast<double>(workers.size()));
  };
  auto collect = [&] {
    Stats all;
    for (auto& w : workers) all.merge(w->collect());
    return all;
  };
  auto row = [&](double rate, double secs, const Stats& s, const ProcSample& m0,
                 const ProcSample& m1, double g_cpu) {
    const double done = static_cast<double>(s.ok) / secs;
    const double m_cpu = m1.cpu_s - m0.cpu_s;
    std::printf("  %-8.0f %8.0f %7llu %6llu %7.3f %7.3f %8.3f %7.2f %7llu %7.3f %9.1f %8.1f %8.1f %8.1f\n",
                rate, done, static_cast<unsigned long long>(s.errors),
                static_cast<unsigned long long>(s.busy), s.latency.pct_ms(0.5),
                s.latency.pct_ms(0.99), s.latency.pct_ms(0.999), s.latency.max_ms(),
                static_cast<unsigned long long>(s.latency.over_ms(1.0)), s.late.pct_ms(0.99),
                s.ok > 0 && m1.ok ? m_cpu * 1e6 / static_cast<double>(s.ok) : 0.0,
                m1.ok ? 100 * m_cpu / secs : 0.0, m1.rss_mb, 100 * g_cpu / secs);
    std::fflush(stdout);
  };

  int failed_steps = 0;
  for (const double rate : o.rates) {
    set_rate(rate);
    const timespec warm{static_cast<time_t>(o.warmup_s),
                        static_cast<long>((o.warmup_s - std::floor(o.warmup_s)) * 1e9)};
    nanosleep(&warm, nullptr);
    collect();
    Stats total;
    const ProcSample m_start = sample_proc(o.master_pid);
    const double g_start = self_cpu_s();
    const int64_t t_start = mono_ns();
    const double every = o.sample_s > 0 ? o.sample_s : o.step_s;
    ProcSample m_prev = m_start;
    double g_prev = g_start;
    int64_t t_prev = t_start;
    while (static_cast<double>(t_prev - t_start) / 1e9 < o.step_s - 1e-3) {
      const int64_t until = t_prev + static_cast<int64_t>(std::min(every, o.step_s) * 1e9);
      const timespec at{static_cast<time_t>(until / 1'000'000'000),
                        static_cast<long>(until % 1'000'000'000)};
      clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr);
      const Stats s = collect();
      const ProcSample m = sample_proc(o.master_pid);
      const double g = self_cpu_s();
      const int64_t t = mono_ns();
      if (o.sample_s > 0) {
        std::printf("  t=%-6.0f", static_cast<double>(t - t_start) / 1e9);
        row(rate, static_cast<double>(t - t_prev) / 1e9, s, m_prev, m, g - g_prev);
      }
      total.merge(s);
      m_prev = m;
      g_prev = g;
      t_prev = t;
    }
    if (o.sample_s > 0) std::printf("  total  ");
    row(rate, static_cast<double>(t_prev - t_start) / 1e9, total, m_start, m_prev,
        g_prev - g_start);
    if (total.errors > 0) {
      ++failed_steps;
      for (auto& w : workers) {
        if (const std::string f = w->failure(); !f.empty()) {
          std::printf("#   first error: %s\n", f.c_str());
          break;
        }
      }
    }
  }
  set_rate(0);
  for (auto& w : workers) w->stop();
  return failed_steps > 0 ? 2 : 0;
}
