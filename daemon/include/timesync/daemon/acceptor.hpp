// The TCP listener of the daemons' gRPC servers, in place of gRPC's own.
//
// Why not gRPC's: its acceptor in 1.51 (src/core/lib/iomgr/tcp_server_posix.cc,
// on_read) treats every accept4() error but EINTR and EAGAIN as the end of that
// listening socket. On EMFILE it logs "Failed accept4: Too many open files" and
// never polls the socket again, so a daemon that ran out of file descriptors
// once (1,100 idle connections at a limit of 1024) accepts nothing, ever, even
// after they closed, while it keeps running and feeding its watchdog. 1.51 has
// no limit on incoming connections either.
//
// This one:
//  - retries after 100 ms when accept4() fails for want of descriptors or
//    memory (EMFILE, ENFILE, ENOBUFS, ENOMEM), and skips every other error;
//  - bounds the connections by descriptors: one numbered at or above the cap
//    (the soft RLIMIT_NOFILE minus a reserve of 1/16, 32 to 256) is closed as
//    soon as it is accepted. The kernel hands out the lowest free number, so
//    descriptor n means n are open: connections never take the reserve the
//    daemon needs for itself (UDP, metrics, its client channel, this probe);
//  - hands every other connection to gRPC (ExternalConnectionAcceptor, which
//    runs gRPC's usual handshake with the server's credentials), with
//    TCP_NODELAY set;
//  - probes itself every second: a connection to its own listening address
//    (the loopback one for a wildcard), recognised by its source address when
//    accepted, then closed. accepting() turns false when no probe got through
//    for 3 s (no descriptors left, the loop stuck), and the caller's callback
//    hears each change; the daemons then withhold the watchdog keep-alive and
//    report NOT_SERVING on health. The probe is exempt from the cap.
//    A probe not accepted within 3 s is usually queued behind EMFILE in the
//    backlog: its socket stays open (so its source address stays its own and
//    it is still recognised when accepted late, never handed to gRPC) and a
//    new one is dialled next to it; at most 4 are out, and one is given up
//    only when its connect fails or after 30 s.
//
// Addresses as gRPC reads them: "0.0.0.0:P", "[::]:P" and ":P" mean every
// address (a dual-stack IPv6 socket, or IPv4 alone without IPv6); a name binds
// every address it resolves to. SO_REUSEADDR, never SO_REUSEPORT: one owner
// per port.
//
// Thread safety: bind(), start() and stop() from one thread; accepting() and
// stats() from any. The callback runs on the acceptor's thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_builder.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace timesync::daemon {

class Acceptor {
 public:
  struct Stats {
    uint64_t accepted = 0;  // handed to gRPC
    uint64_t refused = 0;   // closed at once: at the descriptor cap
    uint64_t errors = 0;    // accept4() failures for want of resources
    int cap = 0;            // the descriptor number connections stay below
  };
  static constexpr int64_t kProbeEveryNs = 1'000'000'000;
  static constexpr int64_t kStaleAfterNs = 3'000'000'000;
  static constexpr int64_t kProbeGiveUpNs = 30'000'000'000;
  static constexpr size_t kMaxProbes = 4;

  // Binds and listens. nullptr and *why ("cannot listen on '...': ...").
  static std::unique_ptr<Acceptor> bind(const std::string& listen, std::string* why);
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  // Starts the thread that accepts and hands connections to `sink`; call once
  // the server is started. on_change(accepting) may be empty.
  void start(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> sink,
             std::function<void(bool)> on_change);
  // Stops accepting and closes the listening sockets (connections handed to
  // gRPC stay gRPC's). Idempotent.
  void stop();

  bool accepting() const;
  Stats stats() const;
  int port() const { return port_; }

 private:
  Acceptor() = default;
  void run();
  void probe(int64_t now);
  void handle(int listener, int fd, int64_t now);
  int cap();

  std::vector<int> listeners_;
  int port_ = 0;
  int wake_fd_ = -1;  // eventfd: stop()
  std::thread thread_;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> sink_;
  std::function<void(bool)> on_change_;
  std::atomic<bool> stopping_{false};

  // The probes' target, and the probes out, oldest first (acceptor thread).
  struct Probe {
    int fd;
    sockaddr_storage from;
    int64_t sent_ns;
  };
  sockaddr_storage probe_to_{};
  socklen_t probe_to_len_ = 0;
  std::vector<Probe> probes_;
  int64_t next_probe_ns_ = 0;
  bool reported_accepting_ = true;

  std::atomic<int64_t> last_ok_ns_{0};
  std::atomic<uint64_t> accepted_{0}, refused_{0}, errors_{0};
  std::atomic<int> cap_{0};
  int64_t next_refusal_log_ns_ = 0, next_error_log_ns_ = 0;
  uint64_t refusals_logged_ = 0, errors_logged_ = 0;
};

}  // namespace timesync::daemon
