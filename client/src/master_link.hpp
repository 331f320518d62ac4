// MasterLink: the transport seam. One exchange with the master in, its four
// timestamps out, each with where it was taken; everything about sockets,
// RPCs, keys and kernel timestamps stays behind it (seed 001: "an abstraction
// layer handles media-specific details ... by simply swapping the
// communication backend").
//
// Implementations: GrpcLink (TimeService.GetTime, user-space timestamps),
// UdpLink (kernel timestamps, docs/udp-transport.md), AutoLink (UDP when the
// master offers it and it answers, gRPC otherwise), and SimLink (a simulated
// master and path in simulated time, for tests).
//
// Times: t0 and t3 on the agent's local clock (its TimeSource), t1 and t2 on
// the master's timeline, ns. Thread safety: one caller (the agent's loop).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "timesync/estimator/sample.hpp"

namespace timesync::agent {

enum class StampSource : uint8_t { kUser, kKernel, kHardware };
const char* to_string(StampSource s);

enum class MasterTimebase : uint8_t { kUnknown, kMonotonic, kRealtime };
const char* to_string(MasterTimebase t);

// UTC beside the master's timeline, from its external reference (issue 18):
// utc = timeline + offset_ns, within error_ns (see v1::Utc).
struct MasterUtc {
  int64_t offset_ns = 0;
  uint64_t error_ns = 0;
  bool synchronized = false;     // the master's reference answered synchronized
  int tai_minus_utc_s = 0;       // 0: unknown
  int64_t next_leap_utc_s = 0;   // 0: none announced
  int next_tai_minus_utc_s = 0;
  bool leap_list_expired = false;
  int64_t as_of_master_ns = 0;   // the answer's master_send_ns: when offset_ns held
  double rate_ppb = 0;           // how fast offset_ns moves, ns per s of the timeline
  uint64_t rate_error_ppb = 0;   // how far the true rate may be from it; 0: unknown
  bool operator==(const MasterUtc&) const = default;
};

// Who answered, as the answer says.
struct MasterInfo {
  std::string id;              // may be empty from a transport that does not carry it (UDP)
  uint64_t instance = 0;       // changes when the master process restarts
  uint64_t epoch = 0;          // names the timeline
  MasterTimebase timebase = MasterTimebase::kUnknown;
  uint64_t error_ns = 0;       // the master's own error against its reference
  // What the master offers beyond gRPC (gRPC answers carry it).
  uint16_t udp_port = 0;       // 0: no UDP service
  bool udp_authenticated = false;
  std::string role;            // "primary" or "standby" (gRPC answers say it)
  // UTC, when the master has a synchronized-once reference (gRPC answers carry it).
  std::optional<MasterUtc> utc;
};

struct LinkExchange {
  estimator::Exchange x;       // calibration not applied (the agent adds it)
  StampSource local_stamps = StampSource::kUser;   // t0, t3
  StampSource master_stamps = StampSource::kUser;  // t1, t2
  MasterInfo master;
  int64_t delay_ns() const { return (x.t3.ns - x.t0.ns) - (x.t2_ns - x.t1_ns); }
};

// Why an exchange gave no sample. Closed list: the agent's status, logs and
// metrics name it.
enum class LinkError : uint8_t {
  kNone,
  kUnreachable,     // no connection / no route / port closed
  kTimeout,         // no (complete) answer in time
  kRefused,         // the master answered with an error status
  kNotAMaster,      // something answered that does not serve TimeService
  kBadAnswer,       // malformed, or does not echo our request
  kUnauthenticated, // a forged, tampered or unauthenticated packet, or no valid session
  kStepped,         // a clock stepped during the exchange: the sample would be wrong
};
const char* to_string(LinkError e);

struct LinkResult {
  LinkError error = LinkError::kNone;
  std::string message;  // for people: what happened, with the transport's own words
  LinkExchange ex;
  bool ok() const { return error == LinkError::kNone; }
};

// What the agent knows about one of its masters (FailoverLink), for status
// and metrics.
struct MasterView {
  std::string target;
  bool followed = false;
  bool answering = false;        // its last exchange (or probe) answered
  int64_t last_answer_local = -1;
  std::string last_error;
  MasterInfo info;               // as its last answer said
  bool same_timeline = false;    // as the followed timeline
  std::string transport;
};

class MasterLink {
 public:
  virtual ~MasterLink() = default;
  // One exchange; blocks up to the link's timeout.
  virtual LinkResult exchange() = 0;
  // "grpc" or "udp": which transport the last exchange used.
  virtual const char* transport() const = 0;
  // For status and logs: the transport, the address and how timestamps and
  // packets are protected, e.g. "UDP 10.0.0.1:7452, kernel software
  // timestamps, authenticated (mutual TLS keys)".
  virtual std::string describe() const = 0;
  // Packets dropped on the way in, by why (forged, replayed, malformed, ...):
  // none of them reached the estimator.
  virtual std::map<std::string, uint64_t> packet_drops() const { return {}; }
  // Names the network path the last exchange took (transport, master): when
  // it changes, round trips are no longer comparable (the agent resets its
  // delay filter).
  virtual int path() const { return 0; }
  // Every master this link may use (one unless it is a FailoverLink), and a
  // split brain if two of them answer on different timelines ("" if none).
  virtual std::vector<MasterView> masters() const { return {}; }
  virtual std::string split_brain() const { return ""; }
};

// A link that learns where and how to reach the master from a gRPC answer
// (the UDP port it offers, whether its packets are sealed).
class DiscoveredLink : public MasterLink {
 public:
  // Sets the link up for the master that answered with `m`. False, with *why,
  // when it cannot (no port offered, no session keys, a socket error).
  virtual bool attach(const MasterInfo& m, std::string* why) = 0;
  // Drops the socket and keys (the master went away or changed).
  virtual void detach() = 0;
  virtual bool attached() const = 0;
};

}  // namespace timesync::agent
