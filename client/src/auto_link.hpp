// AutoLink: transport: auto (and udp). Exchanges over UDP while the master
// offers it and it answers; over gRPC while it does not; back to UDP once it
// answers again.
//
//   - Starts on gRPC: its answers say whether the master offers UDP (and
//     sealed or not) and give the master's name.
//   - Offered: attaches the UDP link (socket, session keys over gRPC) and
//     uses it from the next exchange on.
//   - Three UDP exchanges failing in a row, or one refused as
//     unauthenticated: falls back to gRPC at once (the round still gets its
//     sample) and tries UDP again after retry_s.
// With udp_only (transport: udp), gRPC answers serve discovery only: they
// are never returned as samples, so every sample has kernel timestamps; the
// exchange fails (unreachable, "waiting for UDP") until UDP answers.
//
// The switch is a change of path: the agent resets its delay filter (the
// transports' round trips differ tenfold); the line and bound carry on.
//
// UDP answers carry no UTC (a fixed packet): the UTC the last gRPC answer gave
// rides on every UDP result, and while on UDP one gRPC call every
// info_refresh_s (not a sample) keeps it and the master's name fresh, so
// readers' UTC error does not grow with the age of one old answer.
//
// Thread safety: one caller (the agent's loop).
#pragma once

#include <string>

#include "master_link.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::agent {

struct AutoLinkOptions {
  bool udp_only = false;
  double retry_s = 30;        // after a fallback, UDP is tried again this long later
  int failures_to_fall_back = 3;
  double info_refresh_s = 10;  // on UDP: a gRPC call this often for UTC and the master's name
};

class AutoLink final : public MasterLink {
 public:
  AutoLink(MasterLink& grpc, DiscoveredLink& udp, const TimeSource& local, AutoLinkOptions o);

  LinkResult exchange() override;
  const char* transport() const override { return last_; }
  std::string describe() const override;
  std::map<std::string, uint64_t> packet_drops() const override { return udp_.packet_drops(); }
  int path() const override { return last_[0] == 'u' ? 1 : 0; }
  bool on_udp() const { return on_udp_; }
  uint64_t fallbacks() const { return fallbacks_; }

 private:
  LinkResult grpc_exchange();
  void refresh_info();
  void fall_back(const std::string& why);

  MasterLink& grpc_;
  DiscoveredLink& udp_;
  const TimeSource& local_;
  AutoLinkOptions o_;
  bool on_udp_ = false;
  int udp_failures_ = 0;
  int64_t retry_at_local_ = 0;
  int64_t info_at_local_ = 0;  // when gRPC last answered (or was last asked, on UDP)
  uint64_t fallbacks_ = 0;
  const char* last_ = "grpc";
  std::string why_not_udp_ = "the master has not answered yet";
  MasterInfo master_;  // as gRPC last told: UDP answers carry no name or offer
};

}  // namespace timesync::agent
