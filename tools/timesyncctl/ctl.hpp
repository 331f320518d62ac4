// timesyncctl internals: the parsed command line, gRPC channels (plain or TLS)
// and the small text/JSON helpers the commands share.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "timesync/config/config.hpp"
#include "timesync/v1/timesync.pb.h"

namespace timesync::ctl {

// Exit codes (documented in main.cc's usage).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpc = 1;         // RPC failed, segment unreadable, file error
inline constexpr int kExitNotServing = 2;  // health: not SERVING
inline constexpr int kExitOutOfSync = 3;   // now: the clock refuses timestamps
inline constexpr int kExitUsage = 64;

struct Args {
  std::string cmd;
  std::vector<std::string> targets;
  std::string service;
  std::string segment;
  bool json = false;
  int count = 0;
  double timeout_s = 0;
  double duration_s = 0;
  int interval_ms = 1000;
  bool interval_set = false;  // --interval-ms given
  double max_error_us = 0;  // waitsync --max-error (0: the agent's own limit)
  config::ClientTls tls;  // --ca/--cert/--key/--server-name
};

std::shared_ptr<grpc::Channel> channel(const Args& a, const std::string& target);
void set_deadline(grpc::ClientContext* ctx, double s = 2.0);
// "timesyncctl: TARGET: message (code N)" on stderr; returns kExitRpc.
int fail(const std::string& target, const grpc::Status& st);

// GetAgentStatus of the agent at `target`.
bool agent_status(const Args& a, const std::string& target, v1::AgentStatus* out,
                  grpc::Status* st);

const char* state_name(v1::SyncState s);
const char* reason_name(v1::AlarmReason r);  // "bound_exceeded", ... ("" for none)

// JSON text: numbers (null when not finite), escaped strings.
std::string jnum(double v);
// ns as exact decimal seconds, "-1.000000005" (9 decimals, every digit kept:
// a double has 16 digits, a realtime timestamp needs 19, so "%.9g" of it was
// seconds off). Valid as a JSON number and as text.
std::string exact_seconds(int64_t ns);
std::string jstr(const std::string& v);
// An object built key by key, in insertion order.
class JsonObject {
 public:
  JsonObject& num(const char* k, double v) { return raw(k, jnum(v)); }
  JsonObject& integer(const char* k, int64_t v) { return raw(k, std::to_string(v)); }
  JsonObject& uinteger(const char* k, uint64_t v) { return raw(k, std::to_string(v)); }
  JsonObject& str(const char* k, const std::string& v) { return raw(k, jstr(v)); }
  JsonObject& boolean(const char* k, bool v) { return raw(k, v ? "true" : "false"); }
  JsonObject& raw(const char* k, const std::string& json);
  std::string text() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

int cmd_master(const Args& a);
int cmd_status(const Args& a);
int cmd_now(const Args& a);
int cmd_watch(const Args& a);
int cmd_health(const Args& a);
int cmd_alarms(const Args& a);
int cmd_waitsync(const Args& a);

}  // namespace timesync::ctl
