// Start-up storm: many agents starting together on one loaded machine, the
// field case in which the bound broke (200 polling agents on random crystals
// started 20 ms apart served 209 readings outside their bound; 32 beacon-mode
// agents served thousands).
//
// 32 agents on random simulated crystals (uniform in +-50 ppm and +-0.5 s,
// from the printed, replayable seed) start 20 ms apart against one master on
// loopback, each with its own port and segment. From before the first one
// starts, a sampler reads every segment every 2 ms and checks each served time
// against the exact truth (the master serves this host's CLOCK_MONOTONIC_RAW).
// The verdict comes once every agent has served for kServedFor: not one
// reading outside its bound, and every agent synchronized.
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/daemons.hpp"
#include "support/process.hpp"
#include "support/rpc.hpp"
#include "support/tally.hpp"
#include "support/test_seed.hpp"
#include "timesync/clock.hpp"

namespace timesync {
namespace {

using namespace std::chrono_literals;
using testing::AgentProcess;
using testing::MasterProcess;
using testing::SegmentSampler;
using testing::Tally;

constexpr int kAgents = 32;
constexpr auto kStagger = 20ms;
constexpr auto kSamplePeriod = 2ms;
// Each agent serves this long before the verdict: its first lock, the
// poll interval's growth to max_s and the beacon calibrations that follow
// (every 2 s) all fall inside it.
constexpr auto kServedFor = 10s;
// An agent that has served nothing this long after its start never
// synchronized. Alone it takes well under a second; in the storm, on two
// loaded cores, exchanges take milliseconds, the honest bound stays above
// max_error for a while, and single agents took up to 24 s to serve.
constexpr auto kSyncWithin = 60s;

constexpr double kMaxFreqPpm = 50;
constexpr double kMaxOffsetS = 0.5;

const std::string kAgentPolling =
    "poll: {min_s: 0.05, max_s: 0.2, rpc_timeout_s: 0.5}\n"
    "alarm: {max_error_us: 2000}\n";

struct Crystal {
  double freq_ppm = 0;
  double offset_s = 0;
};

int64_t raw_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// "%+.*f" for people, "%.*f" for YAML.
std::string fixed(double v, int decimals, bool sign = true) {
  char buf[64];
  std::snprintf(buf, sizeof buf, sign ? "%+.*f" : "%.*f", decimals, v);
  return buf;
}

// The last `n` lines of `text`.
std::string tail(const std::string& text, int n) {
  size_t at = text.size();
  for (int i = 0; i <= n && at != std::string::npos && at > 0; ++i) at = text.rfind('\n', at - 1);
  return at == std::string::npos ? text : text.substr(at + 1);
}

// What an agent says of itself, in one line, for a failure message.
std::string describe(const std::optional<v1::AgentStatus>& st) {
  if (!st) return "no status";
  std::ostringstream o;
  o << "state " << v1::SyncState_Name(st->state()) << ", bound " << static_cast<double>(st->bound_ns()) / 1e3
    << " us, freq " << st->freq_ppm() << " ppm +- " << st->freq_sigma_ppb() << " ppb, samples "
    << st->samples_accepted() << " accepted " << st->samples_rejected() << " rejected, "
    << st->rpc_failures() << " RPC failures, last delay " << static_cast<double>(st->last_delay_ns()) / 1e3
    << " us, poll " << st->poll_interval_s() << " s, " << st->sync_mode() << ", beacon samples "
    << st->beacon_samples() << ", two-way " << st->two_way_samples();
  if (!st->last_error().empty()) o << ", last error: " << st->last_error();
  return o.str();
}

class Storm : public ::testing::Test {
 protected:
  void TearDown() override {
    master_.reset();
    agents_.clear();  // SIGKILL and reaped
    if (HasFailure()) {
      std::cerr << "logs and configs kept in " << dir_ << "\n";
    } else {
      std::filesystem::remove_all(dir_);
    }
  }

  // Runs the storm: the master with `master_extra`, every agent with
  // kAgentPolling, its crystal and `agent_extra`.
  void run(const char* what, const std::string& master_extra, const std::string& agent_extra) {
    master_ = std::make_unique<MasterProcess>(dir_);
    master_->start(master_extra, "storm-master");
    ASSERT_TRUE(testing::eventually([&] { return testing::master_up(master_->target()); }, 10s))
        << master_->log();

    std::mt19937_64 rng = testing::seeded_rng(what);
    std::uniform_real_distribution<double> freq(-kMaxFreqPpm, kMaxFreqPpm);
    std::uniform_real_distribution<double> offset(-kMaxOffsetS, kMaxOffsetS);
    std::set<int> ports{master_->port()};
    std::vector<std::string> segments;
    for (int i = 0; i < kAgents; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "agent-%02d", i);
      auto agent = std::make_unique<AgentProcess>(dir_, master_->target(), name);
      while (!ports.insert(agent->port()).second) {  // two picks of one free port
        agent = std::make_unique<AgentProcess>(dir_, master_->target(), name);
      }
      segments.push_back(agent->segment());
      agents_.push_back(std::move(agent));
      crystals_.push_back({freq(rng), offset(rng)});
    }

    // The sampler watches from before the first agent starts: the first
    // readings an agent serves are the ones the field saw go wrong.
    SegmentSampler sampler(segments, kSamplePeriod);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> started_ns(kAgents);
    for (int i = 0; i < kAgents; ++i) {
      // The scenario's schedule (one start every kStagger), not a wait for
      // anything to happen.
      std::this_thread::sleep_until(t0 + i * kStagger);
      const Crystal& c = crystals_[i];
      started_ns[i] = raw_now_ns();
      agents_[i]->start(kAgentPolling + "sim_clock: {enabled: true, freq_ppm: " +
                            fixed(c.freq_ppm, 6, false) + ", initial_offset_s: " +
                            fixed(c.offset_s, 9, false) + ", seed: " + std::to_string(i) + "}\n" +
                            agent_extra,
                        agents_[i]->name());
    }
    const double start_span_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Until every agent has served for kServedFor, or one has not served
    // within kSyncWithin of its start, or one has died. Checked every 20 ms:
    // the test's own load stays small beside the storm's.
    const int64_t served_for_ns = std::chrono::nanoseconds(kServedFor).count();
    const int64_t sync_within_ns = std::chrono::nanoseconds(kSyncWithin).count();
    auto any_dead = [&] {
      return std::any_of(agents_.begin(), agents_.end(), [](const auto& a) { return !a->running(); });
    };
    const bool settled = testing::eventually([&] {
      const std::vector<SegmentSampler::Segment> s = sampler.segments();
      const int64_t now = raw_now_ns();
      bool all_served = true, any_late = false;
      for (int i = 0; i < kAgents; ++i) {
        all_served &= s[i].first_served_ns != 0 && now - s[i].first_served_ns >= served_for_ns;
        any_late |= s[i].first_served_ns == 0 && now - started_ns[i] > sync_within_ns;
      }
      return all_served || any_late || any_dead();
    }, kSyncWithin + kServedFor + 10s, 20ms);
    sampler.stop();
    const double wall_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The per-agent table, then the verdict.
    const std::vector<SegmentSampler::Segment> s = sampler.segments();
    Tally total;
    int synchronized = 0;
    std::ostringstream table, offenders;
    for (int i = 0; i < kAgents; ++i) {
      total += s[i].tally;
      const bool served = s[i].first_served_ns != 0;
      synchronized += served;
      std::ostringstream row;
      row << agents_[i]->name() << " crystal " << fixed(crystals_[i].freq_ppm, 3) << " ppm "
          << fixed(crystals_[i].offset_s, 6) << " s: ";
      if (served) {
        row << "first served " << static_cast<double>(s[i].first_served_ns - started_ns[i]) / 1e9
            << " s after start, ";
      } else {
        row << "never served, ";
      }
      row << s[i].tally.summary() << "\n";
      table << row.str();
      if (s[i].tally.outside > 0) offenders << row.str();
    }
    std::cerr << table.str();
    std::cerr << "[storm] " << what << ": " << synchronized << "/" << kAgents
              << " agents synchronized; " << total.served << " readings served, " << total.outside
              << " outside the bound, worst |error|/bound " << total.worst_ratio
              << ", worst |error| " << total.worst_abs_ns / 1e3 << " us; " << sampler.rounds()
              << " sampler rounds; agents started over " << start_span_s << " s; wall "
              << wall_s << " s\n";

    std::string names, why;
    for (int i = 0; i < kAgents; ++i) {
      if (s[i].first_served_ns != 0) continue;
      names += " " + agents_[i]->name();
      why += "--- " + agents_[i]->name() + ": " + describe(testing::agent_status(agents_[i]->target())) +
             "\n" + tail(agents_[i]->log(), 3);
    }
    EXPECT_EQ(synchronized, kAgents) << "never synchronized (served no reading):" << names << "\n"
                                     << why;
    std::string gone;
    for (const auto& a : agents_) {
      if (!a->running()) gone += " " + a->name() + " (" + a->log_path() + ")";
    }
    EXPECT_TRUE(gone.empty()) << "agents that exited:" << gone;
    EXPECT_TRUE(settled) << "not every agent served for " << kServedFor.count() << " s";
    EXPECT_EQ(total.outside, 0u) << "readings outside the bound, by agent:\n" << offenders.str();
  }

  const std::string dir_ = testing::make_temp_dir();
  std::unique_ptr<MasterProcess> master_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
  std::vector<Crystal> crystals_;
};

TEST_F(Storm, ThirtyTwoPollingAgentsStartingTogetherNeverReadOutsideTheBound) {
  run("storm polling", "", "");
}

TEST_F(Storm, ThirtyTwoBeaconAgentsStartingTogetherNeverReadOutsideTheBound) {
  run("storm beacon", "beacon: {enabled: true, rate_hz: 20}\n",
      "beacon: {enabled: true, calibrate_every_s: 2, max_excess_us: 300}\n");
  if (HasFatalFailure()) return;
  // A beacon storm only if the agents did stream: each one's own account.
  // Beacons become samples only once the one-way delay is calibrated, which
  // waits for a frequency worth carrying (an agent that never gets one
  // streams without beacon samples): counted, not asserted.
  std::string not_streaming;
  int with_beacon_samples = 0;
  uint64_t beacon_samples = 0, two_way_samples = 0;
  for (const auto& agent : agents_) {
    const std::optional<v1::AgentStatus> st = testing::agent_status(agent->target());
    if (!st || st->sync_mode().rfind("beacon stream at", 0) != 0) {
      not_streaming += " " + agent->name() + " (" + describe(st) + ")";
    }
    if (st) {
      with_beacon_samples += st->beacon_samples() > 0;
      beacon_samples += st->beacon_samples();
      two_way_samples += st->two_way_samples();
    }
  }
  std::cerr << "[storm] beacon: " << with_beacon_samples << "/" << kAgents
            << " agents with beacon samples; " << beacon_samples << " beacon and "
            << two_way_samples << " two-way samples in all\n";
  EXPECT_TRUE(not_streaming.empty()) << "agents without a beacon stream:" << not_streaming;
}

}  // namespace
}  // namespace timesync
