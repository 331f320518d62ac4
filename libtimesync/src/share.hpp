// Internal: the segment's sealed copy and how readers get it.
//
// A file in /dev/shm can be truncated by its owner or root (`truncate`, `cp`
// over it), and every process mapping it then dies of SIGBUS on its next read.
// Regular tmpfs files cannot be sealed; a memfd can. So the writer keeps a
// copy of the segment in a memfd sealed against shrinking, growing and every
// later writer (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
// F_SEAL_SEAL: its own mapping, made before sealing, stays the only way to
// write it), and hands a read-only descriptor of it to whoever connects to the
// Unix socket "<segment path>.sock" (SCM_RIGHTS). A reader maps that copy: no
// one can shrink it under the mapping, so no SIGBUS, and no signal handler is
// needed in the application. The reader trusts a copy only from a socket and
// a process of the segment file's owner (SO_PEERCRED), and only if the
// descriptor is a file of that owner with exactly those seals and the
// segment's size.
//
// Thread safety: Server's methods from one thread (its own thread only sends);
// fetch() is reentrant.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>

namespace timesync::share {

std::string socket_path(const std::string& segment_path);

// A memfd of `size` bytes, mapped read-write at *map, then sealed. Returns its
// descriptor (-1 and *why on failure) and in *readonly a read-only descriptor
// of the same file to hand out (the memfd itself if /proc cannot reopen it;
// the seals make either harmless).
int create_sealed(size_t size, void** map, int* readonly, std::string* why);

// Hands `fd` to every process that connects to the Unix socket at `path`,
// from a thread of its own. The socket is mode 0666: anyone may ask.
class Server {
 public:
  static std::unique_ptr<Server> start(const std::string& path, int fd, std::string* why);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Stops the thread; removes the socket if the path still names it.
  ~Server();

  // The path still names our socket (not removed or replaced).
  bool intact() const;
  // Binds a new socket at the path (after intact() said no).
  bool restart(std::string* why);
  const std::string& path() const { return path_; }

 private:
  Server(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  bool bind_and_listen(std::string* why);
  void run();
  void stop();

  std::string path_;
  int fd_;
  int listen_ = -1;
  int wake_ = -1;  // eventfd: stop()
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::thread thread_;
};

// Reader: the sealed copy of `size` bytes served at `path` by user `owner`, or
// -1: nothing there, not a socket of that user, another user's process
// behind it, no answer within timeout_ms, or a descriptor that is not a file
// of that user with the seals above and that size.
int fetch(const std::string& path, uid_t owner, size_t size, int timeout_ms);

}  // namespace timesync::share
