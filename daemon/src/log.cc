#include "timesync/daemon/log.hpp"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace timesync::daemon {
namespace {

std::atomic<const char*> g_program{"timesync"};
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

}  // namespace

void set_log_program(const char* name) { g_program.store(name, std::memory_order_relaxed); }
void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}
bool log_enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void log(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char line[2048];
  size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &utc);
  int k = std::snprintf(line + n, sizeof line - n, ".%06ldZ %s[%d] %s: ", ts.tv_nsec / 1000,
                        g_program.load(std::memory_order_relaxed), static_cast<int>(getpid()),
                        level_name(level));
  if (k > 0) n += static_cast<size_t>(k);
  va_list ap;
  va_start(ap, fmt);
  k = std::vsnprintf(line + n, sizeof line - n, fmt, ap);
  va_end(ap);
  if (k > 0) n += static_cast<size_t>(k);
  if (n > sizeof line - 2) n = sizeof line - 2;  // truncated: still end the line
  line[n++] = '\n';
  // One write, so concurrent lines stay whole; a failed log write has nowhere to go.
  [[maybe_unused]] ssize_t w = write(STDERR_FILENO, line, n);
}

}  // namespace timesync::daemon
