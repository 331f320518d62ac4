// Real-time set-up for probe emitters and observers (seed 000's checklist):
// SCHED_FIFO priority, locked memory, a prefaulted stack, CPU affinity.
// Each is optional; each that is asked for and not permitted is an error that
// says what to change, never a silent downgrade.
//
// Thread safety: apply_rt() changes the calling thread (scheduling, affinity,
// stack) and the whole process (mlockall); call it once, early.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace timesync::gpio {

struct RtOptions {
  int fifo_priority = 0;          // 0: keep SCHED_OTHER; else 1..99
  bool lock_memory = false;       // mlockall(MCL_CURRENT | MCL_FUTURE)
  size_t prefault_stack_kb = 0;   // touch this much stack now, so no page fault later
  std::vector<int> cpus;          // empty: any CPU
};

// Parses "0,2-3" into CPU numbers; an error message on a bad list.
std::string parse_cpu_list(const std::string& text, std::vector<int>* cpus);

// Applies the options in the order affinity, scheduling, memory lock, stack.
// Returns "" or a message naming the first option that failed and why.
std::string apply_rt(const RtOptions& opt);

}  // namespace timesync::gpio
