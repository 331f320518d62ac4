// The netem proxy's schedule: the path changes at given times after the proxy
// starts (a route change, a loss burst), e.g.
//
//   --schedule 12:2:0.3:0,22.5:0.1:0.1:0
//
// means "from 12 s after start, 2 ms up and 0.3 ms down, no loss; from 22.5 s,
// 0.1 ms each way". Before the first entry the --delay-*/--loss options hold.
// Jitter and the retransmission timeout are not scheduled.
//
// Pure: no clock reads (the caller passes the elapsed time). Thread safety:
// a Schedule is immutable once parsed; share it freely.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace timesync::lab {

struct Path {
  double delay_up_ms = 0, delay_down_ms = 0, loss = 0;  // loss: probability [0, 1]
};

struct Phase {
  int64_t from_ns = 0;  // since the proxy started
  Path path;
};

// Entries "T:UP_MS:DOWN_MS:LOSS" separated by commas, T in seconds,
// non-decreasing; delays in [0, 10000] ms, loss in [0, 1]. False and *why on
// a malformed entry.
bool parse_schedule(const std::string& text, std::vector<Phase>* out, std::string* why);

// The path in force `elapsed_ns` after start: the last phase that has begun,
// or `base` before the first.
Path path_at(const std::vector<Phase>& schedule, const Path& base, int64_t elapsed_ns);

}  // namespace timesync::lab
