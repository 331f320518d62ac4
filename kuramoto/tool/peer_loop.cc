#include "peer_loop.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <thread>

namespace timesync::kuramoto {
namespace {

constexpr int64_t kNever = INT64_MIN;

int64_t now_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Sleeps until the base clock reads base_ns (or stop). clock_nanosleep cannot
// sleep on CLOCK_MONOTONIC_RAW, so a RAW deadline becomes a MONOTONIC one
// through the two clocks read now: they differ in rate by NTP's slew (ppm),
// which over one period is nanoseconds.
void sleep_until(clockid_t base, int64_t base_ns, const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    int64_t mono = base_ns;
    if (base != CLOCK_MONOTONIC) {
      const int64_t b = now_ns(base);
      if (b >= base_ns) return;
      mono = now_ns(CLOCK_MONOTONIC) + (base_ns - b);
    }
    const timespec ts{static_cast<time_t>(mono / 1'000'000'000),
                      static_cast<long>(mono % 1'000'000'000)};
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == 0) return;
    // EINTR: a signal; the loop re-checks stop.
  }
}

}  // namespace

LoopResult run_peer(gpio::OutputLine& out, const std::vector<std::unique_ptr<gpio::InputLine>>& ins,
                    const std::vector<std::string>& names, const LoopOptions& opt,
                    const std::atomic<bool>& stop) {
  LoopResult r;
  const clockid_t base = ins.front()->event_clock() == gpio::EventClock::kMonotonicRaw
                             ? CLOCK_MONOTONIC_RAW
                             : CLOCK_MONOTONIC;
  CouplingParams cp = opt.coupling;
  cp.participants = static_cast<int>(ins.size()) + 1;
  const int64_t period = period_ns_for(cp.hz);
  const int64_t start = now_ns(base);
  const LocalTimescale clock{start, opt.drift_ppm};
  // Two periods of margin: the first one may be spent starting threads.
  const int64_t first_base =
      (start / period + 2) * period +
      std::llround(static_cast<double>(period) * std::fmod(opt.start_phase_deg + 360.0, 360.0) / 360.0);
  Peer peer(cp, clock.to_local(first_base));

  r.log.hz = cp.hz;
  r.log.coupling = cp.coupling;
  r.log.participants = cp.participants;
  r.log.drift_ppm = opt.drift_ppm;
  for (const std::string& n : names) {
    r.log.peers.push_back(PeerTrace{n, {}});
    r.log.peers.back().delta_ns.reserve(opt.cycles ? opt.cycles : 1 << 16);
  }

  // gtimer: the newest rising edge of each input, on our local clock.
  std::vector<std::atomic<int64_t>> latest(ins.size());
  for (auto& l : latest) l.store(kNever);
  std::atomic<bool> watchers_stop{false};
  std::atomic<bool> watch_failed{false};
  std::vector<std::string> watch_errors(ins.size());
  std::vector<std::thread> watchers;
  for (size_t k = 0; k < ins.size(); ++k) {
    watchers.emplace_back([&, k] {
      if (opt.fifo_priority > 0) {
        // Above the loop, as the seed runs gtimer above gsync: an edge is
        // stamped by the line, but it must be published before the loop reads it.
        sched_param sp{};
        sp.sched_priority = std::min(opt.fifo_priority + 1, sched_get_priority_max(SCHED_FIFO));
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
      }
      gpio::EdgeEvent ev;
      while (!watchers_stop.load(std::memory_order_relaxed)) {
        const auto w = ins[k]->wait_edge(std::chrono::milliseconds(50), &ev, &watch_errors[k]);
        if (w == gpio::InputLine::Wait::kError) {
          watch_failed.store(true);
          return;
        }
        if (w == gpio::InputLine::Wait::kEdge && ev.edge == gpio::Edge::kRising) {
          latest[k].store(clock.to_local(ev.timestamp_ns), std::memory_order_release);
        }
      }
    });
  }

  std::vector<std::optional<int64_t>> last(ins.size());
  for (uint64_t c = 0; opt.cycles == 0 || c < opt.cycles; ++c) {
    sleep_until(base, clock.to_base(peer.next_wake_ns()), stop);
    if (stop.load() || watch_failed.load()) break;
    const int64_t emit = clock.to_local(now_ns(base));
    if (std::string e = out.set(true); !e.empty()) {
      r.error = e;
      break;
    }
    for (size_t k = 0; k < ins.size(); ++k) {
      const int64_t t = latest[k].load(std::memory_order_acquire);
      last[k] = t == kNever ? std::nullopt : std::optional<int64_t>(t);
    }
    const Update& u = peer.on_pulse(emit, last);
    for (size_t k = 0; k < u.delta_ns.size(); ++k) r.log.peers[k].delta_ns.push_back(u.delta_ns[k]);
    sleep_until(base, clock.to_base(emit + opt.width_ns), stop);
    if (std::string e = out.set(false); !e.empty()) {
      r.error = e;
      break;
    }
  }
  (void)out.set(false);
  watchers_stop.store(true);
  for (auto& t : watchers) t.join();
  for (size_t k = 0; k < ins.size() && r.error.empty(); ++k) {
    if (!watch_errors[k].empty()) r.error = "input " + names[k] + ": " + watch_errors[k];
  }
  r.log.cycles = r.log.peers.front().delta_ns.size();
  r.log.missed_wakeups = peer.missed();
  return r;
}

}  // namespace timesync::kuramoto
