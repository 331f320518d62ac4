#include "reference_source.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <utility>

#include "master_timeline.hpp"
#include "timesync/daemon/log.hpp"
#include "timesync/reference/chrony_tracking.hpp"
#include "timesync/reference/ptp_status.hpp"
#include "timesync/v1/timesync.pb.h"

namespace timesync::master {
namespace {

constexpr int64_t kDayS = 86'400;

int64_t realtime_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

std::string human_ns(uint64_t ns) {
  char b[48];
  if (ns >= kUnknownErrorNs) return "unknown";
  if (ns < 10'000) {
    std::snprintf(b, sizeof b, "%" PRIu64 " ns", ns);
  } else if (ns < 10'000'000) {
    std::snprintf(b, sizeof b, "%.1f us", static_cast<double>(ns) / 1e3);
  } else if (ns < 10'000'000'000ULL) {
    std::snprintf(b, sizeof b, "%.1f ms", static_cast<double>(ns) / 1e6);
  } else {
    std::snprintf(b, sizeof b, "%.1f s", static_cast<double>(ns) / 1e9);
  }
  return b;
}

}  // namespace

// Reads one reference daemon; (re)opens its client when needed, so a daemon
// that starts after the master, or restarts, is found again.
class ReferenceSource::Reader {
 public:
  explicit Reader(const config::MasterReference& cfg) : cfg_(cfg), where_(cfg.socket_or_default()) {}
  virtual ~Reader() = default;
  virtual ReferenceReading read() = 0;
  const std::string& where() const { return where_; }

 protected:
  config::MasterReference cfg_;
  std::string where_;
};

namespace {

std::chrono::nanoseconds per_attempt(const config::MasterReference& cfg) {
  // At most half a poll per read, in (up to) two attempts.
  return std::chrono::nanoseconds(static_cast<int64_t>(std::min(cfg.poll_s, 1.0) * 0.25e9));
}

class ChronyReader final : public ReferenceSource::Reader {
 public:
  using Reader::Reader;
  ReferenceReading read() override {
    ReferenceReading r;
    if (!client_) {
      reference::ChronyTracking::Params p;
      p.address = where_;
      p.timeout = per_attempt(cfg_);
      p.attempts = 2;
      auto c = reference::ChronyTracking::open(p);
      if (!c.ok()) {
        r.as_of_ns = realtime_now_ns();
        r.what = "unreachable: " + c.status().message();
        return r;
      }
      client_.emplace(std::move(*c));
    }
    auto t = client_->read();
    if (!t.ok()) {
      r.as_of_ns = realtime_now_ns();
      r.what = "unreachable: " + t.status().message();
      if (t.code() == reference::Errc::kSystem) client_.reset();  // its socket is gone: open anew
      return r;
    }
    r.reachable = true;
    r.as_of_ns = t->as_of_ns;
    char what[160];
    if (!t->synchronized) {
      std::snprintf(what, sizeof what, "not synchronized (stratum %u, leap status %s)", t->stratum,
                    reference::to_string(t->leap));
      r.what = what;
      return r;
    }
    r.synchronized = true;
    r.error_ns = t->error_ns;
    r.growth_ppm = cfg_.max_clock_error_ppm + std::fabs(t->skew_ppm) + std::fabs(t->resid_freq_ppm);
    r.leap = t->leap == reference::ChronyLeap::kInsertSecond   ? 1
             : t->leap == reference::ChronyLeap::kDeleteSecond ? -1
                                                               : 0;
    std::snprintf(what, sizeof what,
                  "synchronized to %s stratum %u (system time offset %+" PRId64 " ns, root delay %" PRId64
                  " ns, root dispersion %" PRId64 " ns)",
                  t->ref_name.empty() ? "a local reference" : t->ref_name.c_str(), t->stratum,
                  t->system_time_offset_ns, t->root_delay_ns, t->root_dispersion_ns);
    r.what = what;
    return r;
  }

 private:
  std::optional<reference::ChronyTracking> client_;
};

class PtpReader final : public ReferenceSource::Reader {
 public:
  using Reader::Reader;
  ReferenceReading read() override {
    ReferenceReading r;
    if (!client_) {
      reference::PtpStatus::Params p;
      p.socket_path = where_;
      p.domain_number = static_cast<uint8_t>(cfg_.ptp.domain);
      p.timeout = per_attempt(cfg_);
      p.error.path_asymmetry_fraction = cfg_.ptp.path_asymmetry;
      p.error.extra_ns = cfg_.ptp.extra_ns;
      auto c = reference::PtpStatus::open(p);
      if (!c.ok()) {
        r.as_of_ns = realtime_now_ns();
        r.what = "unreachable: " + c.status().message();
        return r;
      }
      client_.emplace(std::move(*c));
    }
    auto s = client_->read();
    r.as_of_ns = realtime_now_ns();
    if (!s.ok()) {
      r.what = "unreachable: " + s.status().message();
      if (s.code() == reference::Errc::kSystem) client_.reset();
      return r;
    }
    r.reachable = true;
    char what[160];
    if (!s->synchronized) {
      std::snprintf(what, sizeof what, "not synchronized (port %s, grandmaster %s)",
                    reference::to_string(s->port_state), s->gm_present ? "present" : "absent");
      r.what = what;
      return r;
    }
    r.synchronized = true;
    r.error_ns = s->error_ns;
    r.growth_ppm = cfg_.max_clock_error_ppm;
    std::snprintf(what, sizeof what,
                  "synchronized to grandmaster %s, %u step(s) (offset %+" PRId64 " ns, mean path delay %" PRId64
                  " ns)",
                  reference::to_string(s->gm_identity).c_str(), s->steps_removed, s->offset_from_master_ns,
                  s->mean_path_delay_ns);
    r.what = what;
    return r;
  }

 private:
  std::optional<reference::PtpStatus> client_;
};

}  // namespace

ReferenceState reference_state_at(int64_t realtime_ns, const std::optional<ReferenceReading>& last_good,
                                  const ReferenceReading& latest, const reference::LeapSeconds* leaps,
                                  double max_clock_error_ppm) {
  ReferenceState s;
  s.synchronized = latest.synchronized;
  if (last_good) {
    s.known = true;
    const int64_t elapsed = std::max<int64_t>(realtime_ns - last_good->as_of_ns, 0);
    const double rate = std::max(last_good->growth_ppm, max_clock_error_ppm);
    s.growth_ppb = rate * 1e3;
    const double grown = static_cast<double>(last_good->error_ns) +
                         std::ceil(static_cast<double>(elapsed) * rate * 1e-6);
    s.error_ns = grown < static_cast<double>(kUnknownErrorNs) ? static_cast<uint64_t>(grown) : kUnknownErrorNs;
  }
  if (leaps != nullptr) {
    auto st = leaps->at(realtime_ns);
    if (st.ok()) {
      s.tai_minus_utc_s = st->tai_minus_utc_s;
      s.leap_list_expired = st->expired;
      if (st->next) {
        s.next_leap_utc_s = st->next->utc_s;
        s.next_tai_minus_utc_s = st->next->tai_minus_utc_s;
      }
    }
  }
  // A leap second the reference announces for the end of today (UTC).
  if (latest.synchronized && latest.leap != 0) {
    const int64_t midnight = (floor_div(realtime_ns, 1'000'000'000) / kDayS + 1) * kDayS;
    if (s.next_leap_utc_s == 0 || s.next_leap_utc_s > midnight) {
      s.next_leap_utc_s = midnight;
      s.next_tai_minus_utc_s = s.tai_minus_utc_s == 0 ? 0 : s.tai_minus_utc_s + latest.leap;
    }
  }
  return s;
}

std::unique_ptr<ReferenceSource> ReferenceSource::start(const config::MasterReference& cfg) {
  std::unique_ptr<Reader> reader;
  switch (cfg.source) {
    case config::ReferenceSource::kNone: return nullptr;
    case config::ReferenceSource::kChrony: reader = std::make_unique<ChronyReader>(cfg); break;
    case config::ReferenceSource::kPtp: reader = std::make_unique<PtpReader>(cfg); break;
  }
  std::unique_ptr<ReferenceSource> s(new ReferenceSource(cfg, std::move(reader)));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

ReferenceSource::ReferenceSource(const config::MasterReference& cfg, std::unique_ptr<Reader> reader)
    : cfg_(cfg), reader_(std::move(reader)) {
  latest_.what = "not read yet";
  if (!cfg_.leap_seconds_file.empty()) {
    auto l = reference::LeapSeconds::load(cfg_.leap_seconds_file);
    if (l.ok()) {
      leaps_.emplace(std::move(*l));
    } else {
      TS_LOG_WARN("reference: leap-second list not used, TAI-UTC published as unknown: %s",
                  l.status().message().c_str());
    }
  }
}

ReferenceSource::~ReferenceSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReferenceSource::run() {
  const auto period = std::chrono::nanoseconds(static_cast<int64_t>(cfg_.poll_s * 1e9));
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    accept(reader_->read());
    next += period;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // a slow read: no burst to catch up
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, next, [&] { return stop_; })) return;
  }
}

void ReferenceSource::accept(const ReferenceReading& r) {
  const std::string name(config::to_string(cfg_.source));
  std::string log_line;
  bool warn = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool was_good = latest_.synchronized;
    const bool first = readings_ == 0;
    const bool was_reachable = latest_.reachable;
    latest_ = r;
    ++readings_;
    if (r.synchronized) last_good_ = r;
    // One line per change of state, not one per read.
    if (r.synchronized && (first || !was_good)) {
      log_line = "reference " + name + " at " + reader_where() + ": " + r.what + ", error " + human_ns(r.error_ns);
    } else if (!r.synchronized && (first || was_good || was_reachable != r.reachable)) {
      warn = true;
      const ReferenceState st = reference_state_at(r.as_of_ns, last_good_, latest_, nullptr, cfg_.max_clock_error_ppm);
      log_line = "reference " + name + " at " + reader_where() + ": " + r.what +
                 (st.known ? "; its error grows from " + human_ns(st.error_ns) : "; UTC unknown until it synchronizes");
    }
  }
  if (log_line.empty()) return;
  if (warn) {
    TS_LOG_WARN("%s", log_line.c_str());
  } else {
    TS_LOG_INFO("%s", log_line.c_str());
  }
}

std::string ReferenceSource::reader_where() const { return reader_ ? reader_->where() : cfg_.socket_or_default(); }

ReferenceState ReferenceSource::state_at(int64_t realtime_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  return reference_state_at(realtime_ns, last_good_, latest_, leaps_ ? &*leaps_ : nullptr, cfg_.max_clock_error_ppm);
}

ReferenceState ReferenceSource::state_now() const { return state_at(realtime_now_ns()); }

uint64_t ReferenceSource::readings() const {
  std::lock_guard<std::mutex> lock(mu_);
  return readings_;
}

void ReferenceSource::pair(const MasterTimeline& timeline, int64_t* at, int64_t* offset, uint64_t* width) {
  const int64_t r1 = realtime_now_ns();
  const int64_t t = timeline.source().now_ns();
  const int64_t r2 = realtime_now_ns();
  *at = r1 + (r2 - r1) / 2;
  *offset = *at - t;
  *width = static_cast<uint64_t>(std::max<int64_t>(r2 - r1, 0)) / 2 + 1;
}

void ReferenceSource::observe(const MasterTimeline& timeline, bool realtime_timeline) const {
  if (timeline.follower() != nullptr || realtime_timeline) return;
  int64_t at = 0, offset = 0;
  uint64_t width = 0;
  pair(timeline, &at, &offset, &width);
  const ReferenceState s = state_at(at);
  if (!s.known) return;
  std::lock_guard<std::mutex> lock(rate_mu_);
  rate_.add(at, offset, std::min(s.error_ns + width, kUnknownErrorNs));
}

bool ReferenceSource::fill(const MasterTimeline& timeline, bool realtime_timeline, v1::Utc* utc) const {
  if (timeline.follower() != nullptr) return false;  // a followed timeline: its master's UTC, not ours
  int64_t offset = 0;
  uint64_t width = 0;
  int64_t at = 0;
  if (realtime_timeline) {
    at = realtime_now_ns();
  } else {
    pair(timeline, &at, &offset, &width);
  }
  const ReferenceState s = state_at(at);
  if (!s.known) return false;
  if (realtime_timeline) {
    // UTC is the timeline: the agents' bound has the reference's error in it
    // (master_error_ns); from an answer on it may drift at the reference's growth.
    utc->set_offset_rate_ppb(0);
    utc->set_offset_rate_error_ppb(static_cast<uint64_t>(std::ceil(s.growth_ppb)) + 1);
  } else {
    const uint64_t uncertainty = std::min(s.error_ns + width, kUnknownErrorNs);
    std::lock_guard<std::mutex> lock(rate_mu_);
    rate_.add(at, offset, uncertainty);
    const OffsetRateMeter::Rate r = rate_.rate(s.growth_ppb);
    utc->set_offset_rate_ppb(r.ppb);
    utc->set_offset_rate_error_ppb(r.error_ppb);
  }
  utc->set_offset_ns(offset);
  utc->set_error_ns(std::min(s.error_ns + width, kUnknownErrorNs));
  utc->set_synchronized(s.synchronized);
  utc->set_tai_minus_utc_s(s.tai_minus_utc_s);
  utc->set_next_leap_utc_s(s.next_leap_utc_s);
  utc->set_next_tai_minus_utc_s(s.next_tai_minus_utc_s);
  utc->set_leap_list_expired(s.leap_list_expired);
  return true;
}

std::string ReferenceSource::describe() const {
  const int64_t now = realtime_now_ns();
  ReferenceReading latest;
  ReferenceState st;
  {
    std::lock_guard<std::mutex> lock(mu_);
    latest = latest_;
    st = reference_state_at(now, last_good_, latest_, leaps_ ? &*leaps_ : nullptr, cfg_.max_clock_error_ppm);
  }
  std::string out = std::string(config::to_string(cfg_.source)) + " at " + reader_where() + ": " + latest.what;
  out += st.synchronized ? ", error " + human_ns(st.error_ns)
                         : (st.known ? "; error grown to " + human_ns(st.error_ns) : "; UTC unknown");
  return out;
}

}  // namespace timesync::master
