// GPIO lines for pulse probes: an output a probe drives, an input an observer
// timestamps. Two backends behind one interface:
//   gpiod:CHIP:OFFSET[,active-low]   a real line through libgpiod 1.6 (the v1
//       character-device uAPI). CHIP is a name (gpiochip0), a path
//       (/dev/gpiochip0), a label (pinctrl-bcm2711) or a number (0).
//   wire:NAME:LINE[,delay-ns=N]      a simulated wire: a shared-memory segment
//       (/dev/shm/timesync-wire-NAME, or NAME itself when it holds a '/') that
//       any number of processes on this host drive and watch. An edge carries
//       the host's CLOCK_MONOTONIC_RAW at the moment the line was set, plus the
//       output's propagation delay (delay-ns, default 0).
//
// Edge timestamps: gpiod edges carry the kernel's event timestamp
// (CLOCK_MONOTONIC on kernels >= 5.7), wire edges CLOCK_MONOTONIC_RAW. Edges
// from lines with different clocks cannot be compared; event_clock() says which.
//
// Errors: opening returns a message naming the line and what to do about it
// (missing chip, offset out of range, line busy, permission denied); nothing
// here throws.
//
// Thread safety: one line object per thread. Different objects, in one process
// or many, may drive and watch the same physical line or wire concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace timesync::gpio {

enum class Edge : uint8_t { kRising, kFalling };
enum class EventClock : uint8_t { kMonotonic, kMonotonicRaw };
const char* to_string(EventClock c);

struct EdgeEvent {
  Edge edge = Edge::kRising;
  int64_t timestamp_ns = 0;  // on event_clock() of the line that saw it
};

// What a spec string names; parse() reports a bad spec instead of guessing.
struct LineSpec {
  enum class Kind : uint8_t { kGpiod, kWire };
  Kind kind = Kind::kWire;
  std::string chip;        // gpiod: name, path, label or number
  std::string wire;        // wire: name or path
  unsigned offset = 0;     // gpiod line offset, or wire line index
  bool active_low = false; // gpiod only
  int64_t delay_ns = 0;    // wire only: propagation delay added to this output's edges

  // The segment path of a wire spec.
  std::string wire_path() const;
  std::string to_string() const;
};

struct ParsedSpec {
  LineSpec spec;
  std::string error;  // empty when the spec parsed
  bool ok() const { return error.empty(); }
};
ParsedSpec parse_line_spec(std::string_view text);

class OutputLine {
 public:
  virtual ~OutputLine() = default;
  // Drives the line; `active` honours active-low. Returns an error message, or
  // empty on success.
  virtual std::string set(bool active) = 0;
  virtual std::string describe() const = 0;
};

class InputLine {
 public:
  virtual ~InputLine() = default;
  enum class Wait : uint8_t { kEdge, kTimeout, kError };
  // Waits up to `timeout` for the next edge (both directions are reported).
  // kError leaves a message in *error.
  virtual Wait wait_edge(std::chrono::nanoseconds timeout, EdgeEvent* event,
                         std::string* error) = 0;
  virtual EventClock event_clock() const = 0;
  // Edges that happened but were overwritten before this reader saw them.
  virtual uint64_t lost() const { return 0; }
  virtual std::string describe() const = 0;
};

template <class T>
struct Opened {
  std::unique_ptr<T> line;
  std::string error;  // set when line is null
  bool ok() const { return line != nullptr; }
};

// `consumer` is the name the line is requested under (shown by gpioinfo, or in
// a wire's busy message).
Opened<OutputLine> open_output(const LineSpec& spec, const std::string& consumer);
Opened<InputLine> open_input(const LineSpec& spec, const std::string& consumer);

// Backends, for callers that know which one they want.
Opened<OutputLine> open_gpiod_output(const LineSpec& spec, const std::string& consumer);
Opened<InputLine> open_gpiod_input(const LineSpec& spec, const std::string& consumer);
Opened<OutputLine> open_wire_output(const LineSpec& spec, const std::string& consumer);
Opened<InputLine> open_wire_input(const LineSpec& spec, const std::string& consumer);

}  // namespace timesync::gpio
