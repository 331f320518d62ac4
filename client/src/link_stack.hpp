// LinkStack: everything the agent needs to exchange with one master, built
// from its configuration: the gRPC channel and link, the UDP link and the
// AutoLink between them (transport: auto and udp), or gRPC alone (grpc).
// timesync-agent builds one per configured master (behind a FailoverLink when
// there are several); a standby master builds one for the master it follows.
//
// Thread safety: as MasterLink (one caller).
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "auto_link.hpp"
#include "grpc_link.hpp"
#include "master_link.hpp"
#include "timesync/config/config.hpp"
#include "udp_link.hpp"

namespace timesync::agent {

class LinkStack {
 public:
  // `credentials` from daemon::channel_credentials(cfg.tls); `local` must
  // outlive the stack. `target` is the master (cfg.master only decides
  // whether cfg.udp.master applies: it names the first master's UDP address).
  LinkStack(const config::ClientConfig& cfg, const std::string& target, const std::string& id,
            std::shared_ptr<grpc::ChannelCredentials> credentials, const TimeSource& local);

  MasterLink& link() {
    return grpc_only_ ? static_cast<MasterLink&>(*grpc_) : static_cast<MasterLink&>(*auto_);
  }
  GrpcLink& grpc() { return *grpc_; }
  const std::string& target() const { return target_; }

 private:
  std::string target_;
  bool grpc_only_;
  std::unique_ptr<GrpcLink> grpc_;
  std::unique_ptr<UdpLink> udp_;
  std::unique_ptr<AutoLink> auto_;
};

}  // namespace timesync::agent
