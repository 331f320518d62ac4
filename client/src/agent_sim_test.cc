// The whole agent in simulated time: its real loop, estimator, policy and
// publication, on a simulated oscillator over a VirtualHostClock, talking to
// a simulated master over SimLinks, publishing into a recorder. Readers are
// libtimesync's own evaluate() on what was published, every millisecond of
// simulated time, against the exact truth. Minutes of agent life run in
// milliseconds, and every rule passes or fails on numbers.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "agent.hpp"
#include "auto_link.hpp"
#include "failover_link.hpp"
#include "sim_link.hpp"
#include "timesync/timebase/sim_oscillator.hpp"
#include "timesync/transform.hpp"

namespace timesync::agent {
namespace {

constexpr int64_t kStart = 1'000'000'000'000;
constexpr int64_t kSec = 1'000'000'000;

class Recorder final : public Publisher {
 public:
  void publish(const TransformSnapshot& s) override {
    last = s;
    ++count;
  }
  uint64_t previous_epoch() const override { return 0; }
  std::string where() const override { return "recorder"; }
  TransformSnapshot last{};
  uint64_t count = 0;
};

MasterInfo sim_master(uint16_t udp_port = 0) {
  MasterInfo m;
  m.id = "sim-master";
  m.instance = 7;
  m.epoch = 0xe1;
  m.timebase = MasterTimebase::kMonotonic;
  m.udp_port = udp_port;
  return m;
}

config::ClientConfig sim_config() {
  config::ClientConfig c;
  c.master = "sim:7450";
  c.poll = {0.125, 2.0, 0.5, 3};
  c.alarm = {1000, 0.8, 3, 10};
  return c;
}

struct Readings {
  uint64_t served = 0, refused = 0, outside = 0;
  uint64_t refused_by[16] = {};  // by timesync::Error
  double first_refused_s = -1;
  double worst_ratio = 0, worst_abs_ns = 0;
};

// An agent on a crystal `ppm` fast and `offset_s` off, against a master
// serving host raw (+ the link's timeline offset).
struct World {
  explicit World(double ppm = 35, double offset_s = 0.25, config::ClientConfig cfg = sim_config())
      : host(kStart),
        local([&] {
          SimOscillatorParams p;
          p.freq_ppm = ppm;
          p.initial_offset_s = offset_s;
          p.wander_ppb_per_sqrt_s = 2;
          return p;
        }(), kStart, &host),
        grpc(host, local, sim_master(), 11),
        cfg_(std::move(cfg)) {}

  void start(MasterLink& link) { agent = std::make_unique<Agent>(cfg_, "sim-agent", local, out, alarms, link); }
  void start() { start(grpc); }

  // Runs the agent for `s` simulated seconds; readers every ms.
  void run(double s) {
    const int64_t end = host.now_ns() + static_cast<int64_t>(s * 1e9);
    while (host.now_ns() < end) {
      // A round when one is due (run() may be called in slices shorter than a poll).
      if (local.now_ns() >= next_local_) next_local_ = agent->round();
      const int64_t next_host = std::min(local.to_host_raw_ns(next_local_), end);
      for (int64_t h = host.now_ns(); h < next_host; h += 1'000'000) read(h);
      host.advance_to(next_host);
    }
  }
  int64_t next_local_ = 0;

  void read(int64_t h) {
    const TimestampWithError r = evaluate(out.last, LocalTime{h});
    if (!r.ok()) {
      ++readings.refused;
      ++readings.refused_by[static_cast<size_t>(r.error) & 15];
      if (readings.first_refused_s < 0) readings.first_refused_s = static_cast<double>(h - kStart) / 1e9;
      return;
    }
    ++readings.served;
    // A reading is on the timeline its epoch names: the old one until the
    // agent has heard of the new one.
    const auto old = timeline_of_epoch.find(r.epoch);
    const int64_t offset = old != timeline_of_epoch.end() ? old->second : grpc.timeline_offset_ns;
    const double err = static_cast<double>(r.time.ns - (h + offset));
    const double bound = static_cast<double>(r.bound_ns);
    readings.worst_abs_ns = std::max(readings.worst_abs_ns, std::fabs(err));
    readings.worst_ratio = std::max(readings.worst_ratio, std::fabs(err) / std::max(bound, 1.0));
    if (std::fabs(err) > bound) ++readings.outside;
  }

  Readings take() {
    const Readings r = readings;
    readings = {};
    return r;
  }

  VirtualHostClock host;
  SimulatedOscillator local;
  SimLink grpc;
  config::ClientConfig cfg_;
  Recorder out;
  AlarmHub alarms;
  std::unique_ptr<Agent> agent;
  Readings readings;
  std::map<uint64_t, int64_t> timeline_of_epoch;  // published epoch -> master offset, once it changed
};

TEST(AgentSim, SynchronizesWithinASecondAndKeepsEveryReadingInsideTheBound) {
  World w;
  w.start();
  w.run(1.0);
  AgentStatusInfo st = w.agent->status();
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
  EXPECT_GT(st.time_to_sync_s, 0);
  EXPECT_LT(st.time_to_sync_s, 1.0);
  w.take();
  w.run(60);
  st = w.agent->status();
  const Readings r = w.take();
  std::fprintf(stderr, "60 s: %llu served, %llu refused, worst |err| %.1f us, worst ratio %.3f, "
               "freq %.3f ppm, bound %.1f us, poll %.2f s\n",
               static_cast<unsigned long long>(r.served), static_cast<unsigned long long>(r.refused),
               r.worst_abs_ns / 1e3, r.worst_ratio, st.freq_ppm, static_cast<double>(st.bound_ns) / 1e3,
               st.poll_interval_s);
  EXPECT_EQ(r.outside, 0u);
  EXPECT_EQ(r.refused, 0u) << "first at " << r.first_refused_s << " s; not synchronized "
                           << r.refused_by[static_cast<size_t>(Error::kNotSynchronized)] << ", stale "
                           << r.refused_by[static_cast<size_t>(Error::kStale)] << ", bound exceeded "
                           << r.refused_by[static_cast<size_t>(Error::kBoundExceeded)];
  EXPECT_GT(r.served, 59'000u);
  EXPECT_EQ(st.poll_interval_s, 2.0);  // grew to poll.max_s
  // The master is 35 ppm slow of this crystal: -34.9988 ppm.
  EXPECT_NEAR(st.freq_ppm, -34.9988, 0.05);
  EXPECT_LT(st.bound_ns, 100'000u);
  EXPECT_EQ(st.link, "grpc");
  EXPECT_EQ(st.timestamps, StampSource::kUser);
}

TEST(AgentSim, AnOutageHoldsOverRaisesTheAlarmRefusesAndRecovers) {
  World w;
  w.start();
  w.run(20);
  w.take();
  w.grpc.path.up = false;
  w.run(2.5);  // a poll (2 s) fails
  EXPECT_EQ(w.agent->status().state, ClockStatus::kHoldover);
  Readings r = w.take();
  EXPECT_GT(r.served, 1000u);  // holdover still serves
  EXPECT_EQ(r.outside, 0u);
  w.run(3);  // unreachable_after_s = 3
  AgentStatusInfo st = w.agent->status();
  EXPECT_TRUE(st.alarm_active);
  EXPECT_EQ(st.alarm_reason, AlarmReason::kMasterUnreachable);
  EXPECT_EQ(st.state, ClockStatus::kUnsynchronized);
  EXPECT_GE(st.link_errors[static_cast<size_t>(LinkError::kUnreachable)], 10u);
  EXPECT_EQ(w.alarms.last_sequence(), 1u);
  w.take();
  w.run(2);
  r = w.take();
  EXPECT_EQ(r.served, 0u) << "refused while the alarm is raised";
  w.grpc.path.up = true;
  w.run(2);
  st = w.agent->status();
  EXPECT_FALSE(st.alarm_active);
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
  EXPECT_EQ(w.alarms.last_sequence(), 2u);  // raised, cleared
  w.run(20);
  r = w.take();
  EXPECT_EQ(r.outside, 0u);
  EXPECT_GT(r.served, 20'000u);
}

TEST(AgentSim, ABoundAboveMaxErrorRaisesTheAlarmWithHysteresis) {
  config::ClientConfig c = sim_config();
  c.alarm.max_error_us = 200;
  World w(35, 0.25, c);
  w.start();
  w.run(20);
  EXPECT_EQ(w.agent->status().state, ClockStatus::kSynchronized);
  // The path's delay grows to 500 us a leg: the hard intervals (and so the
  // bound) exceed 200 us.
  w.grpc.path.leg_ns = 500'000;
  w.run(40);
  AgentStatusInfo st = w.agent->status();
  EXPECT_TRUE(st.alarm_active);
  EXPECT_EQ(st.alarm_reason, AlarmReason::kBoundExceeded);
  EXPECT_EQ(w.take().outside, 0u);
  w.grpc.path.leg_ns = 40'000;
  w.run(30);
  st = w.agent->status();
  EXPECT_FALSE(st.alarm_active);
  EXPECT_LT(st.bound_ns, 160'000u);  // below clear_ratio x max
  EXPECT_EQ(w.take().outside, 0u);
}

TEST(AgentSim, ANewMasterTimelineRelocksInANewEpoch) {
  World w;
  w.start();
  w.run(10);
  const uint64_t epoch = w.out.last.epoch;
  EXPECT_GE(epoch, 1u);
  // The master restarts on another timeline, 2 s ahead.
  w.timeline_of_epoch[epoch] = 0;
  w.grpc.master().epoch = 0xe2;
  w.grpc.master().instance = 8;
  w.grpc.timeline_offset_ns = 2 * kSec;
  w.take();
  w.run(10);
  EXPECT_EQ(w.out.last.epoch, epoch + 1);
  const AgentStatusInfo st = w.agent->status();
  EXPECT_EQ(st.master.epoch, 0xe2u);
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
  EXPECT_EQ(w.take().outside, 0u);
}

TEST(AgentSim, AutoUsesUdpWhenOfferedFallsBackToGrpcAndReturns) {
  World w;
  w.grpc.master().udp_port = 7452;
  SimLink udp(w.host, w.local, sim_master(7452), 12, "udp", StampSource::kKernel);
  udp.path.leg_ns = 10'000;
  udp.path.jitter_mean_ns = 300;
  udp.require_attach();
  AutoLink link(w.grpc, udp, w.local, AutoLinkOptions{false, 5, 3});
  w.start(link);
  w.run(10);
  AgentStatusInfo st = w.agent->status();
  EXPECT_EQ(st.link, "udp");
  EXPECT_EQ(st.timestamps, StampSource::kKernel);
  EXPECT_EQ(st.master.id, "sim-master");  // from gRPC; UDP does not carry it
  w.take();
  const uint64_t grpc_before = w.grpc.exchanges();
  // UDP blocked (port closed): after three failures, gRPC carries the samples.
  udp.path.up = false;
  w.run(3);
  st = w.agent->status();
  EXPECT_EQ(st.link, "grpc");
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
  EXPECT_GT(w.grpc.exchanges(), grpc_before);
  EXPECT_EQ(link.fallbacks(), 1u);
  // UDP open again: back after the retry interval (5 s).
  udp.path.up = true;
  w.run(8);
  st = w.agent->status();
  EXPECT_EQ(st.link, "udp");
  const Readings r = w.take();
  EXPECT_EQ(r.outside, 0u);
  EXPECT_EQ(r.refused, 0u) << "no reading refused through either switch";
}

// UDP answers carry no UTC: the master's UTC from gRPC rides on every UDP
// result, and one gRPC call every info_refresh_s (10 s) keeps it fresh.
TEST(AgentSim, OnUdpTheMastersUtcRidesAlongAndIsRefreshedOverGrpc) {
  World w;
  w.grpc.master().udp_port = 7452;
  MasterUtc u;
  u.offset_ns = 1'700'000'000 * kSec;
  u.error_ns = 5'000;
  u.synchronized = true;
  u.tai_minus_utc_s = 37;
  u.rate_error_ppb = 2'000;
  w.grpc.master().utc = u;
  SimLink udp(w.host, w.local, sim_master(7452), 12, "udp", StampSource::kKernel);
  udp.require_attach();
  AutoLink link(w.grpc, udp, w.local, AutoLinkOptions{false, 5, 3});
  w.start(link);
  w.run(10);
  EXPECT_EQ(w.agent->status().link, "udp");
  EXPECT_TRUE(w.out.last.utc.valid());
  EXPECT_EQ(w.out.last.utc.error_ns, 5'000u);
  EXPECT_EQ(w.out.last.utc.tai_minus_utc_s, 37);
  const uint64_t before = w.grpc.exchanges();
  w.grpc.master().utc->error_ns = 7'000;
  w.run(30);
  EXPECT_EQ(w.agent->status().link, "udp");
  EXPECT_EQ(w.out.last.utc.error_ns, 7'000u) << "refreshed over gRPC while on UDP";
  const uint64_t calls = w.grpc.exchanges() - before;
  EXPECT_GE(calls, 2u);
  EXPECT_LE(calls, 4u) << "one gRPC call every 10 s, not one a poll";
  EXPECT_EQ(w.take().outside, 0u);
}

TEST(AgentSim, UdpOnlyNeverTakesAGrpcSample) {
  World w;
  w.grpc.master().udp_port = 7452;
  SimLink udp(w.host, w.local, sim_master(7452), 12, "udp", StampSource::kKernel);
  udp.attachable = false;  // the master offers UDP but it cannot be set up
  AutoLink link(w.grpc, udp, w.local, AutoLinkOptions{true, 5, 3});
  w.start(link);
  w.run(5);
  AgentStatusInfo st = w.agent->status();
  EXPECT_EQ(st.samples_accepted, 0u);
  EXPECT_EQ(st.state, ClockStatus::kUnsynchronized);
  EXPECT_NE(st.last_error.find("waiting for UDP"), std::string::npos) << st.last_error;
  udp.attachable = true;
  w.run(10);
  st = w.agent->status();
  EXPECT_EQ(st.link, "udp");
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
}


// Issue 19: a primary and a standby serving its timeline (same name and
// epoch; the standby's own error in master_error_ns, its time 0.5 us off
// within it).
struct Pair {
  explicit Pair(World& w)
      : standby(w.host, w.local, standby_master(), 21) {
    w.grpc.master().role = "primary";
    standby.timeline_offset_ns = 500;
  }
  static MasterInfo standby_master() {
    MasterInfo m = sim_master();
    m.instance = 99;
    m.error_ns = 2'000;
    m.role = "standby";
    return m;
  }
  SimLink standby;
};

TEST(AgentSimFailover, ThePrimaryLostTheStandbyCarriesTheTimelineWithoutAStep) {
  World w;
  Pair p(w);
  FailoverLink link({{"primary:7450", &w.grpc}, {"standby:7450", &p.standby}}, w.local,
                    FailoverOptions{2, 2, 10});
  w.start(link);
  w.run(20);
  AgentStatusInfo st = w.agent->status();
  ASSERT_EQ(st.state, ClockStatus::kSynchronized);
  ASSERT_EQ(st.masters.size(), 2u);
  EXPECT_TRUE(st.masters[0].followed);
  EXPECT_TRUE(st.masters[1].answering);
  EXPECT_TRUE(st.masters[1].same_timeline);
  const uint64_t epoch = w.out.last.epoch;
  w.take();
  // The primary dies. Polls are 2 s apart (poll.max_s): the standby is
  // followed within two of them.
  const int64_t killed = w.host.now_ns();
  w.grpc.path.up = false;
  int64_t switched = -1;
  while (w.host.now_ns() - killed < 10 * kSec) {
    w.run(0.1);
    if (switched < 0 && w.agent->status().masters[1].followed) switched = w.host.now_ns();
  }
  ASSERT_GE(switched, 0) << "never switched";
  std::fprintf(stderr, "switched %.2f s after the primary died\n",
               static_cast<double>(switched - killed) / 1e9);
  EXPECT_LE(switched - killed, 2 * 2 * kSec + kSec / 2);
  st = w.agent->status();
  EXPECT_EQ(w.out.last.epoch, epoch) << "no step";
  EXPECT_EQ(st.state, ClockStatus::kSynchronized);
  EXPECT_FALSE(st.alarm_active);
  w.run(30);
  const Readings r = w.take();
  EXPECT_EQ(r.outside, 0u);
  EXPECT_EQ(r.refused, 0u) << "no reading refused through the failover; first at " << r.first_refused_s
                           << " s: not synchronized "
                           << r.refused_by[static_cast<size_t>(Error::kNotSynchronized)] << ", stale "
                           << r.refused_by[static_cast<size_t>(Error::kStale)] << ", bound exceeded "
                           << r.refused_by[static_cast<size_t>(Error::kBoundExceeded)];
  EXPECT_EQ(w.out.last.epoch, epoch);
}

TEST(AgentSimFailover, ThePrimaryBackIsFollowedAgainAfterTheHoldDown) {
  World w;
  Pair p(w);
  FailoverLink link({{"primary:7450", &w.grpc}, {"standby:7450", &p.standby}}, w.local,
                    FailoverOptions{2, 2, 10});
  w.start(link);
  w.run(20);
  w.grpc.path.up = false;
  w.run(10);
  ASSERT_TRUE(w.agent->status().masters[1].followed);
  w.grpc.path.up = true;
  w.run(5);
  EXPECT_TRUE(w.agent->status().masters[1].followed) << "held down";
  w.run(15);
  const AgentStatusInfo st = w.agent->status();
  EXPECT_TRUE(st.masters[0].followed) << "back to the primary";
  EXPECT_EQ(link.switches(), 2u);
  EXPECT_EQ(w.take().outside, 0u);
}

TEST(AgentSimFailover, TwoUnrelatedMastersAreNeverCombinedAndRaiseSplitBrain) {
  World w;
  MasterInfo other = sim_master();
  other.id = "another-master";
  other.epoch = 0xbad;
  SimLink unrelated(w.host, w.local, other, 31);
  unrelated.timeline_offset_ns = 3 * kSec;  // another timeline altogether
  FailoverLink link({{"a:7450", &w.grpc}, {"b:7450", &unrelated}}, w.local, FailoverOptions{2, 2, 10});
  w.start(link);
  w.run(20);
  AgentStatusInfo st = w.agent->status();
  EXPECT_NE(st.split_brain.find("split brain"), std::string::npos) << st.split_brain;
  EXPECT_TRUE(st.alarm_active);
  EXPECT_EQ(st.alarm_reason, AlarmReason::kSplitBrain);
  EXPECT_FALSE(st.masters[1].same_timeline);
  EXPECT_TRUE(st.masters[0].followed);
  // The first master gone: never a switch to the other timeline.
  w.grpc.path.up = false;
  w.run(10);
  st = w.agent->status();
  EXPECT_TRUE(st.masters[0].followed);
  EXPECT_EQ(link.switches(), 0u);
  EXPECT_EQ(w.out.last.epoch, 1u) << "never stepped onto the other timeline";
  EXPECT_EQ(w.take().outside, 0u);
}

// The segment breaks and the writer cannot repair it (a directory took its
// path): the health callback says "no timestamps" until the segment is
// served again, although the estimate stays synchronized.
TEST(AgentSim, HealthIsNotServingWhileTheSegmentCannotBeRepaired) {
  char tmpl[] = "/tmp/timesync-agentsim-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl, path = dir + "/segment";
  auto writer = SegmentWriter::create(path);
  ASSERT_TRUE(writer.ok());
  SegmentPublisher out(*writer.value());
  World w;
  Agent agent(w.cfg_, "sim-agent", w.local, out, w.alarms, w.grpc);
  std::vector<ClockStatus> health;
  agent.set_on_state([&](ClockStatus s) { health.push_back(s); });
  const auto run = [&](double s) {
    const int64_t end = w.host.now_ns() + static_cast<int64_t>(s * 1e9);
    while (w.host.now_ns() < end) {
      const int64_t next = agent.round();
      w.host.advance_to(std::min(w.local.to_host_raw_ns(next), end));
    }
  };
  run(2.0);
  ASSERT_EQ(health.back(), ClockStatus::kSynchronized);
  ASSERT_EQ(unlink(path.c_str()), 0);
  ASSERT_EQ(mkdir(path.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((path + "/x").c_str(), 0755), 0);
  health.clear();
  run(1.0);
  ASSERT_FALSE(health.empty());
  EXPECT_EQ(health.front(), ClockStatus::kUnsynchronized);  // from the first publication on
  EXPECT_EQ(health.back(), ClockStatus::kUnsynchronized);
  EXPECT_EQ(agent.status().state, ClockStatus::kSynchronized);
  std::filesystem::remove_all(path);
  run(1.0);
  EXPECT_EQ(health.back(), ClockStatus::kSynchronized);
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  writer.value().reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace timesync::agent
