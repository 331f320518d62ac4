// SimLink: a simulated master and path, in simulated time, for tests of the
// whole agent without sockets or wall time. Test equipment beside the
// interface it implements (master_link.hpp), not used by the daemon.
//
// The master's timeline is the VirtualHostClock's time plus `timeline_offset_ns`
// (0: the master serves host raw, so a reading's truth is its host instant).
// An exchange advances the virtual clock by its legs: t0 on the local clock,
// the request leg (leg_ns + exponential jitter + asymmetry), t1 = t2 - hold on
// the master, the answer leg, t3 on the local clock.
//
// Thread safety: one caller.
#pragma once

#include <cmath>
#include <random>
#include <string>

#include "master_link.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

struct SimPath {
  double leg_ns = 40'000;
  double jitter_mean_ns = 3'000;
  double asymmetry_ns = 0;     // added to the request leg
  double hold_ns = 5'000;
  double timeout_ns = 500e6;   // a lost exchange costs this much time
  bool up = true;              // false: unreachable (connection refused)
  bool silent = false;         // true: no answer (times out)
};

class SimLink final : public DiscoveredLink {
 public:
  SimLink(const VirtualHostClock& host, const TimeSource& local, MasterInfo master, uint64_t seed,
          const char* transport = "grpc", StampSource stamps = StampSource::kUser)
      : host_(host), local_(local), master_(std::move(master)), rng_(seed), transport_(transport),
        stamps_(stamps) {}

  LinkResult exchange() override {
    LinkResult r;
    ++exchanges_;
    if (!path.up || (needs_attach_ && !attached_)) {
      host_.advance(1'000'000);
      r.error = LinkError::kUnreachable;
      r.message = std::string(transport_) + ": connection refused";
      return r;
    }
    if (path.silent) {
      host_.advance(static_cast<int64_t>(path.timeout_ns));
      r.error = LinkError::kTimeout;
      r.message = std::string(transport_) + ": no answer";
      return r;
    }
    std::exponential_distribution<double> jit(1.0 / std::max(1.0, path.jitter_mean_ns));
    r.ex.x.t0 = LocalTime{local_.now_ns()};
    host_.advance(std::llround(path.leg_ns + jit(rng_) + path.asymmetry_ns));
    const int64_t t1 = host_.now_ns() + timeline_offset_ns;
    host_.advance(std::llround(path.hold_ns));
    const int64_t t2 = host_.now_ns() + timeline_offset_ns;
    host_.advance(std::llround(path.leg_ns + jit(rng_)));
    r.ex.x.t3 = LocalTime{local_.now_ns()};
    r.ex.x.t1_ns = t1;
    r.ex.x.t2_ns = t2;
    r.ex.x.master_error_ns = master_.error_ns;
    r.ex.master = master_;
    if (std::string(transport_) == "udp") r.ex.master.id.clear();  // UDP does not carry it
    r.ex.local_stamps = r.ex.master_stamps = stamps_;
    return r;
  }
  const char* transport() const override { return transport_; }
  std::string describe() const override { return std::string("simulated ") + transport_; }

  // As a DiscoveredLink (the UDP side of an AutoLink): attaches while the
  // master offers its port and `attachable` is true.
  bool attach(const MasterInfo& m, std::string* why) override {
    if (!attachable || m.udp_port == 0) {
      *why = "simulated: UDP not available";
      return false;
    }
    attached_ = true;
    return true;
  }
  void detach() override { attached_ = false; }
  bool attached() const override { return attached_; }
  void require_attach() { needs_attach_ = true; }

  SimPath path;
  bool attachable = true;
  int64_t timeline_offset_ns = 0;
  MasterInfo& master() { return master_; }
  uint64_t exchanges() const { return exchanges_; }

 private:
  const VirtualHostClock& host_;
  const TimeSource& local_;
  MasterInfo master_;
  std::mt19937_64 rng_;
  const char* transport_;
  StampSource stamps_;
  bool attached_ = false;
  bool needs_attach_ = false;
  uint64_t exchanges_ = 0;
};

}  // namespace timesync::agent
