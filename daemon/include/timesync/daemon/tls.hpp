// gRPC credentials from the tls sections of the configuration.
//
// Master: cert + key give TLS; a client CA as well makes gRPC require and
// verify a client certificate during the handshake, so an unknown client never
// reaches a handler. Agent (and timesyncctl): the CA is the only root the
// master's certificate is checked against (not the system store: a fleet's
// master has a private CA); a client cert + key are presented when set.
//
// Thread safety: plain functions, reentrant.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "timesync/config/config.hpp"

namespace timesync::daemon {

// Insecure credentials when TLS is off. nullptr and *why naming the file when
// one cannot be read.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const config::MasterTls& tls,
                                                            std::string* why);
std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const config::ClientTls& tls,
                                                              std::string* why);

// Adds the server-name override to `args` when tls.server_name is set.
void add_tls_channel_args(const config::ClientTls& tls, grpc::ChannelArguments* args);

// "TLS", "mutual TLS" or "plaintext", for logs and status.
std::string describe(const config::MasterTls& tls);
std::string describe(const config::ClientTls& tls);

}  // namespace timesync::daemon
