// Loads real YAML files from a temporary directory and checks values and the
// exact "file:line: key '...': ..." text of every kind of error.
#include "timesync/config/config.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace timesync::config {
namespace {

namespace fs = std::filesystem;

// Every key of each role, written independently of the schema in config.cc so
// that a key dropped from or added to a table is noticed.
const std::vector<std::string> kCommonKeys = {
    "role", "id", "log_level", "sim_clock.enabled", "sim_clock.initial_offset_s",
    "sim_clock.freq_ppm", "sim_clock.wander_ppb_per_sqrt_s", "sim_clock.step_every_s",
    "sim_clock.step_ppm", "sim_clock.step_ramp_s", "sim_clock.seed"};

std::vector<std::string> with_common(std::vector<std::string> own) {
  own.insert(own.end(), kCommonKeys.begin(), kCommonKeys.end());
  return own;
}

const std::vector<std::string> kMasterKeys = with_common(
    {"listen", "timebase", "realtime_step_threshold_ms", "master_error_ns", "worker_threads",
     "beacon.enabled", "beacon.rate_hz", "beacon.max_streams", "udp.listen", "udp.timestamping",
     "udp.interface", "udp.key_rotation_s", "udp.session_lifetime_s", "metrics.listen",
     "tls.cert_file", "tls.key_file", "tls.client_ca_file", "standby.of", "standby.max_error_us",
     "standby.transport", "standby.poll.min_s", "standby.poll.max_s", "standby.poll.rpc_timeout_s",
     "standby.tls.ca_file", "standby.tls.cert_file", "standby.tls.key_file",
     "standby.tls.server_name", "rejoin.via", "rejoin.wait_s", "rejoin.give_up_s",
     "reference.source", "reference.socket", "reference.poll_s", "reference.max_clock_error_ppm",
     "reference.leap_seconds_file", "reference.ptp.domain", "reference.ptp.path_asymmetry",
     "reference.ptp.extra_ns"});

const std::vector<std::string> kClientKeys = with_common({
    "master", "failover.probe_every_s", "failover.failures_to_switch", "failover.hold_down_s",
    "transport", "udp.master", "udp.timestamping", "udp.interface", "udp.retry_s",
    "listen", "segment", "counter", "poll.min_s", "poll.max_s", "poll.rpc_timeout_s",
    "poll.burst", "filter.window", "filter.max_delay_ratio", "filter.max_delay_dev_ratio", "servo.type",
    "servo.phase_time_constant_s", "servo.freq_time_constant_s", "servo.step_threshold_ms",
    "servo.max_slew_ppm", "servo.max_freq_ppm", "servo.innovation_window",
    "servo.kalman.phase_noise_ns_per_sqrt_s", "servo.kalman.freq_wander_ppb_per_sqrt_s",
    "servo.kalman.measurement_floor_ns", "bound.min_freq_uncertainty_ppb",
    "bound.holdover_wander_ppb_per_s", "alarm.max_error_us", "alarm.clear_ratio",
    "alarm.unreachable_after_s", "alarm.void_after_s", "calibration.offset_ns",
    "beacon.enabled", "beacon.calibrate_every_s", "beacon.window", "beacon.max_excess_us",
    "beacon.margin_us", "metrics.listen", "tls.ca_file", "tls.cert_file", "tls.key_file", "tls.server_name",
    "chrony_refclock.socket", "chrony_refclock.max_error_us"});

// Lines 1-2 of every client file built below.
constexpr const char* kClientBase = "role: client\nmaster: m:7450\n";
constexpr const char* kMasterBase = "role: master\n";

// YAML for dotted keys, in order; new section headers whenever the sections
// change. So the first key lands on the line after the base, plus one per
// level of nesting.
std::string yaml(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  std::vector<std::string> open;  // the sections the last key was in
  for (const auto& [key, value] : kv) {
    std::vector<std::string> parts;
    for (size_t from = 0;;) {
      size_t dot = key.find('.', from);
      parts.push_back(key.substr(from, dot - from));
      if (dot == std::string::npos) break;
      from = dot + 1;
    }
    size_t same = 0;
    while (same < open.size() && same + 1 < parts.size() && open[same] == parts[same]) ++same;
    open.resize(same);
    for (size_t i = same; i + 1 < parts.size(); ++i) {
      out += std::string(2 * i, ' ') + parts[i] + ":\n";
      open.push_back(parts[i]);
    }
    out += std::string(2 * (parts.size() - 1), ' ') + parts.back() + ": " + value + "\n";
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "config_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/agent.yaml";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
    return path_;
  }
  Loaded<ClientConfig> client(const std::string& text) { return load_client(write(text)); }
  Loaded<MasterConfig> master(const std::string& text) { return load_master(write(text)); }
  // The error of a client file that must fail, "" if it loaded.
  std::string client_error(const std::string& text) { return client(text).error; }
  std::string master_error(const std::string& text) { return master(text).error; }
  // What an error at `line` of the file must read.
  std::string at(int line, const std::string& msg) const {
    return path_ + ":" + std::to_string(line) + ": " + msg;
  }

  std::string dir_, path_;
};

// ---- Defaults and values.

TEST_F(ConfigTest, MinimalClientEqualsDefaultConstructed) {
  auto r = client(kClientBase);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.error.empty());
  ClientConfig expected;
  expected.master = "m:7450";
  expected.masters = {"m:7450"};
  EXPECT_EQ(*r.value, expected);
}

TEST_F(ConfigTest, MinimalMasterEqualsDefaultConstructed) {
  auto r = master(kMasterBase);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(*r.value, MasterConfig{});
}

// The defaults the brief specifies, so a member initialiser and the table
// cannot drift together.
TEST(ConfigDefaults, MatchTheSpecification) {
  ClientConfig c;
  EXPECT_EQ(c.listen, "127.0.0.1:7451");
  EXPECT_EQ(c.segment, "/dev/shm/timesync");
  EXPECT_EQ(c.poll, (ClientConfig::Poll{0.125, 4, 0.5, 3}));
  EXPECT_EQ(c.filter, (ClientConfig::Filter{32, 3.0, 10.0}));
  EXPECT_EQ(c.servo, (ClientConfig::Servo{ServoType::kPll, 2.0, 32.0, 1.0, 500, 1000, {}, 64}));
  EXPECT_EQ(c.bound, (ClientConfig::Bound{10, 1}));
  EXPECT_EQ(c.alarm, (ClientConfig::Alarm{1000, 0.8, 5, 10}));
  EXPECT_EQ(c.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.sim_clock, (SimClock{false, 0, 0, 0, 0, 0, 0, 1}));
  MasterConfig m;
  EXPECT_EQ(m.id, "");
  EXPECT_EQ(m.listen, "0.0.0.0:7450");
  EXPECT_EQ(m.timebase, Timebase::kMonotonic);
  EXPECT_EQ(m.realtime_step_threshold_ms, 1.0);
  EXPECT_EQ(m.master_error_ns, 0);
  EXPECT_EQ(m.worker_threads, 2);
  EXPECT_EQ(m.reference.source, ReferenceSource::kNone);
  EXPECT_EQ(m.reference.socket, "");
  EXPECT_EQ(m.reference.poll_s, 1);
  EXPECT_EQ(m.reference.max_clock_error_ppm, 1);
  EXPECT_EQ(m.reference.leap_seconds_file, "/usr/share/zoneinfo/leap-seconds.list");
  EXPECT_EQ(m.reference.ptp, (MasterReference::Ptp{0, 1.0, 0}));
  EXPECT_EQ(m.reference.socket_or_default(), "/run/chrony/chronyd.sock");
}

TEST_F(ConfigTest, EveryClientKeyReachesItsField) {
  auto r = client(
      "role: client\nid: agent-7\nmaster: \"10.0.0.1:7450\"\nlisten: \"0.0.0.0:9000\"\n"
      "segment: /run/timesync/seg\n"
      "poll: {min_s: 0.25, max_s: 8, rpc_timeout_s: 0.75, burst: 5}\n"
      "filter:\n  window: 64\n  max_delay_ratio: 2.5\n  max_delay_dev_ratio: 7\n"
      "servo:\n  type: pll\n  phase_time_constant_s: 3\n  freq_time_constant_s: 48\n"
      "  step_threshold_ms: 0.5\n  max_slew_ppm: 250\n  max_freq_ppm: 750\n"
      "bound:\n  min_freq_uncertainty_ppb: 20\n  holdover_wander_ppb_per_s: 2.5\n"
      "alarm:\n  max_error_us: 50\n  clear_ratio: 0.5\n  unreachable_after_s: 9\n"
      "  void_after_s: 20\n"
      "log_level: debug\n"
      "transport: udp\nudp:\n  master: \"10.0.0.1:7999\"\n  timestamping: software\n"
      "  interface: eth0\n  retry_s: 12\n"
      "sim_clock:\n  enabled: true\n  initial_offset_s: -0.25\n  freq_ppm: 12.5\n"
      "  wander_ppb_per_sqrt_s: 3\n  step_every_s: 60\n  step_ppm: -2\n  step_ramp_s: 15\n"
      "  seed: 42\n");
  ASSERT_TRUE(r.ok()) << r.error;
  ClientConfig e;
  e.id = "agent-7";
  e.master = "10.0.0.1:7450";
  e.masters = {"10.0.0.1:7450"};
  e.listen = "0.0.0.0:9000";
  e.segment = "/run/timesync/seg";
  e.poll = {0.25, 8, 0.75, 5};
  e.filter = {64, 2.5, 7};
  e.servo = {ServoType::kPll, 3, 48, 0.5, 250, 750, {}, 64};
  e.bound = {20, 2.5};
  e.alarm = {50, 0.5, 9, 20};
  e.log_level = LogLevel::kDebug;
  e.sim_clock = {true, -0.25, 12.5, 3, 60, -2, 15, 42};
  e.transport = Transport::kUdp;
  e.udp = {"10.0.0.1:7999", Timestamping::kSoftware, "eth0", 12};
  EXPECT_EQ(*r.value, e);
}

TEST_F(ConfigTest, EveryMasterKeyReachesItsField) {
  auto r = master(
      "role: master\nid: m1\nlisten: \"[::]:7460\"\ntimebase: realtime\n"
      "realtime_step_threshold_ms: 5\nmaster_error_ns: 1500\nworker_threads: 8\n"
      "log_level: warning\n"
      "udp:\n  listen: \"[::]:7999\"\n  timestamping: hardware\n  interface: eth1\n"
      "  key_rotation_s: 600\n  session_lifetime_s: 300\n"
      "sim_clock:\n  enabled: yes\n  initial_offset_s: 100\n  freq_ppm: -40\n"
      "  wander_ppb_per_sqrt_s: 0.5\n  step_every_s: 0.001\n  step_ppm: 1\n  step_ramp_s: 0.0005\n"
      "  seed: 0\n");
  ASSERT_TRUE(r.ok()) << r.error;
  MasterConfig e;
  e.id = "m1";
  e.listen = "[::]:7460";
  e.timebase = Timebase::kRealtime;
  e.realtime_step_threshold_ms = 5;
  e.master_error_ns = 1500;
  e.worker_threads = 8;
  e.log_level = LogLevel::kWarning;
  e.sim_clock = {true, 100, -40, 0.5, 0.001, 1, 0.0005, 0};
  e.udp = {"[::]:7999", Timestamping::kHardware, "eth1", 600, 300};
  EXPECT_EQ(*r.value, e);
}

TEST_F(ConfigTest, EnumNamesRoundTrip) {
  for (const char* name : {"debug", "info", "warning", "error"}) {
    auto r = master(std::string(kMasterBase) + "log_level: " + name + "\n");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(to_string(r.value->log_level), name);
  }
  for (const char* name : {"monotonic", "realtime"}) {
    auto r = master(std::string(kMasterBase) + "timebase: " + name + "\n");
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(to_string(r.value->timebase), name);
  }
  EXPECT_EQ(to_string(ServoType::kPll), "pll");
  EXPECT_EQ(to_string(ServoType::kKalman), "kalman");
}

TEST_F(ConfigTest, IntegerWrittenWithExponentIsAccepted) {
  auto r = master(std::string(kMasterBase) + "master_error_ns: 1e9\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->master_error_ns, 1'000'000'000);
}

TEST_F(ConfigTest, EmptySectionIsAccepted) {
  auto r = client(std::string(kClientBase) + "poll:\n  # min_s: 1\nsim_clock:\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->poll, ClientConfig::Poll{});
}

// ---- Ranges: each edge accepted, just past it rejected with the exact text.

struct Edge {
  std::string key, lo_ok, lo_bad, hi_ok, hi_bad, range;
  // Other keys needed so an edge value does not trip a cross-key rule.
  std::vector<std::pair<std::string, std::string>> also;
};

std::string label(const Edge& e, const std::string& value) { return e.key + " = " + value; }

class RangeTest : public ConfigTest {
 protected:
  void check(const Edge& e, bool is_master) {
    const std::string base = is_master ? kMasterBase : kClientBase;
    const int base_lines = is_master ? 1 : 2;
    const int line = base_lines + 1 + static_cast<int>(std::count(e.key.begin(), e.key.end(), '.'));
    auto text = [&](const std::string& v) {
      std::vector<std::pair<std::string, std::string>> kv = {{e.key, v}};
      kv.insert(kv.end(), e.also.begin(), e.also.end());
      return base + yaml(kv);
    };
    auto error = [&](const std::string& v) {
      return is_master ? master_error(text(v)) : client_error(text(v));
    };
    for (const std::string& v : {e.lo_ok, e.hi_ok}) EXPECT_EQ(error(v), "") << label(e, v);
    for (const std::string& v : {e.lo_bad, e.hi_bad}) {
      EXPECT_EQ(error(v), at(line, "key '" + e.key + "': " + v + " is out of range " + e.range))
          << label(e, v);
    }
  }
};

TEST_F(RangeTest, ClientEdges) {
  const std::vector<Edge> edges = {
      {"poll.min_s", "0.01", "0.0099", "60", "60.001", "[0.01, 60]",
       {{"poll.max_s", "60"}, {"alarm.unreachable_after_s", "61"}, {"alarm.void_after_s", "61"}}},
      {"poll.max_s", "0.01", "0.0099", "3600", "3600.5", "[0.01, 3600]",
       {{"poll.min_s", "0.01"},
        {"alarm.unreachable_after_s", "3601"},
        {"alarm.void_after_s", "3601"}}},
      {"poll.rpc_timeout_s", "0.001", "0.0009", "60", "61", "[0.001, 60]",
       {{"alarm.void_after_s", "65"}}},
      {"poll.burst", "1", "0", "16", "17", "[1, 16]", {}},
      {"filter.window", "4", "3", "1024", "1025", "[4, 1024]", {}},
      {"filter.max_delay_ratio", "1", "0.999", "1000", "1000.1", "[1, 1000]", {}},
      {"filter.max_delay_dev_ratio", "1.0", "0.5", "1000", "1e4", "[1, 1000]", {}},
      {"servo.phase_time_constant_s", "0.05", "0.049", "1000", "1001", "[0.05, 1000]", {}},
      {"servo.freq_time_constant_s", "0.5", "0.4", "100000", "100001", "[0.5, 1e5]", {}},
      {"servo.step_threshold_ms", "0", "-0.001", "1e6", "1000001", "[0, 1e6]", {}},
      {"servo.max_slew_ppm", "1", "0.9", "10000", "10001", "[1, 10000]", {}},
      {"servo.max_freq_ppm", "1", "0", "10000", "10000.01", "[1, 10000]", {}},
      {"servo.innovation_window", "2", "1", "100000", "100001", "[2, 100000]", {}},
      {"servo.kalman.phase_noise_ns_per_sqrt_s", "0", "-1", "1e9", "2e9", "[0, 1e9]", {}},
      {"servo.kalman.freq_wander_ppb_per_sqrt_s", "0", "-0.5", "1e9", "1.1e9", "[0, 1e9]", {}},
      {"servo.kalman.measurement_floor_ns", "1", "0.5", "1e9", "1e10", "[1, 1e9]", {}},
      {"bound.min_freq_uncertainty_ppb", "0", "-1", "1e6", "1.1e6", "[0, 1e6]", {}},
      {"bound.holdover_wander_ppb_per_s", "0", "-0.1", "1000000", "2e6", "[0, 1e6]", {}},
      {"alarm.max_error_us", "0.001", "0", "1e9", "1.5e9", "[0.001, 1e9]", {}},
      {"alarm.clear_ratio", "0.000001", "0", "0.999999", "1", "(0, 1)", {}},
      {"alarm.unreachable_after_s", "0.1", "0.09", "86400", "86401", "[0.1, 86400]",
       {{"poll.min_s", "0.01"}, {"poll.max_s", "0.05"}}},
      {"alarm.void_after_s", "0.1", "0.01", "86400", "1e5", "[0.1, 86400]",
       {{"poll.min_s", "0.01"}, {"poll.max_s", "0.05"}, {"poll.rpc_timeout_s", "0.001"}}},
      {"calibration.offset_ns", "-1000000000", "-1000000001", "1000000000", "1000000001",
       "[-1000000000, 1000000000]", {}},
      {"beacon.calibrate_every_s", "0.1", "0.09", "3600", "3601", "[0.1, 3600]", {}},
      {"beacon.window", "4", "3", "4096", "4097", "[4, 4096]", {}},
      {"beacon.max_excess_us", "0", "-1", "1e9", "2e9", "[0, 1e9]", {}},
      {"beacon.margin_us", "0", "-0.5", "1e9", "1.5e9", "[0, 1e9]", {}},
      {"sim_clock.initial_offset_s", "-1e6", "-1000000.5", "1e6", "1e7", "[-1e6, 1e6]", {}},
      {"sim_clock.freq_ppm", "-1000", "-1000.1", "1000", "1001", "[-1000, 1000]", {}},
      {"sim_clock.wander_ppb_per_sqrt_s", "0", "-1", "1e6", "1000001", "[0, 1e6]", {}},
      {"sim_clock.step_every_s", "0", "-0.001", "1e6", "2e6", "[0, 1e6]", {}},
      {"sim_clock.step_ppm", "-1000", "-1001", "1000", "1000.5", "[-1000, 1000]",
       {{"sim_clock.step_every_s", "1"}}},
      {"sim_clock.seed", "0", "-1", "9223372036854775807", "9223372036854775808",
       "[0, 9223372036854775807]", {}},
  };
  for (const Edge& e : edges) check(e, false);
}

TEST_F(RangeTest, MasterEdges) {
  const std::vector<Edge> edges = {
      {"realtime_step_threshold_ms", "0.001", "0.0001", "1e6", "1.0000001e6", "[0.001, 1e6]",
       {}},
      {"master_error_ns", "0", "-1", "1000000000000", "1000000000001", "[0, 1000000000000]", {}},
      {"worker_threads", "1", "0", "64", "65", "[1, 64]", {}},
      {"beacon.rate_hz", "0.1", "0.09", "1000", "1000.5", "[0.1, 1000]", {}},
      {"beacon.max_streams", "1", "0", "100000", "100001", "[1, 100000]", {}},
      {"sim_clock.freq_ppm", "-1000", "-1000.001", "1000", "1000.001", "[-1000, 1000]", {}},
      {"reference.poll_s", "0.1", "0.09", "60", "60.5", "[0.1, 60]", {}},
      {"reference.max_clock_error_ppm", "0.001", "0.0009", "1000", "1000.1", "[0.001, 1000]", {}},
      {"reference.ptp.domain", "0", "-1", "255", "256", "[0, 255]", {}},
      {"reference.ptp.path_asymmetry", "0", "-0.1", "1", "1.1", "[0, 1]", {}},
      {"reference.ptp.extra_ns", "0", "-1", "1000000000", "1000000001", "[0, 1000000000]", {}},
  };
  for (const Edge& e : edges) check(e, true);
}

// ---- Errors, each with its exact text.

TEST_F(ConfigTest, ExamplesFromTheBriefReadExactly) {
  std::string text = std::string(kClientBase) + std::string(8, '\n') + "poll:\n  min_s: 0\n";
  EXPECT_EQ(parse_client(text, "client.yaml").error,
            "client.yaml:12: key 'poll.min_s': 0 is out of range [0.01, 60]");
  EXPECT_EQ(parse_client("role: client\nmaster: m:1\npol:\n  min_s: 1\n", "client.yaml").error,
            "client.yaml:3: unknown key 'pol', did you mean 'poll'?");
  EXPECT_EQ(parse_client("role: client\nmaster: m:1\npoll:\n  min_s: fast\n", "client.yaml").error,
            "client.yaml:4: key 'poll.min_s': expected a number, got 'fast'");
  EXPECT_FALSE(parse_client("role: client\nmaster: m:1\npoll:\n  min_s: fast\n", "c").ok());
}

TEST_F(ConfigTest, UnknownKeyAtTopLevel) {
  EXPECT_EQ(client_error(std::string(kClientBase) + "pol:\n  min_s: 1\n"),
            at(3, "unknown key 'pol', did you mean 'poll'?"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "banana: 1\n"), at(3, "unknown key 'banana'"));
  // A client key in a master file is unknown there.
  EXPECT_EQ(master_error(std::string(kMasterBase) + "id: x\nsegment: /dev/shm/x\n"),
            at(3, "unknown key 'segment'"));
}

TEST_F(ConfigTest, UnknownKeyNested) {
  EXPECT_EQ(client_error(std::string(kClientBase) + "poll:\n  min_s: 1\n  mins: 1\n"),
            at(5, "unknown key 'poll.mins', did you mean 'poll.min_s'?"));
  EXPECT_EQ(master_error(std::string(kMasterBase) + "sim_clock:\n  enabled: true\n  colour: red\n"),
            at(4, "unknown key 'sim_clock.colour'"));
  // A leaf is not a section.
  EXPECT_EQ(client_error(std::string(kClientBase) + "log_level:\n  info: 1\n"),
            at(3, "key 'log_level': expected one of debug, info, warning, error, got a map"));
}

TEST_F(ConfigTest, WrongRole) {
  // A master file given to the agent: the role is named even when other keys
  // of the master come first.
  std::string master_file = "listen: \"0.0.0.0:7450\"\ntimebase: realtime\nrole: master\n";
  EXPECT_EQ(client_error(master_file), at(3, "key 'role': expected client, got 'master'"));
  EXPECT_EQ(master_error(kClientBase), at(1, "key 'role': expected master, got 'client'"));
  EXPECT_EQ(client_error("role: server\nmaster: m:1\n"),
            at(1, "key 'role': expected one of master, client, got 'server'"));
  EXPECT_EQ(client_error("master: m:1\n"), at(1, "missing required key 'role'"));
  EXPECT_EQ(client_error(""), at(1, "missing required key 'role'"));
}

// A missing key is reported at the line of its section: for a top-level key
// the first line of the top-level map (issue 17: it named no line).
TEST_F(ConfigTest, MissingRequiredKeyNamesTheLineOfItsSection) {
  EXPECT_EQ(client_error("role: client\nid: a\n"), at(1, "missing required key 'master'"));
  EXPECT_EQ(client_error("# the camera SoM\n\nid: a\nrole: client\n"),
            at(3, "missing required key 'master'"));
  EXPECT_EQ(client_error("# nothing but a comment\n"), at(1, "missing required key 'role'"));
  EXPECT_EQ(client_error("\n\nmaster: m:1\n"), at(3, "missing required key 'role'"));
}

// Several masters (failover) and a standby's keys: lists, their items and
// the rules between them.
TEST_F(ConfigTest, MasterListsAndStandbys) {
  auto r = client("role: client\nmaster: [\"a:7450\", \"b:7450\"]\n"
                  "failover: {probe_every_s: 0.5, hold_down_s: 3, failures_to_switch: 4}\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->master, "a:7450");
  EXPECT_EQ(r.value->masters, (std::vector<std::string>{"a:7450", "b:7450"}));
  EXPECT_EQ(r.value->failover.probe_every_s, 0.5);
  EXPECT_EQ(r.value->failover.hold_down_s, 3);
  EXPECT_EQ(r.value->failover.failures_to_switch, 4);
  EXPECT_EQ(client_error("role: client\nmaster: []\n"),
            at(2, "key 'master': an empty list: name the master's host:port"));
  EXPECT_EQ(client_error("role: client\nmaster: [\"a:1\", \"b\"]\n"),
            at(2, "key 'master': item 2: expected host:port with a port in 1..65535, got 'b'"));
  EXPECT_EQ(client_error("role: client\nmaster: [\"a:1\", \"a:1\"]\n"),
            at(2, "key 'master': item 2 ('a:1') repeats item 1"));
  EXPECT_EQ(client_error("role: client\nmaster: [\"a:1\", [\"b:1\"]]\n"),
            at(2, "key 'master': item 2: expected a string, got a list"));
  EXPECT_EQ(client_error("role: client\nmaster: [a:1, b:1, c:1, d:1, e:1, f:1, g:1, h:1, i:1]\n"),
            at(2, "key 'master': a list of 9 items, at most 8 allowed"));

  auto m = master("role: master\nstandby: {of: \"p:7450\", max_error_us: 500, "
                  "poll: {min_s: 0.05, max_s: 0.5}}\n");
  ASSERT_TRUE(m.ok()) << m.error;
  EXPECT_EQ(m.value->standby.of, "p:7450");
  EXPECT_EQ(m.value->standby.max_error_us, 500);
  EXPECT_EQ(m.value->standby.poll.max_s, 0.5);
  auto j = master("role: master\nrejoin:\n  via: [\"s:7450\"]\n  wait_s: 2\n");
  ASSERT_TRUE(j.ok()) << j.error;
  EXPECT_EQ(j.value->rejoin.via, (std::vector<std::string>{"s:7450"}));
  EXPECT_EQ(master_error("role: master\nstandby: {of: \"p:7450\"}\nrejoin: {via: [\"s:1\"]}\n"),
            at(3, "key 'rejoin.via': a standby serves its primary's timeline and never re-joins: "
                  "rejoin.via is for a primary"));
  EXPECT_EQ(master_error("role: master\nlisten: \"0.0.0.0:7450\"\n"
                         "standby: {of: \"0.0.0.0:7450\"}\n"),
            at(3, "key 'standby.of': a master cannot stand by for itself"));
}

TEST_F(ConfigTest, WrongTypes) {
  const std::string b = kClientBase;
  EXPECT_EQ(client_error(b + "poll:\n  min_s: fast\n"),
            at(4, "key 'poll.min_s': expected a number, got 'fast'"));
  EXPECT_EQ(client_error(b + "poll:\n  max_s: [1, 2]\n"),
            at(4, "key 'poll.max_s': expected a number, got a list"));
  EXPECT_EQ(client_error(b + "poll:\n  max_s:\n"),
            at(4, "key 'poll.max_s': expected a number, got nothing"));
  EXPECT_EQ(client_error(b + "filter:\n  window: 2.5\n"),
            at(4, "key 'filter.window': expected an integer, got '2.5'"));
  EXPECT_EQ(client_error(b + "sim_clock:\n  enabled: maybe\n"),
            at(4, "key 'sim_clock.enabled': expected true or false, got 'maybe'"));
  EXPECT_EQ(client_error("role: client\nmaster: {host: m}\n"),
            at(2, "key 'master': expected a string or a list of strings, got a map"));
  EXPECT_EQ(client_error(b + "log_level: verbose\n"),
            at(3, "key 'log_level': expected one of debug, info, warning, error, got 'verbose'"));
  EXPECT_EQ(client_error(b + "servo:\n  type: lqr\n"),
            at(4, "key 'servo.type': expected one of pll, kalman, got 'lqr'"));
  EXPECT_EQ(client_error(b + "servo:\n  kalman:\n    floor_ns: 5\n"),
            at(5, "unknown key 'servo.kalman.floor_ns'"));
  EXPECT_EQ(client_error(b + "poll: 5\n"), at(3, "key 'poll': expected a map of keys, got '5'"));
  EXPECT_EQ(master_error(std::string(kMasterBase) + "worker_threads: two\n"),
            at(2, "key 'worker_threads': expected an integer, got 'two'"));
}

TEST_F(ConfigTest, NonFiniteNumbersAreRejected) {
  for (const char* v : {".nan", ".inf", "-.inf", "nan", "inf"}) {
    EXPECT_EQ(client_error(std::string(kClientBase) + "alarm:\n  max_error_us: " + v + "\n"),
              at(4, std::string("key 'alarm.max_error_us': expected a number, got '") + v + "'"));
  }
}

TEST_F(ConfigTest, Addresses) {
  for (const char* ok : {"m:1", "localhost:65535", "[::1]:7450", "10.0.0.1:7450"}) {
    EXPECT_EQ(client_error(std::string("role: client\nmaster: \"") + ok + "\"\n"), "") << ok;
  }
  for (const char* bad : {"m", "m:", ":7450", "m:0", "m:65536", "m:+80", "m:80x", ""}) {
    EXPECT_EQ(client_error(std::string("role: client\nmaster: \"") + bad + "\"\n"),
              at(2, std::string("key 'master': expected host:port with a port in 1..65535, "
                                "got '") + bad + "'"))
        << bad;
  }
  EXPECT_EQ(master_error(std::string(kMasterBase) + "listen: 7450\n"),
            at(2, "key 'listen': expected host:port with a port in 1..65535, got '7450'"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "segment: shm/timesync\n"),
            at(3, "key 'segment': expected an absolute path, got 'shm/timesync'"));
}

TEST_F(ConfigTest, MetricsAndTlsKeys) {
  const std::string b = kClientBase;
  const std::string m = kMasterBase;
  EXPECT_EQ(client_error(b + "metrics:\n  listen: \"0.0.0.0:9451\"\n"), "");
  EXPECT_EQ(client_error(b + "metrics:\n  listen: 9451\n"),
            at(4, "key 'metrics.listen': expected \"\" (off) or host:port with a port in "
                  "1..65535, got '9451'"));
  // A readable file is accepted; a missing or relative one is named at load time.
  const std::string file = "/proc/self/exe";  // regular, readable, always there
  EXPECT_EQ(client_error(b + "tls:\n  ca_file: " + file + "\n  server_name: master.local\n"),
            "");
  EXPECT_EQ(client_error(b + "tls:\n  ca_file: /nonexistent/ca.pem\n"),
            at(4, "key 'tls.ca_file': expected \"\" or the absolute path of a readable file, "
                  "got '/nonexistent/ca.pem'"));
  EXPECT_EQ(client_error(b + "tls:\n  ca_file: ca.pem\n"),
            at(4, "key 'tls.ca_file': expected \"\" or the absolute path of a readable file, "
                  "got 'ca.pem'"));
  EXPECT_EQ(client_error(b + "tls:\n  server_name: \"a/b\"\n"),
            at(4, "key 'tls.server_name': expected a host name (no spaces, '/' or ':'), "
                  "got 'a/b'"));
  // Half a key pair, or TLS options without TLS, would be silently useless.
  EXPECT_EQ(client_error(b + "tls:\n  ca_file: " + file + "\n  cert_file: " + file + "\n"),
            at(5, "key 'tls.cert_file': tls.cert_file is set but tls.key_file is not"));
  EXPECT_EQ(client_error(b + "tls:\n  cert_file: " + file + "\n  key_file: " + file + "\n"),
            at(4, "key 'tls.cert_file': a client certificate is sent only over TLS: set "
                  "tls.ca_file to the CA that signed the master's certificate"));
  EXPECT_EQ(client_error(b + "tls:\n  server_name: m\n"),
            at(4, "key 'tls.server_name': tls.server_name is only checked over TLS "
                  "(tls.ca_file is not set), so it would be ignored"));
  EXPECT_EQ(master_error(m + "tls:\n  key_file: " + file + "\n"),
            at(3, "key 'tls.key_file': tls.key_file is set but tls.cert_file is not"));
  EXPECT_EQ(master_error(m + "tls:\n  client_ca_file: " + file + "\n"),
            at(3, "key 'tls.client_ca_file': client certificates are checked only over TLS: "
                  "set tls.cert_file and tls.key_file too"));
  EXPECT_EQ(master_error(m + "tls:\n  cert_file: " + file + "\n  key_file: " + file +
                         "\n  client_ca_file: " + file + "\n"),
            "");
}

TEST_F(ConfigTest, TheMastersReference) {
  const std::string m = kMasterBase;
  auto r = master(m + "reference:\n  source: chrony\n  socket: \"127.0.0.1:323\"\n  poll_s: 0.5\n"
                      "  max_clock_error_ppm: 15\n  leap_seconds_file: \"\"\n"
                      "  ptp: {domain: 24, path_asymmetry: 0.1, extra_ns: 500}\n");
  ASSERT_TRUE(r.ok()) << r.error;
  MasterConfig e;
  e.reference = {ReferenceSource::kChrony, "127.0.0.1:323", 0.5, 15, "", {24, 0.1, 500}};
  EXPECT_EQ(*r.value, e);
  EXPECT_EQ(r.value->reference.socket_or_default(), "127.0.0.1:323");

  r = master(m + "reference:\n  source: ptp\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->reference.socket_or_default(), "/var/run/ptp4l");
  EXPECT_EQ(to_string(r.value->reference.source), "ptp");

  EXPECT_EQ(master_error(m + "reference:\n  source: gps\n"),
            at(3, "key 'reference.source': expected one of none, chrony, ptp, got 'gps'"));
  EXPECT_EQ(master_error(m + "reference:\n  source: chrony\n  socket: chronyd.sock\n"),
            at(4, "key 'reference.socket': expected \"\" (the daemon's default), an absolute Unix "
                  "socket path (under 108 bytes) or IP:port, got 'chronyd.sock'"));
  EXPECT_EQ(master_error(m + "reference:\n  source: chrony\n  socket: /" + std::string(120, 'a') + "\n"),
            at(4, "key 'reference.socket': expected \"\" (the daemon's default), an absolute Unix "
                  "socket path (under 108 bytes) or IP:port, got '/" + std::string(39, 'a') + "...'"));
  EXPECT_EQ(master_error(m + "reference:\n  leap_seconds_file: /nonexistent/leap-seconds.list\n"),
            at(3, "key 'reference.leap_seconds_file': expected \"\" or the absolute path of a "
                  "readable file, got '/nonexistent/leap-seconds.list'"));
  // Cross-key rules.
  EXPECT_EQ(master_error(m + "reference:\n  socket: /run/chrony/chronyd.sock\n"),
            at(3, "key 'reference.socket': reference.socket is set but reference.source is none"));
  EXPECT_EQ(master_error(m + "reference:\n  source: ptp\n  socket: \"127.0.0.1:320\"\n"),
            at(4, "key 'reference.socket': ptp4l's management socket is a Unix socket: an "
                  "absolute path, not '127.0.0.1:320'"));
  EXPECT_EQ(master_error(m + "standby:\n  of: \"10.0.0.1:7450\"\nreference:\n  source: chrony\n"),
            at(5, "key 'reference.source': a standby serves its primary's timeline and error, not "
                  "its own clock's: reference.source is for a primary"));
}

TEST_F(ConfigTest, TheAgentsChronyRefclock) {
  const std::string b = kClientBase;
  auto r = client(b + "chrony_refclock:\n  socket: /run/chrony/timesync.sock\n  max_error_us: 250\n");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->chrony_refclock, (ClientConfig::ChronyRefclock{"/run/chrony/timesync.sock", 250}));
  EXPECT_EQ(ClientConfig{}.chrony_refclock, (ClientConfig::ChronyRefclock{"", 1000}));
  EXPECT_EQ(client_error(b + "chrony_refclock:\n  socket: timesync.sock\n"),
            at(4, "key 'chrony_refclock.socket': expected \"\" (off) or an absolute Unix socket path "
                  "under 108 bytes, without spaces, got 'timesync.sock'"));
  EXPECT_EQ(client_error(b + "chrony_refclock:\n  socket: \"/run/a b.sock\"\n"),
            at(4, "key 'chrony_refclock.socket': expected \"\" (off) or an absolute Unix socket path "
                  "under 108 bytes, without spaces, got '/run/a b.sock'"));
  EXPECT_EQ(client_error(b + "chrony_refclock:\n  max_error_us: 0\n"),
            at(4, "key 'chrony_refclock.max_error_us': 0 is out of range [0.001, 1e6]"));
}

TEST_F(ConfigTest, CrossKeyRuleNamesTheSecondKey) {
  const std::string b = kClientBase;
  EXPECT_EQ(client_error(b + "poll:\n  min_s: 2\n  max_s: 1\n"),
            at(5, "key 'poll.max_s': poll.min_s (2) must not exceed poll.max_s (1)"));
  // The second key is the later one in the schema, wherever it is in the file.
  EXPECT_EQ(client_error(b + "poll:\n  max_s: 1\n  min_s: 2\n"),
            at(4, "key 'poll.max_s': poll.min_s (2) must not exceed poll.max_s (1)"));
  // Only the first key is in the file: the error points at it.
  EXPECT_EQ(client_error(b + "poll:\n  min_s: 10\n"),
            at(4, "key 'poll.min_s': poll.min_s (10) must not exceed poll.max_s (4)"));
  EXPECT_EQ(client_error(b + "poll:\n  min_s: 1\n  max_s: 1\n"), "");
  // A key that would be silently ignored.
  EXPECT_EQ(master_error(std::string(kMasterBase) + "sim_clock:\n  step_ppm: 5\n"),
            at(3, "key 'sim_clock.step_ppm': steps are off (sim_clock.step_every_s is 0), so "
                  "step_ppm 5 would be ignored"));
  EXPECT_EQ(master_error(std::string(kMasterBase) + "sim_clock:\n  step_every_s: 0.0005\n"),
            at(3, "key 'sim_clock.step_every_s': 0.0005 must be 0 (never) or at least 0.001"));
  EXPECT_EQ(master_error(std::string(kMasterBase) +
                         "udp:\n  key_rotation_s: 600\n  session_lifetime_s: 900\n"),
            at(4, "key 'udp.session_lifetime_s': a cookie must not outlive the key that sealed "
                  "it: 900 s > udp.key_rotation_s (600 s)"));
  EXPECT_EQ(master_error(std::string(kMasterBase) + "udp:\n  timestamping: hardware\n"),
            at(3, "key 'udp.timestamping': hardware timestamps come from one interface's clock: "
                  "name it"));
  EXPECT_EQ(master_error(std::string(kMasterBase) +
                         "sim_clock:\n  step_every_s: 10\n  step_ppm: 20\n  step_ramp_s: 12\n"),
            at(5, "key 'sim_clock.step_ramp_s': 12 is longer than the step period 10 s"));
}

TEST_F(ConfigTest, MalformedYaml) {
  std::string err = client_error(std::string(kClientBase) + "  bad: indent\n");
  const std::string prefix = at(3, "YAML syntax error: ");
  ASSERT_EQ(err.substr(0, prefix.size()), prefix) << err;
  EXPECT_GT(err.size(), prefix.size());  // yaml-cpp's own message follows
  err = client_error("role: client\nmaster: [m:1\n");
  EXPECT_EQ(err.find(path_ + ":"), 0u) << err;
  EXPECT_NE(err.find(": YAML syntax error: "), std::string::npos) << err;
}

TEST_F(ConfigTest, StructureErrors) {
  EXPECT_EQ(client_error(std::string(kClientBase) + "id: a\nid: b\n"),
            at(4, "key 'id': duplicate, first set on line 3"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "poll:\n  min_s: 1\n  min_s: 2\n"),
            at(5, "key 'poll.min_s': duplicate, first set on line 4"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "---\nrole: client\n"),
            at(4, "expected a single YAML document"));
  EXPECT_EQ(client_error("- role\n- client\n"), at(1, "expected a map of keys, got a list"));
}

TEST_F(ConfigTest, MissingFile) {
  auto r = load_client(dir_ + "/absent.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, dir_ + "/absent.yaml: cannot open: No such file or directory");
  EXPECT_EQ(load_master(dir_).error, dir_ + ": a directory, not a regular file");
}

// ---- Issue 17: what --config may be given, and what --check-config passes.

// Loads `path` in a death-test child with 1 GiB of address space and 10 s:
// prints the error in brackets, exits 0 if loading failed. So reading
// /dev/zero into memory, or waiting on a FIFO, fails the test rather than
// the machine or the suite.
[[noreturn]] void load_in_child(const std::string& path) {
  const rlimit mem{size_t{1} << 30, size_t{1} << 30};
  setrlimit(RLIMIT_AS, &mem);
  alarm(10);
  const auto r = load_client(path);
  std::fprintf(stderr, "[%s]", r.error.c_str());
  std::exit(r.ok() ? 1 : 0);
}

// As load_in_child, for text.
[[noreturn]] void parse_in_child(const std::string& text) {
  const rlimit mem{size_t{1} << 30, size_t{1} << 30};
  setrlimit(RLIMIT_AS, &mem);
  alarm(10);
  const auto r = parse_client(text, "c.yaml");
  std::fprintf(stderr, "[%s]", r.error.c_str());
  std::exit(r.ok() ? 1 : 0);
}

// yaml-cpp 0.7 loops forever, allocating, on a ',' at document level (found
// by fuzz_config): refused as a syntax error on its line.
TEST_F(ConfigTest, ACommaAtDocumentLevelIsASyntaxErrorNotAHang) {
  EXPECT_EXIT(parse_in_child(","), ::testing::ExitedWithCode(0),
              "\\[c.yaml:1: YAML syntax error: unexpected ',' outside a flow collection "
              "\\(\\[...\\] or \\{...\\}\\)\\]");
  EXPECT_EXIT(parse_in_child("# agent\n\"role\", client\n"), ::testing::ExitedWithCode(0),
              "\\[c.yaml:2: YAML syntax error: unexpected ','");
  EXPECT_EXIT(parse_in_child("\n,role: client\nmaster: m:1\n"), ::testing::ExitedWithCode(0),
              "\\[c.yaml:2: YAML syntax error: unexpected ','");
}

// /dev/zero used to be read until memory ran out.
TEST_F(ConfigTest, DevZeroIsRefusedWithoutReadingIt) {
  EXPECT_EXIT(load_in_child("/dev/zero"), ::testing::ExitedWithCode(0),
              "\\[/dev/zero: a character device, not a regular file\\]");
}

// A FIFO used to block the daemon in open() until some writer came.
TEST_F(ConfigTest, FifoIsRefusedWithoutWaitingForAWriter) {
  const std::string fifo = dir_ + "/client.yaml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EXIT(load_in_child(fifo), ::testing::ExitedWithCode(0),
              "\\[" + fifo + ": a FIFO, not a regular file\\]");
}

// /etc/timesync/client.yaml is often a link into a configuration package:
// followed, as long as it ends at a regular file.
TEST_F(ConfigTest, SymlinkToARegularFileIsFollowed) {
  write(kClientBase);
  const std::string link = dir_ + "/link.yaml";
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  auto r = load_client(link);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->master, "m:7450");
  const std::string to_dir = dir_ + "/dir-link.yaml";
  ASSERT_EQ(symlink(dir_.c_str(), to_dir.c_str()), 0);
  EXPECT_EQ(load_client(to_dir).error, to_dir + ": a directory, not a regular file");
}

// A valid file padded past 1 MiB is not a configuration; parse_* (text from
// elsewhere) applies the same limit.
TEST_F(ConfigTest, FilesLargerThanOneMebibyteAreRefused) {
  constexpr size_t kMiB = size_t{1} << 20;
  std::string text = std::string(kClientBase);
  const std::string comment = "# " + std::string(1022, 'x') + "\n";  // 1 KiB a line
  while (text.size() + 2 * comment.size() <= kMiB) text += comment;
  text += "#" + std::string(kMiB - text.size() - 2, 'y') + "\n";
  ASSERT_EQ(text.size(), kMiB);
  EXPECT_EQ(client_error(text), "") << "exactly at the limit is fine";
  text += "\n";
  ASSERT_EQ(text.size(), (size_t{1} << 20) + 1);
  EXPECT_EQ(client_error(text),
            path_ + ": larger than 1 MiB (1048577 bytes): not a configuration file");
  EXPECT_EQ(parse_client(text, "c.yaml").error,
            "c.yaml: larger than 1 MiB (1048577 bytes): not a configuration file");
}

constexpr const char* kIdRule =
    "expected \"\" or at most 256 bytes of printable UTF-8 (no control characters), got ";

// An agent id over 256 bytes is refused by the master on every request; a
// master id of megabytes makes every answer larger than an agent accepts.
TEST_F(ConfigTest, IdsAreAtMost256PrintableBytes) {
  const std::string b = kClientBase;
  EXPECT_EQ(client_error(b + "id: " + std::string(256, 'a') + "\n"), "");
  EXPECT_EQ(client_error(b + "id: \"Kamera S\u00fcd 2\"\n"), "");  // UTF-8 is fine
  EXPECT_EQ(client_error(b + "id: " + std::string(257, 'a') + "\n"),
            at(3, std::string("key 'id': ") + kIdRule + "'" + std::string(40, 'a') + "...'"));
  EXPECT_EQ(master_error(std::string(kMasterBase) + "id: " + std::string(300'000, 'm') + "\n"),
            at(2, std::string("key 'id': ") + kIdRule + "'" + std::string(40, 'm') + "...'"));
  // Control characters would forge log lines; bytes that are not UTF-8 make
  // every protobuf message carrying the id unparsable.
  EXPECT_EQ(client_error(b + "id: \"cam\\nera\"\n"),
            at(3, std::string("key 'id': ") + kIdRule + "'cam\\nera'"));
  EXPECT_EQ(client_error(b + "id: \"a\\x01\\tb\"\n"),
            at(3, std::string("key 'id': ") + kIdRule + "'a\\x01\\tb'"));
  EXPECT_EQ(client_error(b + "id: cam\xff\xfe\n"),
            at(3, std::string("key 'id': ") + kIdRule + "'cam\\xff\\xfe'"));
}

// A value is quoted as an excerpt of at most 40 characters, escaped: an error
// stays one short printable line whatever the file holds.
TEST_F(ConfigTest, ErrorsQuoteAShortEscapedExcerpt) {
  const std::string b = kClientBase;
  EXPECT_EQ(client_error(b + "poll:\n  min_s: " + std::string(5000, '7') + "x\n"),
            at(4, "key 'poll.min_s': expected a number, got '" + std::string(40, '7') + "...'"));
  EXPECT_EQ(client_error(b + "poll:\n  burst: " + std::string(60, '9') + "\n"),
            at(4, "key 'poll.burst': " + std::string(40, '9') + "... is out of range [1, 16]"));
  EXPECT_EQ(client_error(b + std::string(100, 'k') + ": 1\n"),
            at(3, "unknown key '" + std::string(40, 'k') + "...'"));
  EXPECT_EQ(client_error("role: client\nmaster: \"m\\r\\n2024-01-01 FAKE LOG LINE:1\"\n"),
            at(2, "key 'master': expected host:port with a port in 1..65535, got "
                  "'m\\r\\n2024-01-01 FAKE LOG LINE:1'"));
  // Characters, not bytes, are counted, and a cut never splits one.
  std::string umlauts;
  for (int i = 0; i < 50; ++i) umlauts += "\u00e4";
  std::string forty;
  for (int i = 0; i < 40; ++i) forty += "\u00e4";
  EXPECT_EQ(client_error(b + "log_level: \"" + umlauts + "\"\n"),
            at(3, "key 'log_level': expected one of debug, info, warning, error, got '" + forty +
                      "...'"));
}

// --check-config used to pass these; each makes a working agent impossible.
TEST_F(ConfigTest, TimeoutsThatCannotWorkTogetherAreRefused) {
  const std::string b = kClientBase;
  // Data void before the next poll: readers refused 45 % of the time.
  EXPECT_EQ(client_error(b + "alarm:\n  void_after_s: 2.2\n"),
            at(4, "key 'alarm.void_after_s': alarm.void_after_s (2.2 s) must exceed poll.max_s + "
                  "poll.rpc_timeout_s (4 + 0.5 s): readers would be refused between polls"));
  EXPECT_EQ(client_error(b + "poll:\n  max_s: 16\n"),
            at(4, "key 'poll.max_s': alarm.unreachable_after_s (5 s) must exceed poll.max_s "
                  "(16 s): the master would count as unreachable between two polls"));
  // Only the timeout is set: the error names it.
  EXPECT_EQ(client_error(b + "poll:\n  rpc_timeout_s: 9.5\n"),
            at(4, "key 'poll.rpc_timeout_s': alarm.void_after_s (10 s) must exceed poll.max_s + "
                  "poll.rpc_timeout_s (4 + 9.5 s): readers would be refused between polls"));
  // The unreachable alarm between every two polls.
  EXPECT_EQ(client_error(b + "poll:\n  max_s: 8\nalarm:\n  unreachable_after_s: 8\n"
                             "  void_after_s: 20\n"),
            at(6, "key 'alarm.unreachable_after_s': alarm.unreachable_after_s (8 s) must exceed "
                  "poll.max_s (8 s): the master would count as unreachable between two polls"));
  EXPECT_EQ(client_error(b + "poll:\n  max_s: 8\nalarm:\n  unreachable_after_s: 8.5\n"
                             "  void_after_s: 8.5\n"),
            at(7, "key 'alarm.void_after_s': alarm.void_after_s (8.5 s) must exceed poll.max_s + "
                  "poll.rpc_timeout_s (8 + 0.5 s): readers would be refused between polls"));
  EXPECT_EQ(client_error(b + "poll:\n  max_s: 8\nalarm:\n  unreachable_after_s: 8.5\n"
                             "  void_after_s: 8.6\n"),
            "");
}

TEST_F(ConfigTest, MetricsCannotShareTheServicePort) {
  EXPECT_EQ(master_error(std::string(kMasterBase) + "metrics:\n  listen: \"0.0.0.0:7450\"\n"),
            at(3, "key 'metrics.listen': the metrics server cannot listen where the gRPC "
                  "service does (listen: 0.0.0.0:7450): choose another port"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "metrics:\n  listen: \"0.0.0.0:7451\"\n"),
            at(4, "key 'metrics.listen': the metrics server cannot listen where the gRPC "
                  "service does (listen: 127.0.0.1:7451): choose another port"));
  EXPECT_EQ(client_error(std::string(kClientBase) + "metrics:\n  listen: \"127.0.0.2:7451\"\n"),
            "");
  EXPECT_EQ(master_error(std::string(kMasterBase) + "metrics:\n  listen: \"0.0.0.0:7460\"\n"),
            "");
}

// ---- The shipped examples and the schema description.

// True if `text` has `key` at its nesting: "a.b" needs "a:" at column 0 and
// "  b:" after it.
bool has_key(const std::string& text, const std::string& key) {
  const std::string all = "\n" + text;
  size_t at = 0, from = 0;
  for (std::string indent;; indent += "  ") {
    size_t dot = key.find('.', from);
    at = all.find("\n" + indent + key.substr(from, dot - from) + ":", at);
    if (at == std::string::npos) return false;
    if (dot == std::string::npos) return true;
    from = dot + 1;
  }
}

TEST(ConfigExamples, MasterExampleLoadsWithEveryKeyAtItsDefault) {
  const std::string path = TIMESYNC_CONFIG_DIR "/master.yaml";
  auto r = load_master(path);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(*r.value, MasterConfig{});
  const std::string text = read_text(path);
  for (const std::string& k : kMasterKeys) EXPECT_TRUE(has_key(text, k)) << k;
}

TEST(ConfigExamples, ClientExampleLoadsWithEveryKeyAtItsDefault) {
  const std::string path = TIMESYNC_CONFIG_DIR "/client.yaml";
  auto r = load_client(path);
  ASSERT_TRUE(r.ok()) << r.error;
  ClientConfig expected;
  expected.master = r.value->master;
  expected.masters = {r.value->master};
  EXPECT_EQ(*r.value, expected);
  EXPECT_FALSE(r.value->master.empty());
  const std::string text = read_text(path);
  for (const std::string& k : kClientKeys) EXPECT_TRUE(has_key(text, k)) << k;
}

// Every key is described, and nothing else is: the key lines (not indented,
// after the title) name exactly the keys listed above.
void expect_describes(const std::string& text, const std::vector<std::string>& keys) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // title
  std::vector<std::string> described;
  while (std::getline(in, line) && line != "Also checked:") {
    if (line.empty() || line[0] == ' ') continue;
    described.push_back(line.substr(0, line.find(' ')));
    EXPECT_TRUE(line.find("default ") != std::string::npos ||
                line.find("required") != std::string::npos)
        << line;
  }
  EXPECT_EQ(described.size(), keys.size());
  for (const std::string& k : keys)
    EXPECT_NE(std::find(described.begin(), described.end(), k), described.end()) << k;
}

TEST(ConfigSchema, DescribeMentionsEveryKey) {
  expect_describes(describe_master_schema(), kMasterKeys);
  expect_describes(describe_client_schema(), kClientKeys);
  EXPECT_NE(describe_client_schema().find("poll.min_s <= poll.max_s"), std::string::npos);
  EXPECT_NE(describe_client_schema().find("[0.01, 60]"), std::string::npos);
  EXPECT_NE(describe_client_schema().find("(0, 1)"), std::string::npos);
}

}  // namespace
}  // namespace timesync::config
