// The libgpiod backend's error paths on a machine without a GPIO chip. (With a
// chip, lab/qemu-gpio-sim runs these binaries against the kernel's gpio-sim:
// see TIMESYNC_GPIO_SIM_CHIP below.)
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "child.hpp"
#include "timesync/gpio/line.hpp"

namespace timesync::gpio {
namespace {

using namespace std::chrono_literals;

LineSpec gpiod(const std::string& text) {
  auto p = parse_line_spec(text);
  EXPECT_TRUE(p.ok()) << p.error;
  return p.spec;
}

TEST(GpiodBackend, AMissingChipIsNamedWithWhereItWasLookedFor) {
  for (const char* chip : {"gpiochip97", "/dev/gpiochip97", "no-such-label", "97"}) {
    auto out = open_output(gpiod(std::string("gpiod:") + chip + ":3"), "timesync-test");
    ASSERT_FALSE(out.ok()) << chip;
    EXPECT_NE(out.error.find(std::string("no GPIO chip '") + chip + "'"), std::string::npos)
        << out.error;
    EXPECT_NE(out.error.find("gpiodetect"), std::string::npos) << out.error;
    auto in = open_input(gpiod(std::string("gpiod:") + chip + ":3"), "timesync-test");
    ASSERT_FALSE(in.ok()) << chip;
    EXPECT_EQ(in.error, out.error);
  }
}

TEST(GpiodBackend, ADeviceThatIsNotAGpioChipIsRefused) {
  auto out = open_output(gpiod("gpiod:/dev/null:0"), "timesync-test");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error.find("GPIO chip '/dev/null'"), std::string::npos) << out.error;
  EXPECT_EQ(out.error.find("no GPIO chip"), std::string::npos)
      << "the path exists, so it must not be reported missing: " << out.error;
}

TEST(GpiodBackend, PermissionDeniedSaysHowToGetAccess) {
  const std::string path = "/tmp/timesync-gpiochip-test-" + std::to_string(getpid());
  {
    std::ofstream f(path);
  }
  chmod(path.c_str(), geteuid() == 0 ? 0600 : 0);  // root: the child drops to nobody
  const std::string err = timesync::testing::run_in_child(
      [&] {
        auto in = open_input(gpiod("gpiod:" + path + ":1"), "timesync-test");
        return in.ok() ? std::string("opened") : in.error;
      },
      {.drop_privileges = true});
  unlink(path.c_str());
  EXPECT_NE(err.find("permission denied opening GPIO chip '" + path + "'"), std::string::npos)
      << err;
  EXPECT_NE(err.find("udev rule"), std::string::npos) << err;
}

// Runs only where a gpio-sim chip exists (the QEMU guest sets the variables);
// on other machines the suite above is the whole coverage, so this test is
// not registered rather than skipped.
class GpioSim : public ::testing::Test {};

void register_gpio_sim_tests(const std::string& chip, const std::string& sysfs) {
  ::testing::RegisterTest(
      "GpioSim", "BadOffsetBusyLineAndEdgesWithKernelTimestamps", nullptr, nullptr, __FILE__,
      __LINE__, [chip, sysfs]() -> GpioSim* {
        struct T : GpioSim {
          std::string chip, sysfs;
          void TestBody() override {
            auto bad = open_output(gpiod("gpiod:" + chip + ":200"), "ts");
            ASSERT_FALSE(bad.ok());
            EXPECT_NE(bad.error.find("line offset 200 is out of range"), std::string::npos)
                << bad.error;
            // The chip node is root's (0600): as nobody, a clear permission error.
            const std::string denied = timesync::testing::run_in_child(
                [&] {
                  auto in = open_input(gpiod("gpiod:" + chip + ":0"), "ts");
                  return in.ok() ? std::string("opened") : in.error;
                },
                {.drop_privileges = true});
            EXPECT_NE(denied.find("permission denied opening GPIO chip"), std::string::npos)
                << denied;
            auto first = open_output(gpiod("gpiod:" + chip + ":1"), "first-holder");
            ASSERT_TRUE(first.ok()) << first.error;
            auto second = open_output(gpiod("gpiod:" + chip + ":1"), "second");
            ASSERT_FALSE(second.ok());
            EXPECT_NE(second.error.find("is busy: already requested by 'first-holder'"),
                      std::string::npos)
                << second.error;
            EXPECT_TRUE(first.line->set(true).empty());
            std::ifstream v(sysfs + "/sim_gpio1/value");
            int level = -1;
            v >> level;
            EXPECT_EQ(level, 1);
            // An input line sees the edge the simulator's pull makes.
            auto in = open_input(gpiod("gpiod:" + chip + ":3"), "observer");
            ASSERT_TRUE(in.ok()) << in.error;
            EXPECT_EQ(in.line->event_clock(), EventClock::kMonotonic);
            timespec t0{};
            clock_gettime(CLOCK_MONOTONIC, &t0);
            std::ofstream(sysfs + "/sim_gpio3/pull") << "pull-up";
            EdgeEvent ev;
            std::string err;
            ASSERT_EQ(in.line->wait_edge(2s, &ev, &err), InputLine::Wait::kEdge) << err;
            EXPECT_EQ(ev.edge, Edge::kRising);
            const int64_t start = static_cast<int64_t>(t0.tv_sec) * 1'000'000'000 + t0.tv_nsec;
            EXPECT_GE(ev.timestamp_ns, start);
            EXPECT_LT(ev.timestamp_ns, start + 2'000'000'000);
          }
        };
        auto* t = new T;
        t->chip = chip;
        t->sysfs = sysfs;
        return t;
      });
}

}  // namespace
}  // namespace timesync::gpio

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* chip = std::getenv("TIMESYNC_GPIO_SIM_CHIP");
  const char* sysfs = std::getenv("TIMESYNC_GPIO_SIM_SYSFS");
  if (chip != nullptr && sysfs != nullptr) {
    timesync::gpio::register_gpio_sim_tests(chip, sysfs);
  }
  return RUN_ALL_TESTS();
}
