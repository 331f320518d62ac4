// Each real-time option, when not permitted, fails with a message that says
// what to change. Privileges are dropped in a forked child (nobody, with the
// relevant resource limit at 0), so the checks hold when the suite runs as root.
#include <sched.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include "child.hpp"
#include "timesync/gpio/rt.hpp"

namespace timesync::gpio {
namespace {

using timesync::testing::ChildLimits;
using timesync::testing::run_in_child;

TEST(Rt, CpuListParsing) {
  std::vector<int> cpus;
  EXPECT_EQ(parse_cpu_list("0,2-4", &cpus), "");
  EXPECT_EQ(cpus, (std::vector<int>{0, 2, 3, 4}));
  EXPECT_NE(parse_cpu_list("1-x", &cpus).find("'1-x' is not N or N-M"), std::string::npos);
  EXPECT_NE(parse_cpu_list("3-1", &cpus).find("out of range"), std::string::npos);
  EXPECT_NE(parse_cpu_list("", &cpus).find("empty"), std::string::npos);
}

TEST(Rt, AffinityToACpuThisMachineLacksIsAnError) {
  const std::string err = run_in_child([] {
    RtOptions o;
    o.cpus = {1000};
    return apply_rt(o);
  });
  EXPECT_NE(err.find("CPU affinity: cannot run on the requested CPUs"), std::string::npos) << err;
  EXPECT_NE(err.find("online CPUs"), std::string::npos) << err;
}

TEST(Rt, AffinityToCpu0AndAPrefaultedStackWork) {
  const std::string r = run_in_child([] {
    RtOptions o;
    o.cpus = {0};
    o.prefault_stack_kb = 512;
    std::string e = apply_rt(o);
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    if (e.empty() && (CPU_COUNT(&set) != 1 || !CPU_ISSET(0, &set))) e = "affinity not applied";
    return e.empty() ? std::string("ok") : e;
  });
  EXPECT_EQ(r, "ok");
}

TEST(Rt, FifoPriorityOutOfRange) {
  RtOptions o;
  o.fifo_priority = 100;
  EXPECT_NE(apply_rt(o).find("SCHED_FIFO priority 100 is outside 1..99"), std::string::npos);
}

TEST(Rt, FifoWithoutPermissionNamesCapabilityAndLimit) {
  const std::string err = run_in_child(
      [] {
        RtOptions o;
        o.fifo_priority = 50;
        return apply_rt(o);
      },
      ChildLimits{.drop_privileges = true, .rlimit_resource = RLIMIT_RTPRIO, .rlimit_value = 0});
  EXPECT_NE(err.find("SCHED_FIFO priority 50 not permitted"), std::string::npos) << err;
  EXPECT_NE(err.find("CAP_SYS_NICE or RLIMIT_RTPRIO >= 50 (ulimit -r is 0"), std::string::npos)
      << err;
}

// The sanitizers intercept mlockall and turn it into a successful no-op (their
// shadow memory is far too large to lock), so this check exists only in
// builds without them; the default build, which CI runs, has it.
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
TEST(Rt, MlockallWithoutPermissionNamesCapabilityAndLimit) {
  const std::string err = run_in_child(
      [] {
        RtOptions o;
        o.lock_memory = true;
        return apply_rt(o);
      },
      ChildLimits{.drop_privileges = true, .rlimit_resource = RLIMIT_MEMLOCK, .rlimit_value = 0});
  EXPECT_NE(err.find("mlockall not permitted"), std::string::npos) << err;
  EXPECT_NE(err.find("CAP_IPC_LOCK"), std::string::npos) << err;
  EXPECT_NE(err.find("ulimit -l is 0 bytes"), std::string::npos) << err;
}
#endif

TEST(Rt, PrefaultingMoreStackThanTheLimitIsRefusedBeforeItCrashes) {
  const std::string err = run_in_child(
      [] {
        RtOptions o;
        o.prefault_stack_kb = 4096;
        return apply_rt(o);
      },
      ChildLimits{.rlimit_resource = RLIMIT_STACK, .rlimit_value = 1024 * 1024});
  EXPECT_NE(err.find("would overflow it: the stack limit is 1024 KiB"), std::string::npos) << err;
}

}  // namespace
}  // namespace timesync::gpio
