#include "timesync/reference/leap_seconds.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>

#include "sha1.hpp"

namespace timesync::reference {
namespace {

constexpr std::size_t kMaxFileBytes = 1 << 20;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// A decimal number of at most 15 digits (NTP seconds have 10).
bool parse_decimal(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 15) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool parse_hex_word(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    uint32_t d = 0;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      d = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    v = v << 4 | d;
  }
  *out = v;
  return true;
}

std::string hex(const std::array<uint32_t, 5>& h) {
  std::string out;
  for (uint32_t w : h) {
    char text[10];
    std::snprintf(text, sizeof text, "%s%08x", out.empty() ? "" : " ", w);
    out += text;
  }
  return out;
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

}  // namespace

Result<LeapSeconds> LeapSeconds::parse(std::string_view text, std::string_view name) {
  const std::string label(name);
  auto at_line = [&](std::size_t line, const std::string& what) {
    return Status(Errc::kMalformed, label + " line " + std::to_string(line) + ": " + what);
  };
  std::optional<int64_t> updated_ntp;
  std::optional<int64_t> expires_ntp;
  std::optional<std::array<uint32_t, 5>> hash;
  std::size_t hash_line = 0;
  std::string hashed;  // the digits the #h hash covers, in file order
  std::vector<LeapEntry> entries;

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.size() >= 2 && line[0] == '#' && (line[1] == '$' || line[1] == '@')) {
      const auto w = words(line.substr(2));
      int64_t v = 0;
      if (w.size() != 1 || !parse_decimal(w[0], &v)) return at_line(line_no, "expected one number after #" + std::string(1, line[1]));
      auto& slot = line[1] == '$' ? updated_ntp : expires_ntp;
      if (slot) return at_line(line_no, "a second #" + std::string(1, line[1]) + " line");
      slot = v;
      hashed += w[0];
      continue;
    }
    if (line.size() >= 2 && line[0] == '#' && line[1] == 'h') {
      const auto w = words(line.substr(2));
      std::array<uint32_t, 5> h{};
      if (w.size() != 5) return at_line(line_no, "#h needs 5 hex words, has " + std::to_string(w.size()));
      for (std::size_t i = 0; i < 5; ++i) {
        if (!parse_hex_word(w[i], &h[i])) return at_line(line_no, "bad hex word '" + std::string(w[i]) + "'");
      }
      if (hash) return at_line(line_no, "a second #h line");
      hash = h;
      hash_line = line_no;
      continue;
    }
    if (!line.empty() && line[0] == '#') continue;  // comment
    const std::string_view data = line.substr(0, std::min(line.find('#'), line.size()));
    const auto w = words(data);
    if (w.empty()) continue;  // blank, or only a comment
    int64_t ntp = 0;
    int64_t dtai = 0;
    if (w.size() != 2 || !parse_decimal(w[0], &ntp) || !parse_decimal(w[1], &dtai) || dtai > 1000) {
      return at_line(line_no, "expected '<NTP seconds> <TAI-UTC>', got '" + std::string(data) + "'");
    }
    if (hash) return at_line(line_no, "data after the #h line");
    const LeapEntry entry{ntp - kNtpToUnixSeconds, static_cast<int>(dtai)};
    if (!entries.empty()) {
      if (entry.utc_s <= entries.back().utc_s) return at_line(line_no, "times must increase");
      const int step = entry.tai_minus_utc_s - entries.back().tai_minus_utc_s;
      if (step != 1 && step != -1) return at_line(line_no, "TAI-UTC must change by one second per entry");
    }
    entries.push_back(entry);
    hashed += w[0];
    hashed += w[1];
  }

  if (!updated_ntp) return Status(Errc::kMalformed, label + ": no #$ (last update) line");
  if (!expires_ntp) return Status(Errc::kMalformed, label + ": no #@ (expiry) line");
  if (entries.empty()) return Status(Errc::kMalformed, label + ": no leap-second entries");
  if (!hash) return Status(Errc::kMalformed, label + ": no #h (hash) line: the list cannot be verified (truncated?)");
  const auto computed = detail::sha1(hashed);
  if (computed != *hash) {
    return Status(Errc::kBadHash, label + " line " + std::to_string(hash_line) + ": hash mismatch: the file says " +
                                      hex(*hash) + ", its data hash to " + hex(computed));
  }
  if (*expires_ntp <= *updated_ntp) return Status(Errc::kMalformed, label + ": expires (#@) before its update (#$)");

  LeapSeconds out;
  out.updated_utc_s_ = *updated_ntp - kNtpToUnixSeconds;
  out.expires_utc_s_ = *expires_ntp - kNtpToUnixSeconds;
  out.entries_ = std::move(entries);
  return out;
}

Result<LeapSeconds> LeapSeconds::load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return system_error(path, errno);
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return system_error(path, err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxFileBytes) {
      ::close(fd);
      return Status(Errc::kMalformed, path + ": larger than " + std::to_string(kMaxFileBytes) + " bytes");
    }
  }
  ::close(fd);
  return parse(text, path);
}

Result<LeapState> LeapSeconds::at(int64_t utc_ns) const {
  const int64_t t = floor_div(utc_ns, 1'000'000'000);
  const auto after = std::upper_bound(entries_.begin(), entries_.end(), t,
                                      [](int64_t v, const LeapEntry& e) { return v < e.utc_s; });
  if (after == entries_.begin()) {
    return Status(Errc::kInvalidArgument, "UTC " + std::to_string(t) + " s is before the list's first entry");
  }
  LeapState state;
  state.tai_minus_utc_s = std::prev(after)->tai_minus_utc_s;
  if (after != entries_.end()) {
    state.next = NextLeap{after->utc_s, after->tai_minus_utc_s,
                          after->tai_minus_utc_s > state.tai_minus_utc_s ? LeapKind::kInsert : LeapKind::kDelete};
  }
  state.expired = t >= expires_utc_s_;
  return state;
}

}  // namespace timesync::reference
