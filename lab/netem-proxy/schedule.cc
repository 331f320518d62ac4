#include "schedule.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace timesync::lab {
namespace {

bool field(const std::string& s, double lo, double hi, double* out) {
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(d) || d < lo || d > hi) return false;
  *out = d;
  return true;
}

}  // namespace

bool parse_schedule(const std::string& text, std::vector<Phase>* out, std::string* why) {
  out->clear();
  if (text.empty() || text.back() == ',') {
    *why = "schedule '" + text + "' is empty or ends with a comma";
    return false;
  }
  std::stringstream entries(text);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    std::vector<std::string> f;
    std::stringstream parts(entry);
    for (std::string p; std::getline(parts, p, ':');) f.push_back(p);
    double t = 0;
    Phase ph;
    if (f.size() != 4 || !field(f[0], 0, 1e9, &t) || !field(f[1], 0, 10000, &ph.path.delay_up_ms) ||
        !field(f[2], 0, 10000, &ph.path.delay_down_ms) || !field(f[3], 0, 1, &ph.path.loss)) {
      *why = "schedule entry '" + entry + "' is not T:UP_MS:DOWN_MS:LOSS";
      return false;
    }
    ph.from_ns = static_cast<int64_t>(std::llround(t * 1e9));
    if (!out->empty() && ph.from_ns < out->back().from_ns) {
      *why = "schedule entry '" + entry + "' starts before the one preceding it";
      return false;
    }
    out->push_back(ph);
  }
  return true;
}

Path path_at(const std::vector<Phase>& schedule, const Path& base, int64_t elapsed_ns) {
  Path p = base;
  for (const Phase& ph : schedule) {
    if (ph.from_ns > elapsed_ns) break;
    p = ph.path;
  }
  return p;
}

}  // namespace timesync::lab
