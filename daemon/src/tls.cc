#include "timesync/daemon/tls.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace timesync::daemon {
namespace {

bool read_file(const std::string& path, std::string* out, std::string* why) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  if (in) ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    if (why != nullptr) {
      *why = "cannot read " + path + ": " + (errno != 0 ? std::strerror(errno) : "empty file");
    }
    return false;
  }
  *out = ss.str();
  return true;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> server_credentials(const config::MasterTls& tls,
                                                            std::string* why) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  if (!read_file(tls.cert_file, &pair.cert_chain, why) ||
      !read_file(tls.key_file, &pair.private_key, why)) {
    return nullptr;
  }
  const bool mutual = !tls.client_ca_file.empty();
  grpc::SslServerCredentialsOptions opts(
      mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (mutual && !read_file(tls.client_ca_file, &opts.pem_root_certs, why)) return nullptr;
  opts.pem_key_cert_pairs.push_back(std::move(pair));
  return grpc::SslServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> channel_credentials(const config::ClientTls& tls,
                                                              std::string* why) {
  if (!tls.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions opts;
  if (!read_file(tls.ca_file, &opts.pem_root_certs, why)) return nullptr;
  if (!tls.cert_file.empty() && (!read_file(tls.cert_file, &opts.pem_cert_chain, why) ||
                                 !read_file(tls.key_file, &opts.pem_private_key, why))) {
    return nullptr;
  }
  return grpc::SslCredentials(opts);
}

void add_tls_channel_args(const config::ClientTls& tls, grpc::ChannelArguments* args) {
  if (tls.enabled() && !tls.server_name.empty()) {
    args->SetSslTargetNameOverride(tls.server_name);
  }
}

std::string describe(const config::MasterTls& tls) {
  if (!tls.enabled()) return "plaintext";
  return tls.client_ca_file.empty() ? "TLS" : "mutual TLS";
}

std::string describe(const config::ClientTls& tls) {
  if (!tls.enabled()) return "plaintext";
  return tls.cert_file.empty() ? "TLS" : "mutual TLS";
}

}  // namespace timesync::daemon
