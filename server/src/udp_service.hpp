// UdpService: the master's UDP exchange (docs/udp-transport.md) on one
// thread. For each REQUEST: its kernel receive stamp is t1; the RESPONSE
// goes out, its kernel transmit stamp (read back from the socket's error
// queue) is t2, and the FOLLOW_UP carries t2 and the exchange's master error
// (the declared error plus how well t1 and t2 are known after converting
// them to the timeline). Nothing is kept per agent: t1 lives while one
// request is answered.
//
// Authentication: with a CookieKeyRing (TLS on), only sealed requests are
// answered; new_session() hands an agent its key and cookies (called from
// GetUdpSession, over the TLS channel). Without one, packets are plain.
//
// Conversion: a stamp is converted against a mark read before the socket was
// last found empty, so every packet read after it was stamped after the mark
// (netstamp/stamp_converter.hpp); a clock step in between drops the exchange.
//
// Drops are counted by cause (malformed, bad_tag, cookie_expired, no_stamp,
// stepped, ...), never answered. Thread safety: start()/stop() from the
// owner; new_session() and the counters from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "master_timeline.hpp"
#include "time_service_identity.hpp"
#include "timesync/config/config.hpp"
#include "timesync/timebase/time_source.hpp"

namespace timesync::wire {
class CookieKeyRing;
}

namespace timesync::master {

class MasterMetrics;

struct UdpSessionGrant {
  std::string key;                  // 32 bytes
  std::vector<std::string> cookies; // 72 bytes each
  double lifetime_s = 0;
};

class UdpService {
 public:
  // authenticated: seal with keys handed out over gRPC (TLS on).
  UdpService(const MasterTimeline& timeline, const Identity& who, const config::MasterUdp& cfg,
             bool authenticated, MasterMetrics* metrics);
  ~UdpService();

  // Binds and starts the thread. False with *why (port taken, no such
  // interface, no hardware stamps on it, ...).
  bool start(std::string* why);
  void stop();

  uint16_t port() const { return port_; }
  bool authenticated() const { return authenticated_; }
  // "UDP 0.0.0.0:7452, kernel software timestamps, sealed" and the like.
  std::string describe() const;
  // A session key and `n` cookies for it. False when unauthenticated.
  bool new_session(int n, UdpSessionGrant* out);

  uint64_t served() const { return served_.load(std::memory_order_relaxed); }
  std::map<std::string, uint64_t> drops() const;

 private:
  void run();
  void drop(const char* why);

  const MasterTimeline& timeline_;
  Identity who_;
  config::MasterUdp cfg_;
  bool authenticated_;
  MasterMetrics* metrics_;
  std::unique_ptr<wire::CookieKeyRing> ring_;
  mutable std::mutex ring_mu_;  // rotation vs new_session vs opening cookies
  int64_t next_rotation_raw_ = 0;
  uint16_t port_ = 0;
  std::string mode_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<uint64_t> served_{0};
  mutable std::mutex drops_mu_;
  std::map<std::string, uint64_t> drops_;
  struct Socket;
  std::unique_ptr<Socket> sock_;
};

}  // namespace timesync::master
