// UdpLink: the exchange over UDP with kernel timestamps
// (docs/udp-transport.md). t0 is this socket's own transmit stamp of the
// REQUEST, t3 the receive stamp of the RESPONSE, both converted from the
// kernel's CLOCK_REALTIME to CLOCK_MONOTONIC_RAW (then to the local clock) by
// paired reads, whose uncertainty enters the sample; t1 and t2 are the
// master's kernel stamps, its error for them in the FOLLOW_UP.
//
// Sealed when the gRPC channel is TLS: the session key and cookies come from
// GetUdpSession over that channel (renewed at half their lifetime, and at
// once when sealed requests go unanswered, as after a master restart). A
// master offering unauthenticated UDP to an agent whose channel is TLS is
// refused (attach() fails): authenticated time was asked for.
//
// Answers are matched to the one outstanding request by a random 64-bit
// sequence; forged, tampered, replayed, late and malformed packets are
// dropped and counted (packet_drops()) and never reach the estimator. A
// clock step between a stamp and its conversion drops the exchange
// (kStepped).
//
// Thread safety: one caller (the agent's loop).
#pragma once

#include <map>
#include <memory>
#include <random>
#include <string>

#include "grpc_link.hpp"
#include "master_link.hpp"
#include "timesync/config/config.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

struct UdpLinkOptions {
  std::string grpc_target;   // host:port of the gRPC master: its host is the UDP host by default
  std::string udp_master;    // host:port; "" = grpc host and the port the master offers
  config::Timestamping timestamping = config::Timestamping::kAuto;
  std::string interface;     // whose hardware stamps ("" = the route's)
  double timeout_s = 0.5;    // for the whole exchange, follow-up included
  bool tls = false;          // the gRPC channel is TLS: sealed packets required
};

class UdpLink final : public DiscoveredLink {
 public:
  // `keys` gives sessions (GetUdpSession) over the gRPC channel.
  UdpLink(UdpLinkOptions o, const TimeSource& local, GrpcLink& keys);
  ~UdpLink() override;

  LinkResult exchange() override;
  const char* transport() const override { return "udp"; }
  std::string describe() const override;
  std::map<std::string, uint64_t> packet_drops() const override { return drops_; }

  bool attach(const MasterInfo& m, std::string* why) override;
  void detach() override;
  bool attached() const override { return state_ != nullptr; }

 private:
  struct State;
  bool renew_session(std::string* why);
  void drop(const std::string& why) { ++drops_[why]; }

  UdpLinkOptions o_;
  const TimeSource& local_;
  GrpcLink& keys_;
  std::unique_ptr<State> state_;
  std::map<std::string, uint64_t> drops_;
  std::mt19937_64 rng_;
  std::string description_ = "UDP (not set up)";
  int unanswered_ = 0;
};

}  // namespace timesync::agent
