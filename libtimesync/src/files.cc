#include "files.hpp"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace timesync::files {

Error from_errno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Error::kNoSegment;
    case EACCES:
    case EPERM:
      return Error::kPermission;
    case ELOOP:
      return Error::kSymlink;
    case ENXIO:  // open() of a socket
    case EISDIR:
      return Error::kNotRegular;
    case ENOMEM:
      return Error::kNoMemory;
    default:
      return Error::kIo;
  }
}

namespace {
Error classify(const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return Error::kSymlink;
  if (!S_ISREG(st.st_mode)) return Error::kNotRegular;
  if (st.st_nlink > 1) return Error::kHardLink;
  return Error::kOk;
}
}  // namespace

Error inspect(const std::string& path, struct stat* st) {
  if (lstat(path.c_str(), st) != 0) return from_errno(errno);
  return classify(*st);
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

Error open_regular(const std::string& path, int flags, int* fd, struct stat* st) {
  struct stat seen {};
  if (const Error e = inspect(path, &seen); e != Error::kOk) {
    *st = seen;
    return e;
  }
  const int f = ::open(path.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (f < 0) return from_errno(errno);
  if (fstat(f, st) != 0) {
    const int err = errno;
    ::close(f);
    return from_errno(err);
  }
  Error e = classify(*st);
  if (e == Error::kOk && !same_file(seen, *st)) e = Error::kIo;  // swapped while we looked
  if (e != Error::kOk) {
    ::close(f);
    return e;
  }
  *fd = f;
  return Error::kOk;
}

std::string describe(const std::string& path, const struct stat& st) {
  std::string what;
  if (S_ISLNK(st.st_mode)) {
    char target[PATH_MAX];
    const ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    what = "a symbolic link";
    if (n > 0) what += " to " + std::string(target, static_cast<size_t>(n));
  } else if (S_ISFIFO(st.st_mode)) {
    what = "a FIFO";
  } else if (S_ISDIR(st.st_mode)) {
    what = "a directory";
  } else if (S_ISSOCK(st.st_mode)) {
    what = "a socket";
  } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
    what = "a device";
  } else if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
    what = "a regular file with " + std::to_string(st.st_nlink) + " names (hard links)";
  } else {
    what = "a regular file";
  }
  return what + ", owner uid " + std::to_string(st.st_uid);
}

std::string flock_holder(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return "";
  // Lines look like "3: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"; a
  // waiter's line has "->" after the number and is skipped.
  FILE* f = std::fopen("/proc/locks", "re");
  if (f == nullptr) return "";
  char want[64];
  std::snprintf(want, sizeof want, "%02x:%02x:%llu", major(st.st_dev), minor(st.st_dev),
                static_cast<unsigned long long>(st.st_ino));
  long pid = -1;
  char line[256];
  while (pid < 0 && std::fgets(line, sizeof line, f) != nullptr) {
    char kind[16], mode[16], access[16], dev[64];
    long p = 0;
    if (std::sscanf(line, "%*d: %15s %15s %15s %ld %63s", kind, mode, access, &p, dev) == 5 &&
        std::strcmp(kind, "FLOCK") == 0 && std::strcmp(dev, want) == 0 && p > 0) {
      pid = p;
    }
  }
  std::fclose(f);
  if (pid < 0) return "";
  std::string out = "pid " + std::to_string(pid);
  if (FILE* c = std::fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "re")) {
    char name[64] = {};
    if (std::fgets(name, sizeof name, c) != nullptr) {
      name[std::strcspn(name, "\n")] = '\0';
      out += std::string(" (") + name + ")";
    }
    std::fclose(c);
  }
  return out;
}

}  // namespace timesync::files
