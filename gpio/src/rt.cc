#include "timesync/gpio/rt.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace timesync::gpio {
namespace {

std::string limit_text(int resource) {
  rlimit rl{};
  if (getrlimit(resource, &rl) != 0) return "unknown";
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur);
}

// Touches `kb` KiB below the current frame so the pages are mapped (and, after
// mlockall, locked) before the time-critical loop runs.
__attribute__((noinline)) void touch_stack(size_t kb) {
  constexpr size_t kChunk = 4096;
  unsigned char page[kChunk];
  // The compiler must believe the page is used, or it drops the frame.
  // Using it again after the recursive call keeps that call from becoming a
  // tail call that would reuse this frame.
  std::memset(page, 1, sizeof page);
  if (kb > 4) touch_stack(kb - 4);
  asm volatile("" : : "r"(page) : "memory");
}

}  // namespace

std::string parse_cpu_list(const std::string& text, std::vector<int>* cpus) {
  cpus->clear();
  std::string_view s = text;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    const size_t dash = item.find('-');
    int lo = 0;
    int hi = 0;
    try {
      size_t used = 0;
      lo = std::stoi(std::string(item.substr(0, dash)), &used);
      if (used != (dash == std::string_view::npos ? item.size() : dash)) throw std::exception();
      hi = lo;
      if (dash != std::string_view::npos) {
        const std::string rest(item.substr(dash + 1));
        hi = std::stoi(rest, &used);
        if (used != rest.size()) throw std::exception();
      }
    } catch (const std::exception&) {
      return "CPU list '" + text + "': '" + std::string(item) + "' is not N or N-M";
    }
    if (lo < 0 || hi < lo || hi >= CPU_SETSIZE) {
      return "CPU list '" + text + "': '" + std::string(item) + "' is out of range";
    }
    for (int c = lo; c <= hi; ++c) cpus->push_back(c);
  }
  if (cpus->empty()) return "CPU list is empty";
  return "";
}

std::string apply_rt(const RtOptions& opt) {
  if (!opt.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : opt.cpus) CPU_SET(c, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
      const int e = errno;
      const long online = sysconf(_SC_NPROCESSORS_ONLN);
      return "CPU affinity: cannot run on the requested CPUs (" + std::string(std::strerror(e)) +
             "); this machine has " + std::to_string(online) +
             " online CPUs (0.." + std::to_string(online - 1) +
             "), and a cpuset or container may allow fewer";
    }
  }
  if (opt.fifo_priority != 0) {
    const int lo = sched_get_priority_min(SCHED_FIFO);
    const int hi = sched_get_priority_max(SCHED_FIFO);
    if (opt.fifo_priority < lo || opt.fifo_priority > hi) {
      return "SCHED_FIFO priority " + std::to_string(opt.fifo_priority) + " is outside " +
             std::to_string(lo) + ".." + std::to_string(hi);
    }
    sched_param p{};
    p.sched_priority = opt.fifo_priority;
    if (sched_setscheduler(0, SCHED_FIFO, &p) != 0) {
      const int e = errno;
      return "SCHED_FIFO priority " + std::to_string(opt.fifo_priority) + " not permitted (" +
             std::strerror(e) + "): needs CAP_SYS_NICE or RLIMIT_RTPRIO >= " +
             std::to_string(opt.fifo_priority) + " (ulimit -r is " + limit_text(RLIMIT_RTPRIO) +
             "; systemd: LimitRTPRIO=)";
    }
  }
  if (opt.lock_memory) {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
      const int e = errno;
      return std::string("mlockall not permitted (") + std::strerror(e) +
             "): needs CAP_IPC_LOCK or a large enough RLIMIT_MEMLOCK (ulimit -l is " +
             limit_text(RLIMIT_MEMLOCK) + " bytes; systemd: LimitMEMLOCK=)";
    }
  }
  if (opt.prefault_stack_kb != 0) {
    rlimit rl{};
    getrlimit(RLIMIT_STACK, &rl);
    // Leave a quarter of the limit for the frames already on the stack and
    // for the ones the loop will use.
    if (rl.rlim_cur != RLIM_INFINITY && opt.prefault_stack_kb * 1024 > rl.rlim_cur / 4 * 3) {
      return "prefaulting " + std::to_string(opt.prefault_stack_kb) +
             " KiB of stack would overflow it: the stack limit is " +
             std::to_string(rl.rlim_cur / 1024) + " KiB (ulimit -s); ask for at most " +
             std::to_string(rl.rlim_cur / 1024 / 4 * 3) + " KiB";
    }
    touch_stack(opt.prefault_stack_kb);
  }
  return "";
}

}  // namespace timesync::gpio
