// Runs a function in a forked child and returns what it returned (a string),
// optionally after dropping to an unprivileged user: how the tests check
// "permission denied" paths on a machine where they run as root.
#pragma once

#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>

namespace timesync::testing {

inline constexpr uid_t kNobody = 65534;

struct ChildLimits {
  bool drop_privileges = false;   // setgid/setuid to nobody (when root)
  int rlimit_resource = -1;       // one resource limit to set first, or -1
  rlim_t rlimit_value = 0;
};

// Returns the child's string, or "child failed: ..." if it crashed.
inline std::string run_in_child(const std::function<std::string()>& fn, ChildLimits lim = {}) {
  int fds[2];
  if (pipe(fds) != 0) return "child failed: pipe";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (lim.rlimit_resource >= 0) {
      const rlimit rl{lim.rlimit_value, lim.rlimit_value};
      setrlimit(lim.rlimit_resource, &rl);
    }
    if (lim.drop_privileges && geteuid() == 0) {
      if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(3);
    }
    const std::string out = fn();
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child failed: status " + std::to_string(status);
  }
  return out;
}

}  // namespace timesync::testing
