// A UDP relay between an agent and a master's UDP service, on a thread of its
// own, for the integration tests of the UDP exchange (docs/udp-transport.md).
// The agent is pointed at it (`udp.master: relay.address()`); it forwards
// each datagram from the agent to the master and each answer back to the
// agent that sent last, from the address the agent sent to (the agent's
// socket is connected: anything else would not reach it).
//
// What a test does with it:
//   - block(true): drop everything both ways, as a firewall that blocks UDP
//     would (the agent's exchanges time out);
//   - send_to_agent(bytes): a datagram to the agent as if from the master
//     (forged answers); a recorded answer sent again is a replay;
//   - send_to_master(bytes): a datagram to the master as if from an agent,
//     from a socket of its own (what the master sends back there is counted
//     and never reaches the agent).
// It keeps copies of the last `keep` datagrams forwarded each way, oldest
// first, and counts what it forwarded and dropped.
//
// Thread safety: every method may be called from any thread while it runs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace timesync::testing {

class UdpRelay {
 public:
  using Bytes = std::vector<uint8_t>;

  // Forwards to 127.0.0.1:master_port.
  explicit UdpRelay(int master_port, size_t keep = 32) : keep_(keep) {
    listen_ = bound_socket();
    upstream_ = bound_socket();
    inject_ = bound_socket();
    sockaddr_in master = loopback_addr(master_port);
    if (connect(upstream_, reinterpret_cast<const sockaddr*>(&master), sizeof master) != 0 ||
        connect(inject_, reinterpret_cast<const sockaddr*>(&master), sizeof master) != 0) {
      close_all();
      throw std::runtime_error("UdpRelay: cannot connect to the master's port");
    }
    sockaddr_in a{};
    socklen_t len = sizeof a;
    getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~UdpRelay() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close_all();
  }
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // While blocked, nothing is forwarded either way (counted as dropped).
  void block(bool on) { blocked_ = on; }

  uint64_t forwarded_to_master() const { return to_master_; }
  uint64_t forwarded_to_agent() const { return to_agent_; }
  uint64_t dropped() const { return dropped_; }
  // Datagrams the master sent back to send_to_master()'s socket.
  uint64_t answers_to_injected() const { return injected_answers_; }

  // The last `keep` datagrams forwarded master -> agent (answers) and
  // agent -> master (requests), oldest first.
  std::vector<Bytes> answers() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {answers_.begin(), answers_.end()};
  }
  std::vector<Bytes> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {requests_.begin(), requests_.end()};
  }

  // To the agent that sent last, from the relay's address. False when no
  // agent has sent anything yet or the send fails.
  bool send_to_agent(std::span<const uint8_t> bytes) {
    std::optional<sockaddr_in> to;
    {
      std::lock_guard<std::mutex> lock(mu_);
      to = agent_;
    }
    if (!to) return false;
    return sendto(listen_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&*to),
                  sizeof *to) == static_cast<ssize_t>(bytes.size());
  }
  // To the master, from a socket that is neither the agent's nor the relay's.
  bool send_to_master(std::span<const uint8_t> bytes) {
    return send(inject_, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
  }

 private:
  static sockaddr_in loopback_addr(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  static int bound_socket() {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    const sockaddr_in a = loopback_addr(0);
    if (fd < 0 || bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      if (fd >= 0) close(fd);
      throw std::runtime_error("UdpRelay: cannot bind a UDP socket on 127.0.0.1");
    }
    return fd;
  }
  void close_all() {
    for (int* fd : {&listen_, &upstream_, &inject_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }
  void remember(std::deque<Bytes>* q, const uint8_t* data, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    q->emplace_back(data, data + n);
    while (q->size() > keep_) q->pop_front();
  }

  void run() {
    uint8_t buf[2048];
    while (!stop_) {
      pollfd fds[3] = {{listen_, POLLIN, 0}, {upstream_, POLLIN, 0}, {inject_, POLLIN, 0}};
      if (poll(fds, 3, 10) <= 0) continue;  // 10 ms: how soon stop() is noticed
      if (fds[0].revents & POLLIN) {  // agent -> master
        sockaddr_in from{};
        socklen_t len = sizeof from;
        const ssize_t n =
            recvfrom(listen_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n >= 0) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            agent_ = from;
          }
          if (blocked_) {
            ++dropped_;
          } else {
            remember(&requests_, buf, static_cast<size_t>(n));
            if (send(upstream_, buf, static_cast<size_t>(n), 0) == n) ++to_master_;
          }
        }
      }
      if (fds[1].revents & (POLLIN | POLLERR)) {  // master -> agent
        const ssize_t n = recv(upstream_, buf, sizeof buf, 0);
        if (n >= 0) {
          if (blocked_) {
            ++dropped_;
          } else {
            remember(&answers_, buf, static_cast<size_t>(n));
            if (send_to_agent({buf, static_cast<size_t>(n)})) ++to_agent_;
          }
        }
      }
      if (fds[2].revents & (POLLIN | POLLERR)) {  // master -> the injecting socket
        if (recv(inject_, buf, sizeof buf, 0) >= 0) ++injected_answers_;
      }
    }
  }

  const size_t keep_;
  int listen_ = -1, upstream_ = -1, inject_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, blocked_{false};
  std::atomic<uint64_t> to_master_{0}, to_agent_{0}, dropped_{0}, injected_answers_{0};
  mutable std::mutex mu_;
  std::optional<sockaddr_in> agent_;
  std::deque<Bytes> answers_, requests_;
  std::thread thread_;
};

}  // namespace timesync::testing
