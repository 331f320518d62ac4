#include "schedule.hpp"

#include <gtest/gtest.h>

namespace timesync::lab {
namespace {

TEST(Schedule, RouteChangeAndBack) {
  std::vector<Phase> s;
  std::string why;
  ASSERT_TRUE(parse_schedule("12:2:0.3:0,22.5:0.1:0.1:0", &s, &why)) << why;
  ASSERT_EQ(s.size(), 2u);
  const Path base{0.1, 0.1, 0};
  EXPECT_DOUBLE_EQ(path_at(s, base, 0).delay_up_ms, 0.1);
  EXPECT_DOUBLE_EQ(path_at(s, base, 11'999'999'999).delay_up_ms, 0.1);
  EXPECT_DOUBLE_EQ(path_at(s, base, 12'000'000'000).delay_up_ms, 2.0);
  EXPECT_DOUBLE_EQ(path_at(s, base, 12'000'000'000).delay_down_ms, 0.3);
  EXPECT_DOUBLE_EQ(path_at(s, base, 22'500'000'000).delay_up_ms, 0.1);
  EXPECT_DOUBLE_EQ(path_at(s, base, 1'000'000'000'000).delay_down_ms, 0.1);
}

TEST(Schedule, LossBurst) {
  std::vector<Phase> s;
  std::string why;
  ASSERT_TRUE(parse_schedule("8:0.1:0.1:1,9.5:0.1:0.1:0", &s, &why)) << why;
  const Path base{0.1, 0.1, 0};
  EXPECT_DOUBLE_EQ(path_at(s, base, 8'500'000'000).loss, 1.0);
  EXPECT_DOUBLE_EQ(path_at(s, base, 9'500'000'000).loss, 0.0);
}

TEST(Schedule, RefusesMalformedEntries) {
  std::vector<Phase> s;
  std::string why;
  for (const char* bad : {"", "1:2:3", "1:2:3:4:5", "x:1:1:0", "1:1:1:1.5", "1:-1:1:0",
                          "5:1:1:0,4:1:1:0", "1:1:1:0,"}) {
    EXPECT_FALSE(parse_schedule(bad, &s, &why)) << bad;
  }
  EXPECT_FALSE(parse_schedule("5:1:1:0,4:1:1:0", &s, &why));
  EXPECT_NE(why.find("before"), std::string::npos);
}

}  // namespace
}  // namespace timesync::lab
