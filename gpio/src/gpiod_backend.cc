// The libgpiod 1.6 backend (C++ bindings, v1 character-device uAPI).
//
// libgpiod reports every failure as an exception; they stop here and become
// messages that say which chip and line, what went wrong and what to try.
#include <gpiod.hpp>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "timesync/gpio/line.hpp"

namespace timesync::gpio {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string chip_error(const std::string& chip, int e) {
  const std::string q = "GPIO chip '" + chip + "'";
  switch (e) {
    case ENOENT:
    case ENODEV:
      return "no " + q + " (looked up as a name, a /dev path, a label and a number); "
             "`gpiodetect` lists the chips this machine has";
    case EACCES:
    case EPERM:
      return "permission denied opening " + q +
             ": run as root, or give this user access to the /dev/gpiochipN node "
             "(e.g. a udev rule for group gpio)";
    case ENOTTY:
    case EINVAL:
      return q + " is not a GPIO character device";
    default:
      return "cannot open " + q + ": " + errno_text(e);
  }
}

// OPEN_LOOKUP tries every kind of name in turn and leaves the errno of the
// last attempt, so a permission error on the path would read as "not found".
// Choose the kind here and keep the first error that is not "no such chip".
std::string open_chip(const std::string& name, gpiod::chip* chip) {
  const bool digits = !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
  std::vector<int> modes;
  if (name.find('/') != std::string::npos) {
    modes = {gpiod::chip::OPEN_BY_PATH};
  } else if (digits) {
    modes = {gpiod::chip::OPEN_BY_NUMBER};
  } else {
    modes = {gpiod::chip::OPEN_BY_NAME, gpiod::chip::OPEN_BY_LABEL};
  }
  int err = ENOENT;
  for (int how : modes) {
    try {
      chip->open(name, how);
      return "";
    } catch (const std::system_error& e) {
      if (err == ENOENT || err == ENODEV) err = e.code().value();
    } catch (const std::exception& e) {
      return "cannot open GPIO chip '" + name + "': " + e.what();
    }
  }
  return chip_error(name, err);
}

std::string line_name(const gpiod::chip& chip, const LineSpec& spec) {
  return "line " + std::to_string(spec.offset) + " of GPIO chip '" + chip.name() + "' (" +
         chip.label() + ")";
}

// Opens the chip and requests the line; returns an error message or "".
std::string request(const LineSpec& spec, const std::string& consumer, int type,
                    gpiod::line* out) {
  gpiod::chip chip;
  if (std::string e = open_chip(spec.chip, &chip); !e.empty()) return e;
  const unsigned n = chip.num_lines();
  if (spec.offset >= n) {
    return "line offset " + std::to_string(spec.offset) + " is out of range: GPIO chip '" +
           chip.name() + "' (" + chip.label() + ") has lines 0.." + std::to_string(n - 1);
  }
  gpiod::line line;
  try {
    line = chip.get_line(spec.offset);
    gpiod::line_request req;
    req.consumer = consumer;
    req.request_type = type;
    if (spec.active_low) req.flags = gpiod::line_request::FLAG_ACTIVE_LOW;
    line.request(req, 0);
  } catch (const std::system_error& e) {
    const int err = e.code().value();
    if (err == EBUSY) {
      std::string who;
      try {
        line.update();
        who = line.consumer();
      } catch (const std::exception&) {
      }
      return line_name(chip, spec) + " is busy: already requested by " +
             (who.empty() ? std::string("another process") : "'" + who + "'") +
             " (`gpioinfo` shows who holds it)";
    }
    if (err == EACCES || err == EPERM) {
      return "permission denied requesting " + line_name(chip, spec);
    }
    return "cannot request " + line_name(chip, spec) + ": " + errno_text(err);
  } catch (const std::exception& e) {
    return "cannot request " + line_name(chip, spec) + ": " + e.what();
  }
  *out = line;
  return "";
}

// Destructors must not throw; a line whose chip vanished is released anyway.
void release_quietly(gpiod::line& line) {
  try {
    line.release();
  } catch (const std::exception&) {
  }
}

class GpiodOutput final : public OutputLine {
 public:
  GpiodOutput(gpiod::line line, LineSpec spec) : line_(std::move(line)), spec_(std::move(spec)) {}
  ~GpiodOutput() override { release_quietly(line_); }
  std::string set(bool active) override {
    try {
      line_.set_value(active ? 1 : 0);
      return "";
    } catch (const std::exception& e) {
      return "cannot set " + spec_.to_string() + ": " + e.what();
    }
  }
  std::string describe() const override { return spec_.to_string(); }

 private:
  gpiod::line line_;
  LineSpec spec_;
};

class GpiodInput final : public InputLine {
 public:
  GpiodInput(gpiod::line line, LineSpec spec) : line_(std::move(line)), spec_(std::move(spec)) {}
  ~GpiodInput() override { release_quietly(line_); }
  Wait wait_edge(std::chrono::nanoseconds timeout, EdgeEvent* event,
                 std::string* error) override {
    try {
      if (!line_.event_wait(timeout)) return Wait::kTimeout;
      const gpiod::line_event ev = line_.event_read();
      event->edge = ev.event_type == gpiod::line_event::RISING_EDGE ? Edge::kRising
                                                                     : Edge::kFalling;
      event->timestamp_ns = static_cast<int64_t>(ev.timestamp.count());
      return Wait::kEdge;
    } catch (const std::exception& e) {
      *error = "reading edges of " + spec_.to_string() + ": " + e.what();
      return Wait::kError;
    }
  }
  // The v1 uAPI stamps events with CLOCK_MONOTONIC since Linux 5.7.
  EventClock event_clock() const override { return EventClock::kMonotonic; }
  std::string describe() const override { return spec_.to_string(); }

 private:
  gpiod::line line_;
  LineSpec spec_;
};

}  // namespace

Opened<OutputLine> open_gpiod_output(const LineSpec& spec, const std::string& consumer) {
  Opened<OutputLine> r;
  gpiod::line line;
  r.error = request(spec, consumer, gpiod::line_request::DIRECTION_OUTPUT, &line);
  if (r.error.empty()) r.line = std::make_unique<GpiodOutput>(line, spec);
  return r;
}

Opened<InputLine> open_gpiod_input(const LineSpec& spec, const std::string& consumer) {
  Opened<InputLine> r;
  gpiod::line line;
  r.error = request(spec, consumer, gpiod::line_request::EVENT_BOTH_EDGES, &line);
  if (r.error.empty()) r.line = std::make_unique<GpiodInput>(line, spec);
  return r;
}

}  // namespace timesync::gpio
