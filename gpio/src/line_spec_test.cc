#include <gtest/gtest.h>

#include "timesync/gpio/line.hpp"

namespace timesync::gpio {
namespace {

TEST(LineSpec, ParsesGpiodWithPathNameLabelAndFlags) {
  auto p = parse_line_spec("gpiod:/dev/gpiochip2:17,active-low");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.spec.kind, LineSpec::Kind::kGpiod);
  EXPECT_EQ(p.spec.chip, "/dev/gpiochip2");
  EXPECT_EQ(p.spec.offset, 17u);
  EXPECT_TRUE(p.spec.active_low);
  EXPECT_EQ(p.spec.to_string(), "gpiod:/dev/gpiochip2:17,active-low");
  // A label may itself hold a colon: the offset is after the last one.
  p = parse_line_spec("gpiod:pinctrl:bcm:4");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.spec.chip, "pinctrl:bcm");
  EXPECT_EQ(p.spec.offset, 4u);
}

TEST(LineSpec, ParsesWireWithDelay) {
  auto p = parse_line_spec("wire:bench:3,delay-ns=2500");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.spec.kind, LineSpec::Kind::kWire);
  EXPECT_EQ(p.spec.wire_path(), "/dev/shm/timesync-wire-bench");
  EXPECT_EQ(p.spec.offset, 3u);
  EXPECT_EQ(p.spec.delay_ns, 2500);
  EXPECT_EQ(parse_line_spec("wire:/tmp/w:0").spec.wire_path(), "/tmp/w");
}

TEST(LineSpec, RejectsBadSpecsWithTheReason) {
  EXPECT_NE(parse_line_spec("gpio:chip0:1").error.find("expected gpiod:CHIP:OFFSET"),
            std::string::npos);
  EXPECT_NE(parse_line_spec("gpiod:gpiochip0").error.find("missing chip"), std::string::npos);
  EXPECT_NE(parse_line_spec("gpiod:gpiochip0:x").error.find("not an integer"), std::string::npos);
  EXPECT_NE(parse_line_spec("wire:w:16").error.find("[0, 15]"), std::string::npos);
  EXPECT_NE(parse_line_spec("wire:w:1,active-low").error.find("unknown option 'active-low'"),
            std::string::npos);
  EXPECT_NE(parse_line_spec("wire:w:1,delay-ns=-5").error.find("delay-ns"), std::string::npos);
  EXPECT_NE(parse_line_spec("gpiod:c:1,pull-up").error.find("unknown option"), std::string::npos);
}

}  // namespace
}  // namespace timesync::gpio
