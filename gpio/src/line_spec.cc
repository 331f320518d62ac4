#include <charconv>
#include <vector>

#include "timesync/gpio/line.hpp"
#include "wire_layout.hpp"

namespace timesync::gpio {

const char* to_string(EventClock c) {
  return c == EventClock::kMonotonic ? "CLOCK_MONOTONIC" : "CLOCK_MONOTONIC_RAW";
}

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos
                                                               : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

template <class T>
bool parse_int(std::string_view s, T* out) {
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

std::string LineSpec::wire_path() const {
  if (wire.find('/') != std::string::npos) return wire;
  return "/dev/shm/timesync-wire-" + wire;
}

std::string LineSpec::to_string() const {
  if (kind == Kind::kGpiod) {
    return "gpiod:" + chip + ":" + std::to_string(offset) + (active_low ? ",active-low" : "");
  }
  return "wire:" + wire + ":" + std::to_string(offset) +
         (delay_ns != 0 ? ",delay-ns=" + std::to_string(delay_ns) : "");
}

ParsedSpec parse_line_spec(std::string_view text) {
  ParsedSpec r;
  const std::string quoted = "line '" + std::string(text) + "': ";
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  if (colon == std::string_view::npos || (kind != "gpiod" && kind != "wire")) {
    r.error = quoted + "expected gpiod:CHIP:OFFSET[,active-low] or wire:NAME:LINE[,delay-ns=N]";
    return r;
  }
  std::string_view rest = text.substr(colon + 1);
  const size_t last = rest.rfind(':');
  if (last == std::string_view::npos || last == 0) {
    r.error = quoted + "missing " + (kind == "gpiod" ? "chip" : "wire name") + " or line";
    return r;
  }
  const std::vector<std::string_view> tail = split(rest.substr(last + 1), ',');
  r.spec.kind = kind == "gpiod" ? LineSpec::Kind::kGpiod : LineSpec::Kind::kWire;
  (kind == "gpiod" ? r.spec.chip : r.spec.wire) = std::string(rest.substr(0, last));
  const unsigned limit = kind == "gpiod" ? 65535u : static_cast<unsigned>(kWireLines - 1);
  if (!parse_int(tail[0], &r.spec.offset) || r.spec.offset > limit) {
    r.error = quoted + "line offset '" + std::string(tail[0]) + "' is not an integer in [0, " +
              std::to_string(limit) + "]";
    return r;
  }
  for (size_t i = 1; i < tail.size(); ++i) {
    const std::string_view opt = tail[i];
    if (kind == "gpiod" && opt == "active-low") {
      r.spec.active_low = true;
    } else if (kind == "wire" && opt.substr(0, 9) == "delay-ns=") {
      if (!parse_int(opt.substr(9), &r.spec.delay_ns) || r.spec.delay_ns < 0 ||
          r.spec.delay_ns > 1'000'000'000) {
        r.error = quoted + "delay-ns must be an integer in [0, 1000000000]";
        return r;
      }
    } else {
      r.error = quoted + "unknown option '" + std::string(opt) + "' (" +
                (kind == "gpiod" ? "gpiod lines take active-low" : "wires take delay-ns=N") + ")";
      return r;
    }
  }
  return r;
}

Opened<OutputLine> open_output(const LineSpec& spec, const std::string& consumer) {
  return spec.kind == LineSpec::Kind::kGpiod ? open_gpiod_output(spec, consumer)
                                             : open_wire_output(spec, consumer);
}

Opened<InputLine> open_input(const LineSpec& spec, const std::string& consumer) {
  return spec.kind == LineSpec::Kind::kGpiod ? open_gpiod_input(spec, consumer)
                                             : open_wire_input(spec, consumer);
}

}  // namespace timesync::gpio
