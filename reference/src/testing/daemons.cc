#include "testing/daemons.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace timesync::reference::testing {

TempDir::TempDir(const std::string& tag, mode_t mode) {
  std::string templ = "/tmp/" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) != nullptr) {
    path_ = buf.data();
    ::chmod(path_.c_str(), mode);
  }
}

TempDir::~TempDir() {
  if (!path_.empty()) run("rm -rf '" + path_ + "'");
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) : log_path_(log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) == 0) pid_ = pid;
  posix_spawn_file_actions_destroy(&actions);
}

Process::~Process() { stop(); }

bool Process::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

void Process::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (!poll_until(std::chrono::seconds(5), [&] { return !running(); }, std::chrono::milliseconds(10))) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
  }
}

std::string Process::log() const {
  const std::string all = read_file(log_path_);
  return all.size() > 4096 ? all.substr(all.size() - 4096) : all;
}

bool poll_until(std::chrono::nanoseconds timeout, const std::function<bool()>& cond,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

uint16_t free_udp_port() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

bool run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }

NetNs::NetNs(const std::string& suffix) : name_("ts-ref-" + std::to_string(::getpid()) + "-" + suffix) {
  ok_ = run("ip netns add " + name_) && run("ip -n " + name_ + " link set lo up");
}

NetNs::~NetNs() {
  if (ok_) run("ip netns del " + name_);
}

void remove_stale_namespaces() {
  std::string list;
  if (FILE* f = ::popen("ip netns list 2>/dev/null", "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, f) != nullptr) list += buf;
    ::pclose(f);
  }
  std::size_t pos = 0;
  while ((pos = list.find("ts-ref-", pos)) != std::string::npos) {
    const std::size_t end = list.find_first_of(" \n", pos);
    const std::string name = list.substr(pos, end - pos);
    pos = end;
    const long pid = std::strtol(name.c_str() + 7, nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) run("ip netns del " + name);
  }
}

KernelClock read_kernel_clock() {
  timex tx{};
  tx.modes = 0;
  ::adjtimex(&tx);
  KernelClock k;
  k.freq = tx.freq;
  k.status = tx.status;
  k.tick = tx.tick;
  k.offset = tx.offset;
  k.constant = tx.constant;
  return k;
}

std::string to_string(const KernelClock& k) {
  return "freq " + std::to_string(k.freq) + " status 0x" + [&] {
    char b[16];
    std::snprintf(b, sizeof b, "%x", static_cast<unsigned>(k.status));
    return std::string(b);
  }() + " tick " + std::to_string(k.tick) + " offset " + std::to_string(k.offset) + " constant " +
         std::to_string(k.constant);
}

FakeDgramServer::FakeDgramServer(const std::string& path) : path_(path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return;
  }
  fd_ = fd;
}

FakeDgramServer::~FakeDgramServer() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
}

std::optional<FakeDgramServer::Datagram> FakeDgramServer::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
  Datagram d;
  d.bytes.resize(4096);
  sockaddr_un from{};
  socklen_t len = sizeof from;
  const ssize_t n = ::recvfrom(fd_, d.bytes.data(), d.bytes.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
  if (n < 0) return std::nullopt;
  d.bytes.resize(static_cast<std::size_t>(n));
  if (len > offsetof(sockaddr_un, sun_path)) d.from = from.sun_path;
  return d;
}

bool FakeDgramServer::send_to(const std::string& path, const std::vector<uint8_t>& bytes) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
         static_cast<ssize_t>(bytes.size());
}

}  // namespace timesync::reference::testing
