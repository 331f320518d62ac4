#include "counter_host.hpp"

#include <sched.h>
#include <time.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "timesync/counter.hpp"

namespace timesync::agent {

namespace {

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// The first line of a small sysfs file, without its newline; "" if absent.
std::string first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    if (w == word) return true;
  }
  return false;
}

}  // namespace

CounterFacts read_counter_facts() {
  CounterFacts f;
  f.have_counter = detail::kHaveCounter;
#if defined(__x86_64__)
  f.x86 = true;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) == 0) {
      f.constant_tsc = has_word(line, "constant_tsc");
      f.nonstop_tsc = has_word(line, "nonstop_tsc");
      break;  // every CPU lists the same flags
    }
  }
#endif
  f.clocksource = read_clocksource();
  f.available = first_line("/sys/devices/system/clocksource/clocksource0/available_clocksource");
  return f;
}

std::string read_clocksource() {
  return first_line("/sys/devices/system/clocksource/clocksource0/current_clocksource");
}

std::string counter_refusal(config::CounterUse use, const CounterFacts& f) {
  if (use == config::CounterUse::kOff) return "counter: off";
  if (!f.have_counter) return "no counter this build can read on this CPU architecture";
  if (f.x86 && !(f.constant_tsc && f.nonstop_tsc)) {
    return "the CPU does not say constant_tsc and nonstop_tsc: its TSC may change rate or stop";
  }
  if (use == config::CounterUse::kOn) return "";
  const char* own = f.x86 ? "tsc" : "arch_sys_counter";
  if (f.clocksource != own) {
    std::string why = "the kernel's clocksource is " +
                      (f.clocksource.empty() ? std::string("unknown") : f.clocksource) +
                      ", not " + own;
    if (f.x86 && !has_word(f.available, own)) why += " (the kernel does not trust the TSC here)";
    return why + "; `counter: on` uses the counter anyway (docs/counter.md)";
  }
  return "";
}

CounterPair take_counter_pair(int tries) {
  CounterPair best;
  uint64_t best_width = UINT64_MAX;
  for (int i = 0; i < tries; ++i) {
    const uint64_t c1 = detail::read_counter();
    const int64_t raw = clock_ns(CLOCK_MONOTONIC_RAW);
    const uint64_t c2 = detail::read_counter();
    if (c2 < c1 || c2 - c1 >= best_width) continue;
    best_width = c2 - c1;
    best.count = c1 + best_width / 2;
    best.half_width = (best_width + 1) / 2;
    best.raw_ns = raw;
  }
  best.valid = best_width != UINT64_MAX;
  best.suspended_ns = clock_ns(CLOCK_BOOTTIME) - clock_ns(CLOCK_MONOTONIC);
  return best;
}

std::string check_counter_across_cpus(bool* measured) {
  *measured = false;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return "";  // nothing to move across
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  if (cpus.size() < 2) return "";
  const auto pin = [](int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof(one), &one) == 0;
  };
  // The first CPU before and after the others: the line between those two
  // pairs is where every other CPU's pair must lie.
  std::vector<CounterPair> pairs;
  bool pinned = true;
  for (const int c : cpus) {
    pinned = pinned && pin(c);
    pairs.push_back(take_counter_pair(64));
  }
  pinned = pinned && pin(cpus[0]);
  const CounterPair last = take_counter_pair(64);
  sched_setaffinity(0, sizeof(allowed), &allowed);
  if (!pinned) return "";  // could not move (a container's policy): nothing measured
  *measured = true;
  const CounterPair& first = pairs[0];
  if (last.count <= first.count || last.raw_ns <= first.raw_ns) {
    return "the counter of CPU " + std::to_string(cpus[0]) + " did not advance";
  }
  const double s = static_cast<double>(last.raw_ns - first.raw_ns) /
                   static_cast<double>(last.count - first.count);
  for (size_t i = 1; i < pairs.size(); ++i) {
    const CounterPair& p = pairs[i];
    const double predicted = static_cast<double>(first.raw_ns) +
                             static_cast<double>(static_cast<int64_t>(p.count - first.count)) * s;
    const double off = static_cast<double>(p.raw_ns) - predicted;
    const double allowed_ns =
        static_cast<double>(p.half_width + first.half_width + last.half_width) * s + 3;
    if (std::fabs(off) > allowed_ns) {
      return "the counter of CPU " + std::to_string(cpus[i]) + " is " +
             std::to_string(std::llround(off)) + " ns off CPU " + std::to_string(cpus[0]) +
             "'s (" + std::to_string(std::llround(allowed_ns)) + " ns allowed)";
    }
  }
  return "";
}

}  // namespace timesync::agent
