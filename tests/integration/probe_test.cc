// timesync-probe end to end on the simulated wire: real emitter and observer
// processes, a real segment with a transform whose truth is exact.
//
// The segment says sync = raw + 3.000250 s, so its 10 ms boundaries fall
// 250 us BEFORE the raw clock's; the observer, pairing against the raw-clock
// grid, must report -250 us for that emitter, and +5 us for an emitter on the
// raw timeline whose output has a 5 us propagation delay. What separates the
// measurement from the truth is the wire's resolution: the time between the
// emitter's last clock read and the wire's timestamp.
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include <gtest/gtest.h>

#include "support/process.hpp"
#include "timesync/writer.hpp"

namespace timesync {
namespace {

using namespace std::chrono_literals;
using testing::Process;

constexpr int64_t kShiftNs = 3'000'250'000;

int64_t raw_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// A field of the pair (grid, line) in the observer's JSON.
int64_t pair_field(const std::string& json, const std::string& line, const std::string& field) {
  const std::regex re("\"a\": \"grid\", \"b\": \"" + line + "\"[^}]*\"" + field + "\": (-?[0-9.]+)");
  std::smatch m;
  if (!std::regex_search(json, m, re)) {
    ADD_FAILURE() << "no " << field << " for " << line << " in " << json;
    return INT64_MIN;
  }
  return static_cast<int64_t>(std::stod(m[1]));
}

class ProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir();
    tag_ = std::to_string(getpid());
    segment_ = "/dev/shm/timesync-probe-test-" + tag_;
    wire_ = "probe-test-" + tag_;
  }
  void TearDown() override {
    unlink(segment_.c_str());
    unlink((segment_ + ".lock").c_str());
    unlink(("/dev/shm/timesync-wire-" + wire_).c_str());
    if (!HasFailure()) std::filesystem::remove_all(dir_);  // kept for the logs otherwise
  }
  std::string dir_, tag_, segment_, wire_;
};

TEST_F(ProbeTest, ObserverMeasuresTheKnownOffsetsOfTwoEmitters) {
  std::string why;
  auto writer = SegmentWriter::create(segment_, &why);
  ASSERT_TRUE(writer.ok()) << why;
  TransformSnapshot s;
  const int64_t now = raw_now();
  s.epoch = 1;
  s.as_of = s.ref_local = LocalTime{now};
  s.void_after = LocalTime{now + 3600'000'000'000};
  s.ref_sync = SyncTime{now + kShiftNs};
  s.bound_at_as_of_ns = 1000;
  s.max_error_ns = 1'000'000;
  s.status = ClockStatus::kSynchronized;
  s.set_master_name("probe-test");
  writer.value()->publish(s);

  const std::string json = dir_ + "/report.json", svg = dir_ + "/report.svg";
  Process observer({TIMESYNC_PROBE_BIN, "observe", "--input", "seg=wire:" + wire_ + ":0",
                    "--input", "raw=wire:" + wire_ + ":1", "--reference", "grid", "--period",
                    "10ms", "--json", json, "--svg", svg},
                   dir_ + "/observer.log");
  ASSERT_TRUE(testing::eventually(
      [&] { return observer.log().find("observing 2 lines") != std::string::npos; }, 10s))
      << observer.log();
  Process seg_emitter({TIMESYNC_PROBE_BIN, "emit", "--segment", segment_, "--output",
                       "wire:" + wire_ + ":0", "--period", "10ms", "--count", "100",
                       "--max-late-us", "50"},
                      dir_ + "/emit-seg.log");
  Process raw_emitter({TIMESYNC_PROBE_BIN, "emit", "--timeline", "raw", "--output",
                       "wire:" + wire_ + ":1,delay-ns=5000", "--period", "10ms", "--count", "100",
                       "--max-late-us", "50"},
                      dir_ + "/emit-raw.log");
  EXPECT_EQ(seg_emitter.wait(30s), 0) << seg_emitter.log();
  EXPECT_EQ(raw_emitter.wait(30s), 0) << raw_emitter.log();
  observer.signal(SIGTERM);
  ASSERT_EQ(observer.wait(10s), 0) << observer.log();

  const std::string report = testing::read_file(json);
  // Every pulse an emitter made reached the observer.
  EXPECT_EQ(pair_field(report, "seg", "count"), 100) << report;
  EXPECT_EQ(pair_field(report, "raw", "count"), 100) << report;
  EXPECT_NE(report.find("\"name\": \"seg\", \"edges\": 100, \"lost\": 0"), std::string::npos);
  // The offsets. Each edge is measured at its truth plus the emitter's
  // lateness: the overshoot of its spin past the boundary (at most 50 us, or
  // the pulse is dropped: --max-late-us) and the line write after it. So no
  // edge can come before its truth, and the median (immune to the odd
  // preemption between the last clock read and the write) lies within the
  // 50 us the emitter allows, plus 10 us for the write. The window is a
  // property of the emitter, not of the machine's speed (under TSan on a
  // loaded CI machine the median lateness was 13 us), and still tells the
  // -250 us and +5 us lines apart.
  const int64_t kLateNs = 50'000 + 10'000;
  EXPECT_GE(pair_field(report, "seg", "min_ns"), -250'000) << "no edge can beat its own time";
  EXPECT_GE(pair_field(report, "raw", "min_ns"), 5'000) << "no edge can beat its own delay";
  EXPECT_LE(pair_field(report, "seg", "p50_ns"), -250'000 + kLateNs) << report;
  EXPECT_LE(pair_field(report, "raw", "p50_ns"), 5'000 + kLateNs) << report;
  EXPECT_NE(testing::read_file(svg).find("seg - grid: n=100"), std::string::npos);
  EXPECT_NE(observer.log().find("seg - grid"), std::string::npos) << observer.log();
}

TEST_F(ProbeTest, ClearErrorsForBadInput) {
  std::string out;
  // A line someone else drives.
  Process holder({TIMESYNC_PROBE_BIN, "emit", "--timeline", "raw", "--output",
                  "wire:" + wire_ + ":3", "--period", "1s", "--consumer", "holder"},
                 dir_ + "/holder.log");
  ASSERT_TRUE(testing::eventually(
      [&] { return holder.log().find("emitting on") != std::string::npos; }, 10s));
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "emit", "--timeline", "raw", "--output",
                                  "wire:" + wire_ + ":3", "--period", "1s"},
                                 dir_ + "/busy.log", &out),
            1);
  EXPECT_NE(out.find("is busy: driven by pid"), std::string::npos) << out;
  EXPECT_NE(out.find("'holder'"), std::string::npos) << out;
  // Usage errors exit 2 and say what was wrong.
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "observe", "--input", "a=wire:x:0",
                                  "--period", "10ms", "--reference", "b"},
                                 dir_ + "/ref.log", &out),
            2);
  EXPECT_NE(out.find("--reference 'b' is not one of the --input names"), std::string::npos) << out;
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "emit", "--output", "gpio:x:1", "--period",
                                  "10ms"},
                                 dir_ + "/spec.log", &out),
            2);
  EXPECT_NE(out.find("expected gpiod:CHIP:OFFSET"), std::string::npos) << out;
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "emit", "--output", "wire:x:1", "--period",
                                  "10 parsecs"},
                                 dir_ + "/period.log", &out),
            2);
  EXPECT_NE(out.find("expected a positive duration"), std::string::npos) << out;
  // An RT option that cannot be applied stops the emitter before any pulse.
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "emit", "--timeline", "raw", "--output",
                                  "wire:" + wire_ + ":4", "--period", "10ms", "--cpu", "1000"},
                                 dir_ + "/cpu.log", &out),
            1);
  EXPECT_NE(out.find("CPU affinity"), std::string::npos) << out;
  // A missing GPIO chip.
  EXPECT_EQ(testing::run_to_exit({TIMESYNC_PROBE_BIN, "observe", "--input",
                                  "a=gpiod:gpiochip97:0", "--period", "10ms"},
                                 dir_ + "/chip.log", &out),
            1);
  EXPECT_NE(out.find("input a: no GPIO chip 'gpiochip97'"), std::string::npos) << out;
  holder.signal(SIGTERM);
  EXPECT_EQ(holder.wait(10s), 0) << holder.log();
}

}  // namespace
}  // namespace timesync
