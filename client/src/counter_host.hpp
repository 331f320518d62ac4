// The CPU counter on this host: whether readers may use it (counter.hpp), and
// the paired reads its map is fit from (counter_calibrator.hpp).
//
// Where it is safe. The counter must tick at one rate whatever the CPU's
// frequency and sleep state (x86: constant_tsc and nonstop_tsc; ARM's generic
// timer always does), agree across CPUs, and stay the counter that
// CLOCK_MONOTONIC_RAW is computed from, so the line between them does not
// bend. The kernel vouches for all of it when its clocksource is that counter
// (tsc, arch_sys_counter): `counter: auto` asks for that. Under a hypervisor
// (kvm-clock, or a kernel booted with tsc=unstable, as on the machine this was
// developed on) the counter may change rate or value when the machine is
// migrated or restored from a snapshot, which the map only notices at the
// agent's next publication: `counter: on` accepts that risk. With `auto` the
// agent also re-reads the clocksource at every publication, and stops using
// the counter for good if the kernel gave it up.
//
// The CPUs are checked against each other once at start. Where CLOCK_MONOTONIC_RAW
// is computed from the calling CPU's own counter (clocksource tsc), an offset
// between CPUs moves both halves of a pair alike, so the check cannot see it:
// there the kernel's own synchronization check at boot is what vouches.
#pragma once

#include <string>

#include "counter_calibrator.hpp"
#include "timesync/config/config.hpp"

namespace timesync::agent {

// What the host says about its counter, from /proc/cpuinfo and sysfs.
struct CounterFacts {
  bool have_counter = false;    // this build can read one (x86-64, aarch64)
  bool x86 = false;
  bool constant_tsc = false;    // x86 flags; ARM's counter needs none
  bool nonstop_tsc = false;
  std::string clocksource;      // current_clocksource
  std::string available;        // available_clocksource
};
CounterFacts read_counter_facts();
// The kernel's current clocksource, as in CounterFacts.
std::string read_clocksource();

// "" when `use` allows the counter on a host with these facts; else why not.
// Pure.
std::string counter_refusal(config::CounterUse use, const CounterFacts& f);

// One pair: the narrowest of `tries` brackets (counter, clock_gettime
// CLOCK_MONOTONIC_RAW, counter), with CLOCK_BOOTTIME - CLOCK_MONOTONIC.
CounterPair take_counter_pair(int tries = 16);

// The counter of every CPU this thread may run on against the first one's:
// "" when they agree within the pairs' widths, else which CPU disagrees and
// by how much. *measured says whether two or more CPUs were compared (not
// when the thread may run on one CPU only, or could not be moved). Moves the
// calling thread from CPU to CPU and back.
std::string check_counter_across_cpus(bool* measured);

}  // namespace timesync::agent
