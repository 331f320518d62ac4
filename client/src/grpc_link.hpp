// GrpcLink: the exchange as a TimeService.GetTime RPC over one persistent
// channel (plaintext, TLS or mutual TLS). t0 and t3 are taken in user space
// right around the stub call, t1 and t2 by the master's handler, so the
// scheduling of both ends and gRPC's own work land in the measured delay
// (bounded by it, never hidden).
//
// It also owns the channel other gRPC conversations with the master use: the
// beacon stream and the UDP session keys.
//
// Thread safety: exchange() and session() from the agent's loop; stub() may
// be used concurrently (gRPC stubs are thread-safe).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "master_link.hpp"
#include "timesync/timebase/time_source.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::agent {

struct GrpcLinkOptions {
  std::string target;           // host:port of the master
  std::string client_id;
  double rpc_timeout_s = 0.5;
  std::string tls_description;  // "plaintext", "TLS", "mutual TLS"
};

// A UDP session: the key and cookies GetUdpSession handed out.
struct UdpSession {
  std::string key;                  // 32 bytes
  std::vector<std::string> cookies;
  double lifetime_s = 0;
  uint32_t udp_port = 0;
};

class GrpcLink final : public MasterLink {
 public:
  GrpcLink(GrpcLinkOptions o, std::shared_ptr<grpc::Channel> channel, const TimeSource& local);

  LinkResult exchange() override;
  const char* transport() const override { return "grpc"; }
  std::string describe() const override;

  // Asks the master for UDP keys over this (authenticated) channel. False
  // with *why when it has none or refuses.
  bool session(UdpSession* out, std::string* why);
  v1::TimeService::Stub& stub() { return *stub_; }
  const std::string& target() const { return o_.target; }

 private:
  GrpcLinkOptions o_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TimeService::Stub> stub_;
  const TimeSource& local_;
  uint64_t sequence_ = 0;
};

// The channel the agent uses to reach `target` with `creds`: fast reconnects
// (a master that comes back is found within a second), no retries (a retried
// exchange would carry a stale t0).
std::shared_ptr<grpc::Channel> make_master_channel(const std::string& target,
                                                   std::shared_ptr<grpc::ChannelCredentials> creds,
                                                   const grpc::ChannelArguments& base);

}  // namespace timesync::agent
