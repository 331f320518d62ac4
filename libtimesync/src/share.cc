#include "share.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "files.hpp"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

namespace timesync::share {

namespace {
constexpr unsigned kSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL;

std::string errno_text(const std::string& what, int err) { return what + ": " + std::strerror(err); }

bool make_address(const std::string& path, sockaddr_un* a, socklen_t* len) {
  *a = sockaddr_un{};
  a->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memcpy(a->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void send_fd(int sock, int fd) {
  char byte = 'T';
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  // A reader that does not read only loses its own answer.
  (void)sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

// The descriptor a reader received, checked; closes it and returns -1 if not.
int check_copy(int fd, uid_t owner, size_t size) {
  struct stat st {};
  const int seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != owner ||
      static_cast<size_t>(st.st_size) != size || seals < 0 ||
      (static_cast<unsigned>(seals) & kSeals) != kSeals) {
    ::close(fd);
    return -1;
  }
  return fd;
}
}  // namespace

std::string socket_path(const std::string& segment_path) { return segment_path + ".sock"; }

int create_sealed(size_t size, void** map, int* readonly, std::string* why) {
  // MFD_NOEXEC_SEAL where the kernel knows it (6.3+), so vm.memfd_noexec=2
  // does not refuse us; older kernels reject the flag with EINVAL.
  int fd = memfd_create("timesync", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("timesync", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    *why = errno_text("memfd_create", errno);
    return -1;
  }
  void* p = MAP_FAILED;
  if (fchmod(fd, 0644) != 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    *why = errno_text("sizing the sealed copy", errno);
  } else if (p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); p == MAP_FAILED) {
    *why = errno_text("mapping the sealed copy", errno);
  } else if (fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    *why = errno_text("sealing the copy", errno);
    munmap(p, size);
    p = MAP_FAILED;
  }
  if (p == MAP_FAILED) {
    ::close(fd);
    return -1;
  }
  *map = p;
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  *readonly = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (*readonly < 0) *readonly = fd;
  return fd;
}

std::unique_ptr<Server> Server::start(const std::string& path, int fd, std::string* why) {
  std::unique_ptr<Server> s(new Server(path, fd));
  if (!s->restart(why)) return nullptr;
  return s;
}

Server::~Server() {
  if (intact()) unlink(path_.c_str());  // first: no new reader gets a copy about to retire
  stop();
}

void Server::stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!write(wake_, &one, sizeof one);
    thread_.join();
  }
  if (listen_ >= 0) ::close(listen_);
  if (wake_ >= 0) ::close(wake_);
  listen_ = wake_ = -1;
}

bool Server::intact() const {
  struct stat st {};
  return listen_ >= 0 && lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
         st.st_dev == dev_ && st.st_ino == ino_;
}

bool Server::restart(std::string* why) {
  stop();
  if (!bind_and_listen(why)) return false;
  wake_ = eventfd(0, EFD_CLOEXEC);
  if (wake_ < 0) {
    *why = errno_text("eventfd", errno);
    ::close(listen_);
    listen_ = -1;
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

bool Server::bind_and_listen(std::string* why) {
  sockaddr_un addr;
  socklen_t len = 0;
  if (!make_address(path_, &addr, &len)) {
    *why = "socket path too long: " + path_;
    return false;
  }
  struct stat st {};
  if (lstat(path_.c_str(), &st) == 0) {
    // A socket of ours left by an earlier writer (we hold the writer lock) is
    // replaced; anything else is not ours to remove.
    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
      *why = path_ + " is " + files::describe(path_, st) + ", not this user's socket";
      return false;
    }
    unlink(path_.c_str());
  }
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) {
    *why = errno_text("socket", errno);
    return false;
  }
  if (bind(s, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || listen(s, 64) != 0) {
    *why = errno_text("bind " + path_, errno);
    ::close(s);
    return false;
  }
  // Anyone may connect (connect needs write permission). chmod without
  // following a link: the name was ours a moment ago, but check anyway.
  if (fchmodat(AT_FDCWD, path_.c_str(), 0666, AT_SYMLINK_NOFOLLOW) != 0 ||
      lstat(path_.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    *why = errno_text("chmod " + path_, errno);
    ::close(s);
    return false;
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  listen_ = s;
  return true;
}

void Server::run() {
  pollfd p[2] = {{listen_, POLLIN, 0}, {wake_, POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents != 0) return;
    for (;;) {
      const int c = accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c < 0) break;
      send_fd(c, fd_);
      ::close(c);
    }
  }
}

int fetch(const std::string& path, uid_t owner, size_t size, int timeout_ms) {
  sockaddr_un addr;
  socklen_t len = 0;
  struct stat st {};
  if (!make_address(path, &addr, &len) || lstat(path.c_str(), &st) != 0 ||
      !S_ISSOCK(st.st_mode) || st.st_uid != owner) {
    return -1;
  }
  // Non-blocking: a full backlog (writer stopped) is EAGAIN, not a wait.
  const int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  int fd = -1;
  ucred cred{};
  socklen_t cred_len = sizeof cred;
  if (connect(s, reinterpret_cast<const sockaddr*>(&addr), len) == 0 &&
      getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 && cred.uid == owner) {
    const int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
      char byte = 0;
      iovec iov{&byte, 1};
      alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
      if (n > 0) {
        // Keep the first descriptor of an SCM_RIGHTS message; close any other.
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
          const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (size_t i = 0; i < count; ++i) {
            int got;
            std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (fd < 0 && (msg.msg_flags & MSG_CTRUNC) == 0) {
              fd = got;
            } else {
              ::close(got);
            }
          }
        }
        break;
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
      const int64_t left = deadline - monotonic_ms();
      if (left <= 0) break;
      pollfd p{s, POLLIN, 0};
      (void)poll(&p, 1, static_cast<int>(left));
    }
  }
  ::close(s);
  return fd < 0 ? -1 : check_copy(fd, owner, size);
}

}  // namespace timesync::share
