#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ctl.hpp"
#include "timesync/daemon/tls.hpp"
#include "timesync/v1/timesync.grpc.pb.h"

namespace timesync::ctl {

std::shared_ptr<grpc::Channel> channel(const Args& a, const std::string& target) {
  std::string why;
  std::shared_ptr<grpc::ChannelCredentials> creds = daemon::channel_credentials(a.tls, &why);
  if (creds == nullptr) {
    std::fprintf(stderr, "timesyncctl: %s\n", why.c_str());
    std::exit(kExitRpc);
  }
  grpc::ChannelArguments args;
  daemon::add_tls_channel_args(a.tls, &args);
  return grpc::CreateCustomChannel(target, creds, args);
}

void set_deadline(grpc::ClientContext* ctx, double s) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(s * 1000)));
}

int fail(const std::string& target, const grpc::Status& st) {
  std::fprintf(stderr, "timesyncctl: %s: %s (code %d)\n", target.c_str(),
               st.error_message().c_str(), static_cast<int>(st.error_code()));
  return kExitRpc;
}

bool agent_status(const Args& a, const std::string& target, v1::AgentStatus* out,
                  grpc::Status* st) {
  auto stub = v1::AgentService::NewStub(channel(a, target));
  grpc::ClientContext ctx;
  set_deadline(&ctx);
  *st = stub->GetAgentStatus(&ctx, v1::GetAgentStatusRequest{}, out);
  return st->ok();
}

const char* state_name(v1::SyncState s) {
  switch (s) {
    case v1::SYNC_STATE_SYNCHRONIZED: return "synchronized";
    case v1::SYNC_STATE_HOLDOVER: return "holdover";
    case v1::SYNC_STATE_UNSYNCHRONIZED: return "unsynchronized";
    default: return "unknown";
  }
}

const char* reason_name(v1::AlarmReason r) {
  switch (r) {
    case v1::ALARM_REASON_BOUND_EXCEEDED: return "bound_exceeded";
    case v1::ALARM_REASON_MASTER_UNREACHABLE: return "master_unreachable";
    case v1::ALARM_REASON_SPLIT_BRAIN: return "split_brain";
    default: return "";
  }
}

// JSON has no NaN; a statistic without data is null.
std::string jnum(double v) {
  if (!std::isfinite(v)) return "null";
  char b[48];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

std::string exact_seconds(int64_t ns) {
  // The magnitude as unsigned, so INT64_MIN needs no special case.
  const uint64_t mag = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  char b[32];
  std::snprintf(b, sizeof b, "%s%" PRIu64 ".%09" PRIu64, ns < 0 ? "-" : "", mag / 1'000'000'000,
                mag % 1'000'000'000);
  return b;
}

std::string jstr(const std::string& v) {
  std::string o = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o + "\"";
}

JsonObject& JsonObject::raw(const char* k, const std::string& json) {
  if (!body_.empty()) body_ += ",";
  body_ += jstr(k) + ":" + json;
  return *this;
}

}  // namespace timesync::ctl
