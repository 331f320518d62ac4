// LeapSeconds against the system's list (tzdata) and against lists made
// wrong in each way the parser must refuse.
#include <gtest/gtest.h>

#include <string>

#include "sha1.hpp"
#include "testing/daemons.hpp"
#include "timesync/reference/leap_seconds.hpp"

namespace timesync::reference {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t k2017 = 1'483'228'800;  // 2017-01-01T00:00:00Z: TAI-UTC 36 -> 37
constexpr int64_t k2015Jul = 1'435'708'800;  // 2015-07-01T00:00:00Z: 35 -> 36

std::string hex_words(const std::array<uint32_t, 5>& h) {
  std::string out;
  for (uint32_t w : h) {
    char t[12];
    std::snprintf(t, sizeof t, " %x", w);  // leading zeros omitted, as the IERS file does
    out += t;
  }
  return out;
}

// A small list with a correct hash: updated, expires, entries (NTP seconds).
std::string make_list(int64_t updated, int64_t expires, const std::vector<std::pair<int64_t, int>>& entries,
                      std::string extra_line = "") {
  std::string text = "# a test list\n#$ " + std::to_string(updated) + "\n#@ " + std::to_string(expires) + "\n";
  std::string hashed = std::to_string(updated) + std::to_string(expires);
  for (const auto& [ntp, dtai] : entries) {
    text += std::to_string(ntp) + "\t" + std::to_string(dtai) + "\t# comment\n";
    hashed += std::to_string(ntp) + std::to_string(dtai);
  }
  text += extra_line;
  text += "#h" + hex_words(detail::sha1(hashed)) + "\n";
  return text;
}

TEST(Sha1, KnownVectors) {
  EXPECT_EQ(detail::sha1("abc"), (std::array<uint32_t, 5>{0xa9993e36, 0x4706816a, 0xba3e2571, 0x7850c26c, 0x9cd0d89d}));
  EXPECT_EQ(detail::sha1(""), (std::array<uint32_t, 5>{0xda39a3ee, 0x5e6b4b0d, 0x3255bfef, 0x95601890, 0xafd80709}));
  // Two blocks (56 bytes: the length no longer fits the first block).
  EXPECT_EQ(detail::sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            (std::array<uint32_t, 5>{0x84983e44, 0x1c3bd26e, 0xbaae4aa1, 0xf95129e5, 0xe54670f1}));
}

TEST(LeapSeconds, TheSystemListVerifiesAndKnowsTheLastLeapSecond) {
  auto list = LeapSeconds::load();
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_FALSE(list->entries().empty());
  EXPECT_EQ(list->entries().front().utc_s, 63'072'000);  // 1972-01-01
  EXPECT_EQ(list->entries().front().tai_minus_utc_s, 10);
  EXPECT_GT(list->expires_utc_s(), list->updated_utc_s());

  auto before = list->at(k2017 * kNs - 1);  // 2016-12-31T23:59:59.999999999 (the leap second itself)
  ASSERT_TRUE(before.ok()) << before.status().message();
  EXPECT_EQ(before->tai_minus_utc_s, 36);
  ASSERT_TRUE(before->next.has_value());
  EXPECT_EQ(before->next->utc_s, k2017);
  EXPECT_EQ(before->next->tai_minus_utc_s, 37);
  EXPECT_EQ(before->next->kind, LeapKind::kInsert);
  EXPECT_FALSE(before->expired);

  auto after = list->at(k2017 * kNs);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->tai_minus_utc_s, 37);

  auto mid2015 = list->at(k2015Jul * kNs - kNs);
  ASSERT_TRUE(mid2015.ok());
  EXPECT_EQ(mid2015->tai_minus_utc_s, 35);
  ASSERT_TRUE(mid2015->next.has_value());
  EXPECT_EQ(mid2015->next->utc_s, k2015Jul);

  auto past_expiry = list->at((list->expires_utc_s() + 1) * kNs);
  ASSERT_TRUE(past_expiry.ok());
  EXPECT_TRUE(past_expiry->expired);
  EXPECT_EQ(past_expiry->tai_minus_utc_s, list->entries().back().tai_minus_utc_s);

  auto too_early = list->at(0);
  EXPECT_EQ(too_early.code(), Errc::kInvalidArgument) << "1970: before the list's first entry";
}

TEST(LeapSeconds, ATamperedSystemListFailsItsHash) {
  const std::string original = testing::read_file(kSystemLeapSecondsList);
  ASSERT_FALSE(original.empty());
  // Expiry pushed a year on (the tamper that would hide a missed leap second):
  // only the hash can tell.
  std::string text = original;
  const auto at = text.find("\n#@");
  ASSERT_NE(at, std::string::npos);
  const auto digit = text.find_first_of("0123456789", at);
  const auto end = text.find_first_not_of("0123456789", digit);
  const int64_t expires = std::stoll(text.substr(digit, end - digit));
  text.replace(digit, end - digit, std::to_string(expires + 31'536'000));
  auto r = LeapSeconds::parse(text, "tampered");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kBadHash) << r.status().message();
  EXPECT_EQ(r.status().message().rfind("tampered line ", 0), 0u) << r.status().message();

  // The 2017 leap second turned into two: the one-second step rule refuses it, naming the line.
  text = original;
  const auto entry = text.find("\n3692217600");
  ASSERT_NE(entry, std::string::npos) << "the 2017 entry";
  const auto pos = text.find("37", entry + 11);
  text[pos + 1] = '8';  // 37 -> 38
  r = LeapSeconds::parse(text, "tampered");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), Errc::kMalformed) << r.status().message();
  EXPECT_NE(r.status().message().find("TAI-UTC must change by one second"), std::string::npos) << r.status().message();
}

TEST(LeapSeconds, ADeleteSecondAndItsAnnouncement) {
  // 1972-01-01 10 s, then 1972-07-01 9 s: a (hypothetical) deleted second.
  const std::string text = make_list(3'900'000'000, 3'950'000'000, {{2'272'060'800, 10}, {2'287'785'600, 9}});
  auto list = LeapSeconds::parse(text);
  ASSERT_TRUE(list.ok()) << list.status().message();
  auto s = list->at((2'287'785'600 - kNtpToUnixSeconds - 10) * kNs);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->tai_minus_utc_s, 10);
  ASSERT_TRUE(s->next.has_value());
  EXPECT_EQ(s->next->kind, LeapKind::kDelete);
  EXPECT_EQ(s->next->utc_s, 2'287'785'600 - kNtpToUnixSeconds);
  auto later = list->at((2'287'785'600 - kNtpToUnixSeconds) * kNs);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->tai_minus_utc_s, 9);
  EXPECT_FALSE(later->next.has_value());
}

struct Bad {
  const char* name;
  std::string text;
  Errc code;
  const char* says;
};

TEST(LeapSeconds, RefusesWhatCannotBeVerifiedNamingTheLine) {
  const std::vector<std::pair<int64_t, int>> good = {{2'272'060'800, 10}, {2'287'785'600, 11}};
  const std::string ok = make_list(3'900'000'000, 3'950'000'000, good);
  ASSERT_TRUE(LeapSeconds::parse(ok).ok()) << LeapSeconds::parse(ok).status().message();

  std::string no_hash = ok.substr(0, ok.find("#h"));
  std::string bad_hash = ok;
  bad_hash[bad_hash.find("#h") + 3] = bad_hash[bad_hash.find("#h") + 3] == '1' ? '2' : '1';
  std::string bad_word = ok.substr(0, ok.find("#h")) + "#h 1 2 3 4 xyz\n";
  std::string four_words = ok.substr(0, ok.find("#h")) + "#h 1 2 3 4\n";
  std::string no_expiry = ok;
  no_expiry.erase(no_expiry.find("#@"), no_expiry.find('\n', no_expiry.find("#@")) - no_expiry.find("#@") + 1);
  const std::vector<Bad> cases = {
      {"no hash", no_hash, Errc::kMalformed, "no #h"},
      {"hash mismatch", bad_hash, Errc::kBadHash, "line 6: hash mismatch"},
      {"bad hex", bad_word, Errc::kMalformed, "line 6: bad hex word 'xyz'"},
      {"four words", four_words, Errc::kMalformed, "#h needs 5 hex words"},
      {"no expiry", no_expiry, Errc::kMalformed, "no #@"},
      {"garbage line", make_list(3'900'000'000, 3'950'000'000, good, "hello world\n"), Errc::kMalformed,
       "line 6: expected '<NTP seconds> <TAI-UTC>'"},
      {"times go back", make_list(3'900'000'000, 3'950'000'000, {{2'287'785'600, 10}, {2'272'060'800, 11}}),
       Errc::kMalformed, "line 5: times must increase"},
      {"two-second step", make_list(3'900'000'000, 3'950'000'000, {{2'272'060'800, 10}, {2'287'785'600, 12}}),
       Errc::kMalformed, "line 5: TAI-UTC must change by one second"},
      {"expires before update", make_list(3'950'000'000, 3'900'000'000, good), Errc::kMalformed,
       "expires (#@) before its update"},
      {"empty", "", Errc::kMalformed, "no #$"},
      {"binary", std::string("\x00\xff\x01\n#$ \xff\n", 9), Errc::kMalformed, "line 1: expected '<NTP seconds>"},
  };
  for (const Bad& c : cases) {
    auto r = LeapSeconds::parse(c.text, "list");
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.code(), c.code) << c.name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.name << ": " << r.status().message();
  }
}

TEST(LeapSeconds, LoadNamesAMissingFileAndRefusesADirectory) {
  auto missing = LeapSeconds::load("/nonexistent/leap-seconds.list");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), Errc::kSystem);
  EXPECT_NE(missing.status().message().find("/nonexistent/leap-seconds.list"), std::string::npos);
  auto dir = LeapSeconds::load("/");
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.code(), Errc::kSystem) << dir.status().message();  // read(2): EISDIR
}

}  // namespace
}  // namespace timesync::reference
