#include "link_stack.hpp"

#include "timesync/daemon/tls.hpp"

namespace timesync::agent {

LinkStack::LinkStack(const config::ClientConfig& cfg, const std::string& target,
                     const std::string& id, std::shared_ptr<grpc::ChannelCredentials> credentials,
                     const TimeSource& local)
    : target_(target), grpc_only_(cfg.transport == config::Transport::kGrpc) {
  grpc::ChannelArguments channel_args;
  daemon::add_tls_channel_args(cfg.tls, &channel_args);
  grpc_ = std::make_unique<GrpcLink>(
      GrpcLinkOptions{target, id, cfg.poll.rpc_timeout_s, daemon::describe(cfg.tls)},
      make_master_channel(target, std::move(credentials), channel_args), local);
  // UDP (kernel timestamps) with gRPC for discovery and keys, and as the
  // fallback in auto. udp.master names one master's UDP address, so it only
  // applies to the first (or only) one.
  udp_ = std::make_unique<UdpLink>(
      UdpLinkOptions{target, target == cfg.master ? cfg.udp.master : std::string(),
                     cfg.udp.timestamping, cfg.udp.interface, cfg.poll.rpc_timeout_s,
                     cfg.tls.enabled()},
      local, *grpc_);
  auto_ = std::make_unique<AutoLink>(
      *grpc_, *udp_, local,
      AutoLinkOptions{cfg.transport == config::Transport::kUdp, cfg.udp.retry_s, 3});
}

}  // namespace timesync::agent
