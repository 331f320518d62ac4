// The UDP exchange end to end (docs/udp-transport.md): real master and agent
// processes on loopback, the agent reaching the master's UDP port directly or
// through a relay (support/udp_relay.hpp) that can block UDP and inject
// packets. The master serves this host's CLOCK_MONOTONIC_RAW, so every
// reading's truth is exact (support/tally.hpp); whatever happens on the wire,
// not one served reading may lie outside its bound.
//
//   SynchronizesWithKernelTimestamps               transport auto moves to UDP; bound on loopback
//   BlockedUdpFallsBackToGrpcAndComesBack          3 lost exchanges -> gRPC; UDP again after retry_s
//   MutualTlsSealsPacketsAndDropsForgedAndReplayed forged, replayed, reflected and unsealed packets
//                                                  are dropped and counted at both ends
//   AnAgentWithoutTlsGetsNoTimeFromASealingMaster  no keys, no UDP time
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

#include "support/daemons.hpp"
#include "support/process.hpp"
#include "support/rpc.hpp"
#include "support/tally.hpp"
#include "support/test_seed.hpp"
#include "support/udp_relay.hpp"
#include "timesync/clock.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync {
namespace {

using testing::AgentProcess;
using testing::eventually;
using testing::kSimulatedAgent;
using testing::MasterProcess;
using testing::SegmentSampler;
using testing::Tally;
using testing::UdpRelay;
using Bytes = UdpRelay::Bytes;
using namespace std::chrono_literals;

// ---- Prometheus text over HTTP (as operations_test) -----------------------

std::string http_get(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

// One series' value; 0 when absent (a counter not incremented yet).
double metric(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

std::string udp_requests(const std::string& result) {
  return "timesync_master_udp_requests_total{result=\"" + result + "\"}";
}

// ---- Packets built by hand from the documented layout ---------------------

void put_be(Bytes* b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) (*b)[off + i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}

// The 24-byte header of a packet of `size` bytes; the rest zero.
Bytes header(uint8_t type, uint8_t flags, size_t size, uint64_t seq) {
  Bytes b(size, 0);
  put_be(&b, 0, 0x54535544, 4);
  b[4] = 1;
  b[5] = type;
  b[6] = flags;
  put_be(&b, 8, size, 2);
  put_be(&b, 16, seq, 8);
  return b;
}

constexpr uint8_t kRequest = 1, kResponse = 2, kFollowUp = 3, kAuth = 1;
constexpr size_t kPlainRequest = 112, kPlainResponse = 64, kSealedRequest = 168,
                 kSealedResponse = 92, kSealedFollowUp = 76;

void randomize(Bytes* b, size_t from, size_t to, std::mt19937_64& rng) {
  for (size_t i = from; i < to; ++i) (*b)[i] = static_cast<uint8_t>(rng());
}

// A well-formed unsealed RESPONSE (what an off-path forger without keys sends).
Bytes plain_response(uint64_t seq) {
  Bytes b = header(kResponse, 0, kPlainResponse, seq);
  put_be(&b, 24, 123456789, 8);  // t1
  b[56] = 1;                     // monotonic
  return b;
}

// A well-formed sealed RESPONSE whose body, nonce and tag are random: only the
// tag can tell it is forged.
Bytes forged_sealed_response(std::mt19937_64& rng) {
  Bytes b = header(kResponse, kAuth, kSealedResponse, rng());
  randomize(&b, 24, 56, rng);
  b[56] = 1;
  randomize(&b, 64, kSealedResponse, rng);
  return b;
}

// A sealed REQUEST with a random cookie (an unknown cookie key id, as good as
// certainly), nonce and tag.
Bytes garbage_cookie_request(std::mt19937_64& rng) {
  Bytes b = header(kRequest, kAuth, kSealedRequest, rng());
  put_be(&b, 24, 72, 2);
  randomize(&b, 32, 104, rng);
  randomize(&b, 140, kSealedRequest, rng);
  return b;
}

// ---- The agent's status ---------------------------------------------------

v1::AgentStatus status_of(const AgentProcess& a) {
  const std::optional<v1::AgentStatus> s = testing::agent_status(a.target());
  EXPECT_TRUE(s.has_value()) << a.name() << " does not answer GetAgentStatus";
  return s.value_or(v1::AgentStatus{});
}

uint64_t count(const google::protobuf::Map<std::string, uint64_t>& m, const std::string& k) {
  const auto it = m.find(k);
  return it == m.end() ? 0 : it->second;
}

std::string drops_text(const v1::AgentStatus& s) {
  std::string t;
  for (const auto& [k, v] : s.packets_dropped()) t += k + "=" + std::to_string(v) + " ";
  for (const auto& [k, v] : s.link_errors()) t += "link_error:" + k + "=" + std::to_string(v) + " ";
  return t;
}

bool synchronized_on(const v1::AgentStatus& s, const std::string& link) {
  return s.link() == link && s.state() == v1::SYNC_STATE_SYNCHRONIZED;
}

// Synchronized on `link` with a frequency envelope narrower than `ppm`: a
// holdover of a few seconds then grows the bound by microseconds, not by the
// hundreds a fresh lock's wide envelope allows.
bool settled_on(const v1::AgentStatus& s, const std::string& link, double ppm = 10) {
  const double width = s.freq_envelope_hi_ppm() - s.freq_envelope_lo_ppm();
  return synchronized_on(s, link) && width > 0 && width < ppm;
}

// Readings between two snapshots of a sampler (the worst figures are the
// later snapshot's, over the whole run).
Tally since(const Tally& now, const Tally& before) {
  Tally d = now;
  d.served -= before.served;
  d.refused -= before.refused;
  d.outside -= before.outside;
  return d;
}

class Udp : public testing::MasterAndAgent {
 protected:
  static void SetUpTestSuite() {
    certs_ = testing::make_temp_dir();
    const std::string cmd = std::string("bash ") + TIMESYNC_SOURCE_DIR +
                            "/tests/support/make_test_certs.sh " + certs_ + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(certs_); }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& d : masters_) std::cerr << "--- " << d->name() << " log ---\n" << d->log();
      for (const auto& d : agents_) std::cerr << "--- " << d->name() << " log ---\n" << d->log();
    }
    masters_.clear();
    agents_.clear();
    MasterAndAgent::TearDown();
  }

  // Daemons besides master_ and agent_, stopped (and their logs printed on
  // failure) before the directory goes.
  MasterProcess& add_master(const std::string& name) {
    return *masters_.emplace_back(std::make_unique<MasterProcess>(dir_, name));
  }
  AgentProcess& add_agent(const std::string& master_target, const std::string& name) {
    return *agents_.emplace_back(std::make_unique<AgentProcess>(dir_, master_target, name));
  }

  static std::string pem(const std::string& name) { return certs_ + "/" + name; }
  static std::string master_tls() {
    return "tls: {cert_file: " + pem("master.pem") + ", key_file: " + pem("master.key") +
           ", client_ca_file: " + pem("ca.pem") + "}\n";
  }
  static std::string agent_tls() {
    return "tls: {ca_file: " + pem("ca.pem") + ", cert_file: " + pem("agent.pem") +
           ", key_file: " + pem("agent.key") + ", server_name: timesync-master.test}\n";
  }
  std::string master_metrics() const { return http_get(metrics_port_, "/metrics"); }
  std::string metrics_yaml() const {
    return "metrics: {listen: \"" + testing::loopback(metrics_port_) + "\"}\n";
  }
  const int metrics_port_ = testing::free_port();
  std::vector<std::unique_ptr<MasterProcess>> masters_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
  static inline std::string certs_;
};

// Transport auto, nothing in the way: the agent learns the port over gRPC,
// moves to UDP with kernel software timestamps, and its bound shrinks from
// gRPC's ~100 us to below a microsecond on loopback (asserted loosely: this is
// a functional check on a shared 2-core machine, not a benchmark).
TEST_F(Udp, SynchronizesWithKernelTimestamps) {
  master_.start();
  agent_.start(kSimulatedAgent);
  std::optional<Clock> clock = testing::open_clock(agent_.segment());
  ASSERT_TRUE(clock.has_value());
  v1::AgentStatus st;
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return synchronized_on(s, "udp");
  }, 20s, &st)) << st.DebugString();
  EXPECT_EQ(st.timestamps(), "kernel software");
  EXPECT_NE(st.link_description().find("UDP 127.0.0.1:" + std::to_string(master_.udp_port())),
            std::string::npos) << st.link_description();
  EXPECT_NE(st.link_description().find("kernel software timestamps"), std::string::npos)
      << st.link_description();
  EXPECT_NE(st.link_description().find("unauthenticated (TLS off)"), std::string::npos)
      << st.link_description();

  // The first UDP samples narrow the bound left by the gRPC discovery and the
  // frequency envelope of a fresh lock; wait (bounded) until it is settled
  // well under the threshold, which it must then never pass. The threshold is
  // loose on purpose (gRPC's bound is ~100 us, UDP's well under 1 us here):
  // a functional check on a shared 2-core machine, not a benchmark.
  constexpr double kSettledUs = 10, kMaxBoundUs = 50;
  const auto t_settle = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::status_until(agent_.target(), [&](const v1::AgentStatus& s) {
    return synchronized_on(s, "udp") && static_cast<double>(s.bound_ns()) < kSettledUs * 1e3;
  }, 20s, &st)) << "bound stays at " << static_cast<double>(st.bound_ns()) / 1e3 << " us on "
                << st.link();
  std::cerr << "[udp] bound under " << kSettledUs << " us after a further "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t_settle).count()
            << " s\n";

  const uint64_t accepted0 = st.samples_accepted();
  Tally t;
  double bound_sum_ns = 0, bound_max_ns = 0;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    const TimestampWithError r = testing::check_reading(*clock, &t);
    if (!r.ok()) continue;
    bound_sum_ns += static_cast<double>(r.bound_ns);
    bound_max_ns = std::max(bound_max_ns, static_cast<double>(r.bound_ns));
    const timespec pace{0, 100'000};  // 10 kHz: readers, not a busy loop
    nanosleep(&pace, nullptr);
  }
  st = status_of(agent_);
  const double mean_bound_us = t.served > 0 ? bound_sum_ns / static_cast<double>(t.served) / 1e3 : 0;
  std::cerr << "[udp] 5 s on UDP: " << t.summary() << "; bound mean " << mean_bound_us
            << " us, max " << bound_max_ns / 1e3 << " us; samples accepted "
            << st.samples_accepted() - accepted0 << ", last delay " << st.last_delay_ns()
            << " ns; " << drops_text(st) << "\n";
  EXPECT_GT(t.served, 10000u);
  EXPECT_EQ(t.refused, 0u) << t.summary();
  EXPECT_EQ(t.outside, 0u) << t.summary();
  EXPECT_LT(bound_max_ns / 1e3, kMaxBoundUs);
  EXPECT_GT(st.samples_accepted(), accepted0);
  EXPECT_EQ(st.link(), "udp");
}

// UDP blocked between agent and master: three lost exchanges and the agent is
// on gRPC, synchronized all along; unblocked, it is back on UDP after
// udp.retry_s. An agent with transport: grpc never sends a UDP packet.
TEST_F(Udp, BlockedUdpFallsBackToGrpcAndComesBack) {
  master_.start();
  UdpRelay relay(master_.udp_port());
  UdpRelay grpc_relay(master_.udp_port());
  agent_.start(kSimulatedAgent + "udp: {master: \"" + relay.address() + "\", retry_s: 2}\n");
  AgentProcess& grpc_agent = add_agent(master_.target(), "grpc-agent");
  grpc_agent.start(kSimulatedAgent + "transport: grpc\nudp: {master: \"" +
                             grpc_relay.address() + "\"}\n", "grpc-agent");
  SegmentSampler sampler({agent_.segment()}, 200us);

  // Settled first: blocked right after its first lock, an agent whose
  // envelope is still wide would (honestly) exceed its max error during the
  // three lost exchanges before the fallback.
  v1::AgentStatus st;
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return settled_on(s, "udp");
  }, 20s, &st)) << st.DebugString();
  std::cerr << "[udp] settled on UDP via the relay: bound " << static_cast<double>(st.bound_ns()) / 1e3
            << " us, envelope " << st.freq_envelope_hi_ppm() - st.freq_envelope_lo_ppm()
            << " ppm wide, delay " << st.last_delay_ns() << " ns\n";
  EXPECT_NE(st.link_description().find("UDP " + relay.address()), std::string::npos)
      << st.link_description();
  EXPECT_GT(relay.forwarded_to_master(), 0u);
  EXPECT_GT(relay.forwarded_to_agent(), 0u);
  const Tally before_block = sampler.total();
  const uint64_t changes0 = st.freq_changes(), alarms0 = st.alarms_raised();

  // Blocked: the exchanges time out; the agent falls back to gRPC.
  relay.block(true);
  const auto t_block = std::chrono::steady_clock::now();
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return synchronized_on(s, "grpc");
  }, 10s, &st)) << st.DebugString();
  const double fallback_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_block).count();
  EXPECT_GE(count(st.link_errors(), "timeout"), 1u) << drops_text(st);
  EXPECT_NE(st.link_description().find("UDP not in use"), std::string::npos)
      << st.link_description();
  EXPECT_EQ(st.timestamps(), "user space");
  // A few gRPC samples while UDP stays blocked: readers keep getting times.
  const uint64_t on_grpc = st.samples_accepted();
  ASSERT_TRUE(testing::status_until(agent_.target(), [&](const v1::AgentStatus& s) {
    return s.samples_accepted() >= on_grpc + 3;
  }, 10s, &st)) << st.DebugString();
  EXPECT_EQ(st.link(), "grpc");
  const Tally blocked = since(sampler.total(), before_block);
  EXPECT_GT(relay.dropped(), 0u);

  // Unblocked: UDP again once retry_s (2 s) has passed.
  relay.block(false);
  const auto t_unblock = std::chrono::steady_clock::now();
  const uint64_t forwarded = relay.forwarded_to_agent();
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return synchronized_on(s, "udp");
  }, 15s, &st)) << st.DebugString();
  const double back_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_unblock).count();
  EXPECT_GT(relay.forwarded_to_agent(), forwarded);
  EXPECT_EQ(st.timestamps(), "kernel software");
  const Tally all = sampler.total();
  const Tally after_sync = since(all, before_block);
  std::cerr << "[udp] fell back to gRPC " << fallback_s << " s after the block, back on UDP "
            << back_s << " s after unblocking (retry_s 2); while blocked: " << blocked.served
            << " served, " << blocked.refused << " refused; whole run: " << all.summary()
            << "; relay forwarded " << relay.forwarded_to_master() << " requests, "
            << relay.forwarded_to_agent() << " answers, dropped " << relay.dropped()
            << "; since the block: frequency changes detected " << st.freq_changes() - changes0
            << ", alarms raised " << st.alarms_raised() - alarms0 << "\n";
  EXPECT_GT(blocked.served, 1000u);
  EXPECT_EQ(all.outside, 0u) << all.summary();
  // Synchronized all along: the crystal is constant (35 ppm, no wander, no
  // steps), so what the switch may cost is bounded, and honest. On a loaded
  // host the first user-space exchanges after the fallback can be delayed by
  // the scheduler: the change detector may then see a frequency change that
  // is not there (seen in a CI-like run beside a compiler: 3 of them), and a
  // bound projected to the next poll may pass max_error for a moment (218
  // readings, 44 ms, in another). Neither may become an outage: at most 0.5 s
  // of refusals (2,500 readings at one per 200 us), no alarm, and, above,
  // not one reading outside its bound.
  EXPECT_LT(after_sync.refused, 2500u) << after_sync.summary();
  EXPECT_EQ(st.alarms_raised(), alarms0);

  // transport: grpc, with udp.master set all the same: never a UDP packet.
  const v1::AgentStatus g = status_of(grpc_agent);
  std::cerr << "[udp] transport grpc agent beside it: frequency changes detected "
            << g.freq_changes() << ", alarms raised " << g.alarms_raised() << ", bound "
            << static_cast<double>(g.bound_ns()) / 1e3 << " us\n";
  EXPECT_EQ(g.link(), "grpc");
  EXPECT_EQ(g.state(), v1::SYNC_STATE_SYNCHRONIZED);
  EXPECT_EQ(g.timestamps(), "user space");
  EXPECT_EQ(grpc_relay.forwarded_to_master() + grpc_relay.dropped(), 0u);
  EXPECT_TRUE(g.packets_dropped().empty()) << drops_text(g);
}

// Mutual TLS: UDP packets are sealed with keys from GetUdpSession. Packets
// injected at either end (forged, tampered, replayed, reflected, unsealed,
// with a garbage or tampered cookie) are dropped and counted by cause, never
// reach the estimator, and do not push the agent off UDP.
TEST_F(Udp, MutualTlsSealsPacketsAndDropsForgedAndReplayed) {
  std::mt19937_64 rng = testing::seeded_rng("udp injection");
  master_.start(metrics_yaml() + master_tls());
  UdpRelay relay(master_.udp_port());
  agent_.start(kSimulatedAgent + agent_tls() + "udp: {master: \"" + relay.address() + "\"}\n");
  SegmentSampler sampler({agent_.segment()}, 200us);

  v1::AgentStatus st;
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return synchronized_on(s, "udp");
  }, 20s, &st)) << st.DebugString();
  EXPECT_EQ(st.transport(), "mutual TLS");
  EXPECT_NE(st.link_description().find("authenticated (keys over the mutual-TLS channel)"),
            std::string::npos) << st.link_description();
  EXPECT_EQ(st.link_description().find("unauthenticated"), std::string::npos)
      << st.link_description();
  // Sealed on the wire, both ways: nothing of an unsealed length.
  ASSERT_TRUE(eventually([&] { return relay.answers().size() >= 8 && relay.requests().size() >= 4; },
                         10s));
  for (const Bytes& a : relay.answers()) {
    EXPECT_TRUE(a.size() == kSealedResponse || a.size() == kSealedFollowUp) << a.size();
    EXPECT_EQ(a[6], kAuth);
  }
  for (const Bytes& r : relay.requests()) EXPECT_EQ(r.size(), kSealedRequest);

  const v1::AgentStatus s0 = status_of(agent_);
  const Tally t0 = sampler.total();
  const uint64_t answers0 = relay.forwarded_to_agent();
  const std::vector<Bytes> answers = relay.answers();
  const std::vector<Bytes> requests = relay.requests();

  // (a) Forged answers to the agent, as if from the master.
  constexpr int kEach = 4;
  int to_agent_bad_tag = 0, to_agent_bad_magic = 0, to_agent_unauth = 0, to_agent_wrong_type = 0;
  for (int i = 0; i < kEach; ++i) {
    Bytes tampered = answers[answers.size() - 1 - static_cast<size_t>(i)];
    tampered[25] ^= 0x01;  // inside t1 (RESPONSE) or t2 (FOLLOW_UP)
    ASSERT_TRUE(relay.send_to_agent(tampered));
    ASSERT_TRUE(relay.send_to_agent(forged_sealed_response(rng)));
    to_agent_bad_tag += 2;
    Bytes noise(kSealedResponse);
    randomize(&noise, 0, noise.size(), rng);
    ASSERT_TRUE(relay.send_to_agent(noise));
    ++to_agent_bad_magic;
    ASSERT_TRUE(relay.send_to_agent(plain_response(rng())));
    ++to_agent_unauth;
    // The agent's own request reflected back to it.
    ASSERT_TRUE(relay.send_to_agent(requests[static_cast<size_t>(i)]));
    ++to_agent_wrong_type;
  }
  // (b) Genuine answers of earlier exchanges, replayed.
  int replays = 0;
  for (const Bytes& a : answers) {
    ASSERT_TRUE(relay.send_to_agent(a));
    ++replays;
  }
  // (c) To the master, as if from an agent.
  int to_master_unauth = 0, to_master_unknown_key = 0, to_master_cookie_bad_tag = 0,
      to_master_bad_tag = 0, to_master_replays = 0;
  for (int i = 0; i < kEach; ++i) {
    Bytes plain = header(kRequest, 0, kPlainRequest, rng());  // an agent without keys
    ASSERT_TRUE(relay.send_to_master(plain));
    ++to_master_unauth;
    ASSERT_TRUE(relay.send_to_master(garbage_cookie_request(rng)));
    Bytes other_cookie = requests[static_cast<size_t>(i)];
    randomize(&other_cookie, 32, 104, rng);  // a genuine request, its cookie replaced
    ASSERT_TRUE(relay.send_to_master(other_cookie));
    to_master_unknown_key += 2;
    Bytes cookie_tampered = requests[static_cast<size_t>(i)];
    cookie_tampered[32 + 4 + 12 + 3] ^= 0x80;  // inside the cookie's ciphertext
    ASSERT_TRUE(relay.send_to_master(cookie_tampered));
    ++to_master_cookie_bad_tag;
    Bytes seq_tampered = requests[static_cast<size_t>(i)];
    seq_tampered[20] ^= 0x01;  // the sequence: the cookie opens, the tag fails
    ASSERT_TRUE(relay.send_to_master(seq_tampered));
    ++to_master_bad_tag;
    // A genuine request replayed: the stateless master answers it, to the
    // sender's address (the replayer's, not the agent's).
    ASSERT_TRUE(relay.send_to_master(requests[static_cast<size_t>(i)]));
    ++to_master_replays;
  }

  // Every injection counted at the end that received it (bounded waits: the
  // agent reads its socket during its next exchange).
  ASSERT_TRUE(testing::status_until(agent_.target(), [&](const v1::AgentStatus& s) {
    const auto& d = s.packets_dropped();
    auto grew = [&](const std::string& k) { return count(d, k) - count(s0.packets_dropped(), k); };
    return grew("bad_tag") >= static_cast<uint64_t>(to_agent_bad_tag) &&
           grew("bad_magic") >= static_cast<uint64_t>(to_agent_bad_magic) &&
           grew("unauthenticated") >= static_cast<uint64_t>(to_agent_unauth) &&
           grew("wrong_type") >= static_cast<uint64_t>(to_agent_wrong_type) &&
           grew("wrong_sequence") + grew("duplicate") >= static_cast<uint64_t>(replays);
  }, 10s, &st)) << "before: " << drops_text(s0) << "\nnow: " << drops_text(st);
  std::string m;
  ASSERT_TRUE(eventually([&] {
    m = master_metrics();
    return metric(m, udp_requests("unauthenticated")) >= to_master_unauth &&
           metric(m, udp_requests("cookie_unknown_key")) >= to_master_unknown_key &&
           metric(m, udp_requests("cookie_bad_tag")) >= to_master_cookie_bad_tag &&
           metric(m, udp_requests("bad_tag")) >= to_master_bad_tag &&
           relay.answers_to_injected() >= 2u * static_cast<uint64_t>(to_master_replays);
  }, 10s, 20ms)) << m;

  // Let the agent run a few more genuine exchanges after the last injection,
  // with readers reading all along (at least a second of readings).
  const uint64_t accepted_mid = st.samples_accepted();
  ASSERT_TRUE(testing::status_until(agent_.target(), [&](const v1::AgentStatus& s) {
    return s.samples_accepted() >= accepted_mid + 3 && sampler.total().served >= t0.served + 5000;
  }, 10s, &st)) << st.DebugString();
  const Tally window = since(sampler.total(), t0);
  const uint64_t genuine_exchanges = (relay.forwarded_to_agent() - answers0) / 2;
  const uint64_t accepted = st.samples_accepted() - s0.samples_accepted();
  std::cerr << "[udp] injected to the agent: " << to_agent_bad_tag << " forged/tampered, "
            << to_agent_bad_magic << " noise, " << to_agent_unauth << " unsealed, "
            << to_agent_wrong_type << " reflected, " << replays << " replayed; agent counts: "
            << drops_text(st) << "\n[udp] injected to the master: " << to_master_unauth
            << " unsealed, " << to_master_unknown_key << " garbage cookie, "
            << to_master_cookie_bad_tag << " tampered cookie, " << to_master_bad_tag
            << " tampered request, " << to_master_replays << " replayed (answered to the "
            << "replayer: " << relay.answers_to_injected() << " packets); master counts: "
            << "unauthenticated " << metric(m, udp_requests("unauthenticated"))
            << ", cookie_unknown_key " << metric(m, udp_requests("cookie_unknown_key"))
            << ", cookie_bad_tag " << metric(m, udp_requests("cookie_bad_tag")) << ", bad_tag "
            << metric(m, udp_requests("bad_tag")) << ", answered "
            << metric(m, udp_requests("answered")) << "\n[udp] meanwhile: " << accepted
            << " samples accepted from " << genuine_exchanges << " genuine exchanges; readings "
            << window.summary() << "\n";
  EXPECT_EQ(st.link(), "udp");
  EXPECT_EQ(st.state(), v1::SYNC_STATE_SYNCHRONIZED);
  // Injections did not make an exchange fail, nor push the agent to gRPC.
  EXPECT_EQ(count(st.link_errors(), "unauthenticated"), 0u) << drops_text(st);
  EXPECT_EQ(count(st.link_errors(), "bad_answer"), count(s0.link_errors(), "bad_answer"));
  EXPECT_GT(accepted, 0u);
  EXPECT_LE(accepted, genuine_exchanges);
  EXPECT_GE(window.served, 5000u);
  EXPECT_EQ(window.refused, 0u) << window.summary();
  EXPECT_EQ(sampler.total().outside, 0u) << sampler.total().summary();
}

// A sealing master (mutual TLS) and agents that cannot get its keys: one with
// TLS but no client certificate (refused at the handshake: no discovery, no
// keys), and plaintext ones that learn UDP from a plain decoy master but send
// their unsealed requests to the sealing master (udp.master). None gets UDP
// time: the master drops every unsealed request, answers none; transport udp
// never synchronizes and says why; transport auto stays on gRPC (the decoy's).
TEST_F(Udp, AnAgentWithoutTlsGetsNoTimeFromASealingMaster) {
  master_.start(metrics_yaml() + master_tls());
  // Its UDP port bound before any agent sends there (it binds UDP before it
  // serves metrics): a port still closed would be "unreachable", not silence.
  ASSERT_TRUE(eventually([&] { return !master_metrics().empty(); }, 10s, 10ms));
  MasterProcess& decoy = add_master("decoy");
  decoy.start("", "decoy-master");
  const std::string sealed_udp = testing::loopback(master_.udp_port());
  const std::string poll = "poll: {min_s: 0.05, max_s: 0.5, rpc_timeout_s: 0.3}\n";

  // agent_: TLS without a client certificate, transport udp.
  agent_.start(poll + "transport: udp\ntls: {ca_file: " + pem("ca.pem") +
               ", server_name: timesync-master.test}\n");
  AgentProcess& plain_udp = add_agent(decoy.target(), "plain-udp");
  plain_udp.start(poll + "transport: udp\nudp: {master: \"" + sealed_udp + "\"}\n",
                        "plain-udp");
  AgentProcess& plain_auto = add_agent(decoy.target(), "plain-auto");
  plain_auto.start(poll + "udp: {master: \"" + sealed_udp + "\"}\n", "plain-auto");

  // Long enough for each to have tried: the handshake refused three times,
  // three UDP exchanges lost and the fallback taken (plain-udp, plain-auto).
  v1::AgentStatus no_cert, p_udp, p_auto;
  ASSERT_TRUE(testing::status_until(agent_.target(), [](const v1::AgentStatus& s) {
    return s.rpc_failures() >= 3;
  }, 15s, &no_cert)) << no_cert.DebugString();
  // (Not every lost exchange is counted as a timeout: one inside a burst that
  // already has a sample ends the burst, and the third goes on over gRPC.)
  ASSERT_TRUE(testing::status_until(plain_udp.target(), [](const v1::AgentStatus& s) {
    return count(s.link_errors(), "timeout") >= 1 &&
           s.link_description().find("waiting for UDP: timeout") != std::string::npos;
  }, 15s, &p_udp)) << p_udp.DebugString();
  ASSERT_TRUE(testing::status_until(plain_auto.target(), [](const v1::AgentStatus& s) {
    return synchronized_on(s, "grpc") && count(s.link_errors(), "timeout") >= 1 &&
           s.link_description().find("UDP not in use: timeout") != std::string::npos;
  }, 15s, &p_auto)) << p_auto.DebugString();
  const std::string m = master_metrics();
  std::cerr << "[udp] sealing master: unauthenticated requests dropped "
            << metric(m, udp_requests("unauthenticated")) << ", answered "
            << metric(m, udp_requests("answered")) << "\n[udp] no client cert: "
            << no_cert.last_error() << "\n[udp] plaintext, transport udp: " << p_udp.last_error()
            << " | " << p_udp.link_description() << "\n[udp] plaintext, transport auto: link "
            << p_auto.link() << " | " << p_auto.link_description() << "\n";

  EXPECT_NE(no_cert.state(), v1::SYNC_STATE_SYNCHRONIZED);
  EXPECT_EQ(no_cert.samples_accepted(), 0u);
  EXPECT_NE(no_cert.link(), "udp");
  EXPECT_FALSE(no_cert.last_error().empty());

  EXPECT_NE(p_udp.state(), v1::SYNC_STATE_SYNCHRONIZED);
  EXPECT_EQ(p_udp.samples_accepted(), 0u);
  EXPECT_NE(p_udp.link(), "udp");
  EXPECT_NE(p_udp.last_error().find("waiting for UDP"), std::string::npos) << p_udp.last_error();
  EXPECT_NE(p_udp.link_description().find("waiting for UDP"), std::string::npos)
      << p_udp.link_description();
  std::optional<Clock> clock = testing::open_clock(plain_udp.segment());
  ASSERT_TRUE(clock.has_value());
  EXPECT_FALSE(clock->get_timestamp_with_error().ok());

  EXPECT_EQ(p_auto.link(), "grpc");
  EXPECT_EQ(p_auto.timestamps(), "user space");
  EXPECT_NE(p_auto.link_description().find("UDP not in use"), std::string::npos)
      << p_auto.link_description();

  // The sealing master answered no UDP request, and counted the unsealed ones.
  EXPECT_EQ(metric(m, udp_requests("answered")), 0);
  EXPECT_GE(metric(m, udp_requests("unauthenticated")), 6);
}

}  // namespace
}  // namespace timesync
