// Logging for the daemons: one line per message on stderr, which systemd's
// journal (or the terminal) captures. Format:
//   2026-11-21T10:11:12.345678Z timesync-agent[4242] WARNING: message
// Messages below the configured level are dropped before formatting.
//
// Thread safety: every function may be called from any thread; each message is
// written with a single write(2), so lines from several threads never interleave.
#pragma once

#include "timesync/config/config.hpp"

namespace timesync::daemon {

using config::LogLevel;

void set_log_program(const char* name);  // the string must outlive the program
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace timesync::daemon

#define TS_LOG_DEBUG(...) ::timesync::daemon::log(::timesync::config::LogLevel::kDebug, __VA_ARGS__)
#define TS_LOG_INFO(...) ::timesync::daemon::log(::timesync::config::LogLevel::kInfo, __VA_ARGS__)
#define TS_LOG_WARN(...) ::timesync::daemon::log(::timesync::config::LogLevel::kWarning, __VA_ARGS__)
#define TS_LOG_ERROR(...) ::timesync::daemon::log(::timesync::config::LogLevel::kError, __VA_ARGS__)
