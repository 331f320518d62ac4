// The schema tables and the one loader that walks them. yaml-cpp is used here
// and nowhere else; its exceptions are caught before they reach a caller.
#include "timesync/config/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

namespace timesync::config {
namespace {

// ---- What a table row can declare.

struct Flag {
  bool def = false;
};
struct Int {
  int64_t def, min, max;
};
enum class Ends { kClosed, kOpen };  // kOpen excludes both ends
template <bool kSeconds>  // only changes how describe_*() names the type
struct Number {
  double def, min, max;
  Ends ends = Ends::kClosed;
};
using Real = Number<false>;
using Duration = Number<true>;
struct TextRule {
  bool (*ok)(std::string_view);
  std::string_view what;  // completes "expected ..."
};
struct Text {
  std::string_view def;
  const TextRule* rule = nullptr;
};
struct Choice {
  std::span<const std::string_view> values;  // index == enumerator value
  std::string_view def;
};
// A list of strings, each checked by `rule`: a YAML sequence, or one scalar
// for a list of one. The default is the empty list.
struct TextList {
  const TextRule* rule = nullptr;
  size_t max = 0;  // at most this many
};
using Kind = std::variant<Flag, Int, Real, Duration, Text, Choice, TextList>;

// A checked value; a Choice is held as the index of its name.
using Value = std::variant<bool, int64_t, double, std::string, std::vector<std::string>>;

template <class Cfg>
struct Key {
  std::string_view name;  // dotted path, as written in the file
  Kind kind;
  std::string_view help;
  bool required = false;
  void (*store)(Cfg&, const Value&) = nullptr;  // null: checked, not stored
};

// A condition spanning keys. The error points at `second` when the file sets
// it (the later of the two in the table), else at `third` (a key the
// condition also reads, if any) when the file sets that, else at `first`.
template <class Cfg>
struct Rule {
  std::string_view first, second;
  std::string_view text;                  // for describe_*()
  std::string (*violation)(const Cfg&);   // "" when satisfied
  std::string_view third = "";
};

template <class Cfg>
struct Schema {
  std::string_view role;
  std::vector<Key<Cfg>> keys;
  std::vector<Rule<Cfg>> rules;
};

template <class F>
void assign(F& field, const Value& v) {
  if constexpr (std::is_same_v<F, bool> || std::is_same_v<F, double> ||
                std::is_same_v<F, std::string> || std::is_same_v<F, std::vector<std::string>>) {
    field = std::get<F>(v);
  } else {
    field = static_cast<F>(std::get<int64_t>(v));  // range-checked already
  }
}

template <class K, class F>
constexpr bool kFits =
    (std::is_same_v<K, Flag> && std::is_same_v<F, bool>) ||
    (std::is_same_v<K, Int> && std::is_integral_v<F> && !std::is_same_v<F, bool>) ||
    ((std::is_same_v<K, Real> || std::is_same_v<K, Duration>) && std::is_same_v<F, double>) ||
    (std::is_same_v<K, Text> && std::is_same_v<F, std::string>) ||
    (std::is_same_v<K, TextList> && std::is_same_v<F, std::vector<std::string>>) ||
    (std::is_same_v<K, Choice> && std::is_enum_v<F>);

// Get is a captureless lambda returning the field, so the stored function can
// rebuild it: one generic store per field, no per-key code.
template <class Cfg, class K, class Get>
Key<Cfg> key(std::string_view name, Get, K kind, std::string_view help) {
  using F = std::remove_reference_t<std::invoke_result_t<Get, Cfg&>>;
  static_assert(kFits<K, F>, "the key's kind does not match its field's type");
  return {name, kind, help, false, [](Cfg& c, const Value& v) { assign(Get{}(c), v); }};
}

template <class Cfg>
Key<Cfg> required(Key<Cfg> k) {
  k.required = true;
  return k;
}

// The key's name is the field's path, so the two cannot disagree.
#define TS_FIELD(path) #path, [](Cfg& c) -> auto& { return c.path; }

// ---- Names of the enums (the header's enumerators follow this order).

constexpr std::array<std::string_view, 2> kRoles{"master", "client"};
// Masters an agent may list, standbys a primary may ask.
constexpr size_t kMaxMasters = 8;
constexpr std::array<std::string_view, 4> kLogLevels{"debug", "info", "warning", "error"};
constexpr std::array<std::string_view, 2> kTimebases{"monotonic", "realtime"};
constexpr std::array<std::string_view, 2> kServoTypes{"pll", "kalman"};
constexpr std::array<std::string_view, 3> kTransports{"auto", "grpc", "udp"};
constexpr std::array<std::string_view, 4> kTimestampings{"auto", "hardware", "software", "user"};
constexpr std::array<std::string_view, 3> kReferenceSources{"none", "chrony", "ptp"};
constexpr std::array<std::string_view, 3> kCounterUses{"auto", "on", "off"};

// ---- Text rules.

bool is_host_port(std::string_view s) {
  // No host name or address holds a space or a control character.
  if (std::any_of(s.begin(), s.end(), [](char c) {
        return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
      }))
    return false;
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view port = s.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  return ec == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
}
bool is_absolute_path(std::string_view s) { return !s.empty() && s[0] == '/'; }
bool is_empty_or_host_port(std::string_view s) { return s.empty() || is_host_port(s); }
// Checked at load time, as the user the daemon runs as, so a certificate the
// service cannot read is reported as file:line:key by --check-config.
bool is_empty_or_readable_file(std::string_view s) {
  if (s.empty()) return true;
  if (!is_absolute_path(s)) return false;
  const std::string path(s);
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), R_OK) == 0;
}
bool is_dns_name_or_empty(std::string_view s) {
  return s.find_first_of(" \t/:") == std::string_view::npos;
}

constexpr TextRule kHostPort{is_host_port, "host:port with a port in 1..65535"};
constexpr TextRule kAbsolutePath{is_absolute_path, "an absolute path"};
constexpr TextRule kOptionalHostPort{is_empty_or_host_port,
                                     "\"\" (off) or host:port with a port in 1..65535"};
constexpr TextRule kOptionalFile{is_empty_or_readable_file,
                                 "\"\" or the absolute path of a readable file"};
bool is_empty_path_or_host_port(std::string_view s) {
  return s.empty() || (is_absolute_path(s) && s.size() < 108 &&
                       std::none_of(s.begin(), s.end(), [](char c) {
                         return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
                       })) ||
         is_host_port(s);
}
constexpr TextRule kReferenceSocket{is_empty_path_or_host_port,
                                    "\"\" (the daemon's default), an absolute Unix socket path "
                                    "(under 108 bytes) or IP:port"};
bool is_empty_or_socket_path(std::string_view s) {
  return s.empty() || (is_absolute_path(s) && s.size() < 108 &&
                       std::none_of(s.begin(), s.end(), [](char c) {
                         return static_cast<unsigned char>(c) <= 0x20 || c == 0x7F;
                       }));
}
constexpr TextRule kOptionalSocketPath{is_empty_or_socket_path,
                                       "\"\" (off) or an absolute Unix socket path under 108 bytes, "
                                       "without spaces"};
constexpr TextRule kServerName{is_dns_name_or_empty, "a host name (no spaces, '/' or ':')"};
bool is_interface_name(std::string_view s) {
  // IFNAMSIZ is 16 with its NUL; no '/' or whitespace (the kernel refuses them).
  return s.size() < 16 && s.find_first_of(" \t\n/:") == std::string_view::npos;
}
constexpr TextRule kInterfaceName{is_interface_name, "\"\" or a network interface name"};

// The id travels in every request (the master refuses a client_id over 256
// bytes) or every answer (a long master id makes each one larger than an
// agent accepts), lands in logs and metric labels, and is a protobuf string
// (UTF-8, or the message does not parse).
constexpr size_t kMaxIdBytes = 256;

// Length of the well-formed UTF-8 sequence at s[i], 0 if there is none.
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1Fu;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0Fu;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3Fu);
  }
  // Overlong forms, UTF-16 surrogates, past U+10FFFF.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

bool is_id(std::string_view s) {
  if (s.size() > kMaxIdBytes) return false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    const size_t n = utf8_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}
constexpr TextRule kId{is_id,
                       "\"\" or at most 256 bytes of printable UTF-8 (no control characters)"};

// host:port -> (host, port); callers have checked is_host_port.
std::pair<std::string_view, std::string_view> split_host_port(std::string_view s) {
  const size_t colon = s.rfind(':');
  return {s.substr(0, colon), s.substr(colon + 1)};
}
bool is_wildcard_host(std::string_view h) {
  return h == "0.0.0.0" || h == "[::]" || h == "::" || h == "*" || h.empty();
}
// Two TCP listeners that cannot both bind: the same port on the same host, or
// on a wildcard address and any host.
bool same_listener(std::string_view a, std::string_view b) {
  if (!is_host_port(a) || !is_host_port(b)) return false;
  const auto [ha, pa] = split_host_port(a);
  const auto [hb, pb] = split_host_port(b);
  return pa == pb && (ha == hb || is_wildcard_host(ha) || is_wildcard_host(hb));
}

// ---- Formatting.

// A value from the file as an error quotes it: at most kExcerptChars
// characters, "..." when cut, control characters and bytes that are not UTF-8
// escaped (\n, \t, \r, \xNN). So an error is always one short, printable line,
// whatever the file holds (a megabyte value, a forged log line).
constexpr size_t kExcerptChars = 40;
std::string escaped(std::string_view s, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < s.size(); ++chars) {
    if (chars == max_chars) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = utf8_length(s, i);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F || n == 0) {
      std::array<char, 8> b{};
      std::snprintf(b.data(), b.size(), "\\x%02x", c);
      out += b.data();
    } else {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}
std::string excerpt(std::string_view s) { return escaped(s, kExcerptChars); }
// File names are the operator's, shown whole but escaped.
std::string printable(std::string_view s) { return escaped(s, std::string_view::npos); }

// Shortest text that reads back as v, with "1e6" rather than "1e+06", and
// "0.0005" rather than "5e-4".
std::string fmt(double v) {
  std::array<char, 32> buf{};
  const bool small = v != 0 && std::fabs(v) < 1 && std::fabs(v) >= 1e-6;
  auto r = small ? std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::fixed)
                 : std::to_chars(buf.data(), buf.data() + buf.size(), v);
  std::string s(buf.data(), r.ptr);
  size_t e = s.find('e');
  if (e == std::string::npos) return s;
  std::string exp = s.substr(e + 1);
  bool neg = exp[0] == '-';
  exp.erase(0, exp.find_first_not_of("+-0"));
  return s.substr(0, e + 1) + (neg ? "-" : "") + exp;
}

template <bool kS>
std::string range_text(const Number<kS>& n) {
  bool open = n.ends == Ends::kOpen;
  return (open ? "(" : "[") + fmt(n.min) + ", " + fmt(n.max) + (open ? ")" : "]");
}
std::string range_text(const Int& n) {
  return "[" + std::to_string(n.min) + ", " + std::to_string(n.max) + "]";
}
std::string join(std::span<const std::string_view> values) {
  std::string out;
  for (std::string_view v : values) out += (out.empty() ? "" : ", ") + std::string(v);
  return out;
}

std::string got(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return "'" + excerpt(n.Scalar()) + "'";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    default: return "nothing";
  }
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>  // clang 14 (the fuzz build) has no aggregate deduction
Overloaded(F...) -> Overloaded<F...>;

// ---- Checking one value.

bool parse_int(std::string_view s, int64_t* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc() && end == s.data() + s.size()) return true;
  // An integral number written with an exponent (1e9) is still an integer.
  double d = 0;
  auto [dend, dec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (dec != std::errc() || dend != s.data() + s.size() || d != std::floor(d) ||
      std::fabs(d) >= 0x1p63)
    return false;
  *out = static_cast<int64_t>(d);
  return true;
}

bool parse_double(std::string_view s, double* out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(*out);
}

// The range part of a check, shared by file values and table defaults.
// `raw` is the value as written. Returns "" when v is acceptable.
std::string check(const Kind& kind, const Value& v, std::string_view raw) {
  const std::string shown = excerpt(raw);
  return std::visit(
      Overloaded{
          [&](const Int& k) -> std::string {
            int64_t x = std::get<int64_t>(v);
            if (x >= k.min && x <= k.max) return "";
            return shown + " is out of range " + range_text(k);
          },
          [&]<bool kS>(const Number<kS>& k) -> std::string {
            double x = std::get<double>(v);
            bool in = k.ends == Ends::kOpen ? x > k.min && x < k.max : x >= k.min && x <= k.max;
            if (in) return "";
            return shown + " is out of range " + range_text(k);
          },
          [&](const Text& k) -> std::string {
            if (k.rule == nullptr || k.rule->ok(std::get<std::string>(v))) return "";
            return "expected " + std::string(k.rule->what) + ", got '" + shown + "'";
          },
          [&](const Choice& k) -> std::string {
            auto i = std::get<int64_t>(v);
            if (i >= 0 && static_cast<size_t>(i) < k.values.size()) return "";
            return "expected one of " + join(k.values) + ", got '" + shown + "'";
          },
          [&](const TextList& k) -> std::string {
            const auto& items = std::get<std::vector<std::string>>(v);
            if (items.size() > k.max)
              return "a list of " + std::to_string(items.size()) + " items, at most " +
                     std::to_string(k.max) + " allowed";
            for (size_t i = 0; i < items.size(); ++i) {
              // A list of one reads as the single value it usually is.
              const std::string item =
                  items.size() == 1 ? std::string() : "item " + std::to_string(i + 1) + ": ";
              if (k.rule != nullptr && !k.rule->ok(items[i]))
                return item + "expected " + std::string(k.rule->what) + ", got '" +
                       excerpt(items[i]) + "'";
              for (size_t j = 0; j < i; ++j) {
                if (items[j] == items[i])
                  return "item " + std::to_string(i + 1) + " ('" + excerpt(items[i]) +
                         "') repeats item " + std::to_string(j + 1);
              }
            }
            return "";
          },
          [](const Flag&) -> std::string { return ""; },
      },
      kind);
}

// Parses and checks a value from the file. Returns "" or what is wrong.
std::string parse_value(const Kind& kind, const YAML::Node& n, Value* out) {
  const std::string text = n.IsScalar() ? n.Scalar() : std::string();
  std::string why = std::visit(
      Overloaded{
          [&](const Flag&) -> std::string {
            bool b = false;
            if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b))
              return "expected true or false, got " + got(n);
            *out = b;
            return "";
          },
          [&](const Int& k) -> std::string {
            int64_t x = 0;
            double d = 0;
            if (n.IsScalar() && parse_int(text, &x)) {
              *out = x;
              return "";
            }
            // An integer too large for int64 is out of range, not a wrong type.
            if (n.IsScalar() && parse_double(text, &d) && d == std::floor(d))
              return excerpt(text) + " is out of range " + range_text(k);
            return "expected an integer, got " + got(n);
          },
          [&]<bool kS>(const Number<kS>&) -> std::string {
            double x = 0;
            if (!n.IsScalar() || !parse_double(text, &x)) return "expected a number, got " + got(n);
            *out = x;
            return "";
          },
          [&](const Text&) -> std::string {
            if (!n.IsScalar()) return "expected a string, got " + got(n);
            *out = text;
            return "";
          },
          [&](const Choice& k) -> std::string {
            if (!n.IsScalar()) return "expected one of " + join(k.values) + ", got " + got(n);
            auto it = std::find(k.values.begin(), k.values.end(), text);
            *out = it != k.values.end() ? int64_t{it - k.values.begin()} : int64_t{-1};
            return "";
          },
          [&](const TextList& k) -> std::string {
            std::vector<std::string> items;
            if (n.IsScalar()) {
              items.push_back(text);  // a list of one; [] is the empty list
            } else if (n.IsSequence()) {
              if (n.size() > k.max)
                return "a list of " + std::to_string(n.size()) + " items, at most " +
                       std::to_string(k.max) + " allowed";
              for (size_t i = 0; i < n.size(); ++i) {
                if (!n[i].IsScalar())
                  return "item " + std::to_string(i + 1) + ": expected a string, got " + got(n[i]);
                items.push_back(n[i].Scalar());
              }
            } else if (!n.IsNull()) {
              return "expected a string or a list of strings, got " + got(n);
            }
            *out = std::move(items);
            return "";
          },
      },
      kind);
  return why.empty() ? check(kind, *out, text) : why;
}

Value default_of(const Kind& kind) {
  return std::visit(
      Overloaded{
          [](const Flag& k) -> Value { return k.def; },
          [](const Int& k) -> Value { return k.def; },
          [](const Text& k) -> Value { return std::string(k.def); },
          [](const TextList&) -> Value { return std::vector<std::string>(); },
          [](const Choice& k) -> Value {
            auto it = std::find(k.values.begin(), k.values.end(), k.def);
            return int64_t{it - k.values.begin()};
          },
          [](const auto& k) -> Value { return k.def; },
      },
      kind);
}

std::string default_text(const Kind& kind) {
  return std::visit(
      Overloaded{
          [](const Flag& k) -> std::string { return k.def ? "true" : "false"; },
          [](const Int& k) { return std::to_string(k.def); },
          [](const Text& k) { return "\"" + std::string(k.def) + "\""; },
          [](const Choice& k) { return std::string(k.def); },
          [](const TextList&) { return std::string("[]"); },
          [](const auto& k) { return fmt(k.def); },
      },
      kind);
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string where(const std::string& file, int line) {
  return line > 0 ? printable(file) + ":" + std::to_string(line) + ": " : printable(file) + ": ";
}

// Larger than any configuration: the examples are about 10 kB. Checked
// before parsing, so /dev/zero or a log file given by mistake is refused at
// once rather than read into memory.
constexpr size_t kMaxFileBytes = size_t{1} << 20;

// ---- The loader.

template <class Cfg>
class Loader {
 public:
  Loader(const Schema<Cfg>& schema, const std::string& file) : s_(schema), file_(file) {}

  Loaded<Cfg> run(std::string_view text) {
    if (apply_defaults() && parse(text)) return {std::move(cfg_), ""};
    return {std::nullopt, std::move(error_)};
  }

 private:
  bool fail(int line, const std::string& msg) {
    error_ = where(file_, line) + msg;
    return false;
  }
  static int line_of(const YAML::Node& n) { return n.Mark().line + 1; }

  const Key<Cfg>* find(std::string_view name) const {
    for (const Key<Cfg>& k : s_.keys)
      if (k.name == name) return &k;
    return nullptr;
  }
  bool is_section(const std::string& name) const {
    return std::any_of(s_.keys.begin(), s_.keys.end(), [&](const Key<Cfg>& k) {
      return k.name.size() > name.size() && k.name.starts_with(name) && k.name[name.size()] == '.';
    });
  }

  // Starting from the table's defaults (not Cfg{}) is what lets a test compare
  // the two and catch a member initialiser that disagrees with the table.
  bool apply_defaults() {
    for (const Key<Cfg>& k : s_.keys) {
      if (k.store == nullptr) continue;
      Value v = default_of(k.kind);
      if (!k.required) {
        if (std::string why = check(k.kind, v, default_text(k.kind)); !why.empty())
          return fail(0, "internal error: default of key '" + std::string(k.name) + "': " + why);
      }
      k.store(cfg_, v);
    }
    return true;
  }

  bool parse(std::string_view text) {
    if (text.size() > kMaxFileBytes) {
      return fail(0, "larger than 1 MiB (" + std::to_string(text.size()) +
                         " bytes): not a configuration file");
    }
    YAML::Node root(YAML::NodeType::Map);
    try {
      const std::string all(text);
      int docs = 0, stuck_line = 0, second_line = 0;
      count_documents(all, &docs, &stuck_line, &second_line);
      if (stuck_line > 0) {
        return fail(stuck_line,
                    "YAML syntax error: unexpected ',' outside a flow collection ([...] or {...})");
      }
      if (docs > 1) return fail(second_line, "expected a single YAML document");
      if (docs == 1) root = YAML::Load(all);
    } catch (const YAML::Exception& e) {
      return fail(e.mark.line + 1, "YAML syntax error: " + excerpt(e.msg));
    }
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);  // only comments
    if (!root.IsMap()) return fail(line_of(root), "expected a map of keys, got " + got(root));
    // Where the top-level keys are (line 1 for an empty file).
    root_line_ = std::max(1, line_of(root));
    // The role first: a file for the other program would otherwise fail on
    // whichever of its keys came first, which hides the real mistake.
    if (!check_role(root) || !walk(root, "")) return false;
    for (const Key<Cfg>& k : s_.keys)
      if (k.required && !seen_.contains(std::string(k.name)))
        return fail(section_line(k.name), "missing required key '" + std::string(k.name) + "'");
    for (const Rule<Cfg>& r : s_.rules) {
      std::string why = r.violation(cfg_);
      if (why.empty()) continue;
      std::string at(r.first);
      for (std::string_view k : {r.second, r.third}) {
        if (!k.empty() && seen_.contains(std::string(k))) {
          at = k;
          break;
        }
      }
      auto it = seen_.find(at);
      return fail(it == seen_.end() ? 0 : it->second, "key '" + at + "': " + why);
    }
    return true;
  }

  // yaml-cpp 0.7 (Debian 12) loops forever in LoadAll, allocating until the
  // process dies, on a ',' at document level (upstream issue 1040, fixed in
  // 0.8.1): the parser reports a document there without consuming the token,
  // again and again. So the documents are counted with the event API, at most
  // three, and a document that starts where the previous one did is that bug
  // (found by fuzz_config). Throws YAML::Exception on a syntax error.
  static void count_documents(const std::string& text, int* docs, int* stuck_line,
                              int* second_line) {
    // Where each document starts, and its first node (the line an error
    // about a second document names, as the root node's mark would).
    struct Starts final : YAML::EventHandler {
      YAML::Mark start, node;
      bool seen_node = false;
      void at(const YAML::Mark& m) {
        if (!seen_node) node = m;
        seen_node = true;
      }
      void OnDocumentStart(const YAML::Mark& m) override {
        start = m;
        seen_node = false;
      }
      void OnDocumentEnd() override {}
      void OnNull(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
      void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { at(m); }
      void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    const std::string&) override {
        at(m);
      }
      void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                           YAML::EmitterStyle::value) override {
        at(m);
      }
      void OnSequenceEnd() override {}
      void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                      YAML::EmitterStyle::value) override {
        at(m);
      }
      void OnMapEnd() override {}
    } h;
    std::istringstream in(text);
    YAML::Parser parser(in);
    int previous = -1;
    *docs = 0;
    while (*docs < 3 && parser.HandleNextDocument(h)) {
      if (h.start.pos == previous) {
        *stuck_line = h.start.line + 1;
        return;
      }
      previous = h.start.pos;
      if (++*docs == 2) *second_line = (h.seen_node ? h.node : h.start).line + 1;
    }
  }

  // The line of the innermost section of `name` in the file, where the
  // missing key belongs; the first line of the top-level map for a top-level
  // key or a section the file lacks.
  int section_line(std::string_view name) const {
    for (size_t dot = name.rfind('.'); dot != std::string_view::npos && dot > 0;
         dot = name.rfind('.', dot - 1)) {
      if (auto it = seen_.find(std::string(name.substr(0, dot))); it != seen_.end())
        return it->second;
    }
    return root_line_;
  }

  bool check_role(const YAML::Node& root) {
    for (const auto& kv : root) {
      if (!kv.first.IsScalar() || kv.first.Scalar() != "role") continue;
      Value v;
      std::string why = parse_value(find("role")->kind, kv.second, &v);
      if (why.empty() && kRoles[static_cast<size_t>(std::get<int64_t>(v))] != s_.role)
        why = "expected " + std::string(s_.role) + ", got " + got(kv.second);
      return why.empty() || fail(line_of(kv.first), "key 'role': " + why);
    }
    return fail(root_line_, "missing required key 'role'");
  }

  bool walk(const YAML::Node& map, const std::string& prefix) {
    for (const auto& kv : map) {
      const int line = line_of(kv.first);
      if (!kv.first.IsScalar()) return fail(line, "expected a key name, got " + got(kv.first));
      const std::string name = prefix + kv.first.Scalar();
      if (auto [it, fresh] = seen_.emplace(name, line); !fresh)
        return fail(line, "key '" + name + "': duplicate, first set on line " +
                              std::to_string(it->second));
      if (const Key<Cfg>* k = find(name)) {
        Value v;
        if (std::string why = parse_value(k->kind, kv.second, &v); !why.empty())
          return fail(line, "key '" + name + "': " + why);
        if (k->store != nullptr) k->store(cfg_, v);
      } else if (is_section(name)) {
        if (kv.second.IsNull()) continue;  // a section with every key commented out
        if (!kv.second.IsMap())
          return fail(line, "key '" + name + "': expected a map of keys, got " + got(kv.second));
        if (!walk(kv.second, name + ".")) return false;
      } else {
        return fail(line, "unknown key '" + excerpt(name) + "'" +
                              suggest(prefix, kv.first.Scalar()));
      }
    }
    return true;
  }

  std::string suggest(const std::string& prefix, std::string_view word) const {
    std::string best;
    size_t best_d = 3;  // further than 2 edits is a guess, not a typo
    for (const Key<Cfg>& k : s_.keys) {
      if (!k.name.starts_with(prefix)) continue;
      std::string_view rest = k.name.substr(prefix.size());
      std::string_view part = rest.substr(0, rest.find('.'));
      size_t d = edit_distance(word, part);
      if (d < best_d && d < word.size()) {
        best_d = d;
        best = prefix + std::string(part);
      }
    }
    return best.empty() ? "" : ", did you mean '" + best + "'?";
  }

  const Schema<Cfg>& s_;
  const std::string& file_;
  Cfg cfg_;
  std::map<std::string, int> seen_;  // keys and sections in the file -> line
  int root_line_ = 1;
  std::string error_;
};

template <class Cfg>
Loaded<Cfg> parse(const Schema<Cfg>& schema, std::string_view text, const std::string& file) {
  try {
    return Loader<Cfg>(schema, file).run(text);
  } catch (const std::exception& e) {  // not expected; the API must not throw
    return {std::nullopt, where(file, 0) + "internal error: " + excerpt(e.what())};
  }
}

// What a path names when it is not a regular file, for the error.
const char* file_kind(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// Reads a configuration file: a regular file (symbolic links are followed, as
// /etc/timesync/*.yaml often is one) of at most kMaxFileBytes. Opened
// non-blocking, so a FIFO is refused instead of waiting for a writer;
// /dev/zero or a directory are refused by their type before any read.
// Returns "" or the error, "path: ...".
std::string read_config_file(const std::string& path, std::string* text) {
  const std::string name = printable(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return name + ": cannot open: " + std::generic_category().message(errno);
  struct stat st {};
  std::string error;
  if (::fstat(fd, &st) != 0) {
    error = name + ": cannot read: " + std::generic_category().message(errno);
  } else if (!S_ISREG(st.st_mode)) {
    error = name + ": " + file_kind(st.st_mode) + ", not a regular file";
  } else if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    error = name + ": larger than 1 MiB (" + std::to_string(st.st_size) +
            " bytes): not a configuration file";
  }
  // One byte past the limit tells a file that grew since fstat.
  std::array<char, 4096> buf{};
  while (error.empty()) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = name + ": cannot read: " + std::generic_category().message(errno);
    } else if (n == 0) {
      break;
    } else if (text->size() + static_cast<size_t>(n) > kMaxFileBytes) {
      error = name + ": larger than 1 MiB: not a configuration file";
    } else {
      text->append(buf.data(), static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return error;
}

template <class Cfg>
Loaded<Cfg> load(const Schema<Cfg>& schema, const std::string& path) {
  std::string text;
  if (std::string error = read_config_file(path, &text); !error.empty())
    return {std::nullopt, std::move(error)};
  return parse(schema, text, path);
}

template <class Cfg>
std::string describe(const Schema<Cfg>& s) {
  size_t width = 0;
  for (const Key<Cfg>& k : s.keys) width = std::max(width, k.name.size());
  std::string out = "Keys of a timesync " + std::string(s.role) +
                    " configuration (YAML; a dotted name is a nested map):\n\n";
  for (const Key<Cfg>& k : s.keys) {
    auto [type, range] = std::visit(
        Overloaded{
            [](const Flag&) { return std::pair<std::string, std::string>("bool", ""); },
            [](const Int& n) { return std::pair<std::string, std::string>("integer", range_text(n)); },
            [](const Real& n) { return std::pair<std::string, std::string>("number", range_text(n)); },
            [](const Duration& n) {
              return std::pair<std::string, std::string>("seconds", range_text(n));
            },
            [](const Text& t) {
              return std::pair<std::string, std::string>(
                  "string", t.rule != nullptr ? std::string(t.rule->what) : "");
            },
            [](const Choice& c) {
              return std::pair<std::string, std::string>("enum", "one of " + join(c.values));
            },
            [](const TextList& l) {
              return std::pair<std::string, std::string>(
                  "list", "at most " + std::to_string(l.max) + " of " +
                              (l.rule != nullptr ? std::string(l.rule->what) : "any string"));
            },
        },
        k.kind);
    std::string line = std::string(k.name) + std::string(width + 2 - k.name.size(), ' ');
    line += type + std::string(9 - type.size(), ' ');
    line += k.required ? std::string("required") : "default " + default_text(k.kind);
    if (!range.empty()) line += ", " + range;
    out += line + "\n    " + std::string(k.help) + "\n";
  }
  if (!s.rules.empty()) out += "\nAlso checked:\n";
  for (const Rule<Cfg>& r : s.rules) out += "  " + std::string(r.text) + "\n";
  return out;
}

// ---- The tables. Keys shared by both roles are declared once, here.

template <class Cfg>
std::vector<Key<Cfg>> head_keys(std::string_view role_help) {
  return {
      required(Key<Cfg>{"role", Choice{kRoles, ""}, role_help}),
      key<Cfg>(TS_FIELD(id), Text{"", &kId},
               "Name announced to peers and in logs; empty: the hostname. At most 256 "
               "bytes of UTF-8 without control characters."),
  };
}

template <class Cfg>
std::vector<Key<Cfg>> tail_keys() {
  return {
      key<Cfg>(TS_FIELD(log_level), Choice{kLogLevels, "info"}, "Least severe message logged."),
      key<Cfg>(TS_FIELD(sim_clock.enabled), Flag{false},
               "Use a simulated oscillator instead of the host clock (tests, demos)."),
      key<Cfg>(TS_FIELD(sim_clock.initial_offset_s), Duration{0, -1e6, 1e6},
               "Simulated clock minus host clock at start."),
      key<Cfg>(TS_FIELD(sim_clock.freq_ppm), Real{0, -1000, 1000},
               "Frequency offset of the simulated clock, ppm; positive runs fast."),
      key<Cfg>(TS_FIELD(sim_clock.wander_ppb_per_sqrt_s), Real{0, 0, 1e6},
               "Random-walk frequency noise, ppb after 1 s (grows with sqrt of time)."),
      key<Cfg>(TS_FIELD(sim_clock.step_every_s), Duration{0, 0, 1e6},
               "Period of temperature-like frequency steps; 0 = never."),
      key<Cfg>(TS_FIELD(sim_clock.step_ppm), Real{0, -1000, 1000},
               "Size of each frequency step, ppm (applied, then removed, in turn)."),
      key<Cfg>(TS_FIELD(sim_clock.step_ramp_s), Duration{0, 0, 1e6},
               "Each frequency step is a linear ramp this long (a heater switched on); "
               "0 = a jump. At most step_every_s."),
      key<Cfg>(TS_FIELD(sim_clock.seed), Int{1, 0, std::numeric_limits<int64_t>::max()},
               "Random-number seed, so a simulated run can be replayed."),
  };
}

template <class Cfg>
std::vector<Rule<Cfg>> sim_clock_rules() {
  return {
      // The oscillator refuses sub-millisecond periods; say so at load time.
      {"sim_clock.step_every_s", "sim_clock.step_every_s", "sim_clock.step_every_s is 0 or >= 0.001",
       [](const Cfg& c) -> std::string {
         double p = c.sim_clock.step_every_s;
         return p == 0 || p >= 1e-3 ? "" : fmt(p) + " must be 0 (never) or at least 0.001";
       }},
      // Otherwise step_ppm would be silently ignored.
      {"sim_clock.step_every_s", "sim_clock.step_ppm",
       "sim_clock.step_ppm is 0 unless sim_clock.step_every_s is set",
       [](const Cfg& c) -> std::string {
         return c.sim_clock.step_ppm == 0 || c.sim_clock.step_every_s > 0
                    ? ""
                    : "steps are off (sim_clock.step_every_s is 0), so step_ppm " +
                          fmt(c.sim_clock.step_ppm) + " would be ignored";
       }},
      {"sim_clock.step_every_s", "sim_clock.step_ramp_s",
       "sim_clock.step_ramp_s is at most sim_clock.step_every_s",
       [](const Cfg& c) -> std::string {
         return c.sim_clock.step_ramp_s <= c.sim_clock.step_every_s
                    ? ""
                    : fmt(c.sim_clock.step_ramp_s) + " is longer than the step period " +
                          fmt(c.sim_clock.step_every_s) + " s";
       }},
  };
}

template <class Cfg>
Schema<Cfg> make_schema(std::string_view role, std::string_view role_help,
                        std::vector<Key<Cfg>> own, std::vector<Rule<Cfg>> rules) {
  Schema<Cfg> s{role, head_keys<Cfg>(role_help), std::move(rules)};
  s.keys.insert(s.keys.end(), own.begin(), own.end());
  for (Key<Cfg>& k : tail_keys<Cfg>()) s.keys.push_back(k);
  for (Rule<Cfg>& r : sim_clock_rules<Cfg>()) s.rules.push_back(r);
  return s;
}

template <class Cfg>
Key<Cfg> metrics_key() {
  return key<Cfg>(TS_FIELD(metrics.listen), Text{"", &kOptionalHostPort},
                  "Prometheus metrics at http://host:port/metrics; \"\" = no metrics server.");
}

// Either both or neither: half a key pair is a TLS set-up that cannot work.
template <class Cfg>
Rule<Cfg> cert_and_key_rule() {
  return {"tls.cert_file", "tls.key_file", "tls.cert_file and tls.key_file go together",
          [](const Cfg& c) -> std::string {
            if (c.tls.cert_file.empty() == c.tls.key_file.empty()) return "";
            return c.tls.cert_file.empty() ? "tls.key_file is set but tls.cert_file is not"
                                           : "tls.cert_file is set but tls.key_file is not";
          }};
}

// The metrics server and the gRPC service are both TCP listeners: on one port
// the second cannot bind, and the daemon stops at start-up.
template <class Cfg>
Rule<Cfg> metrics_port_rule() {
  return {"listen", "metrics.listen", "metrics.listen is not the address of listen",
          [](const Cfg& c) -> std::string {
            if (!same_listener(c.listen, c.metrics.listen)) return "";
            return "the metrics server cannot listen where the gRPC service does (listen: " +
                   excerpt(c.listen) + "): choose another port";
          }};
}

const Schema<MasterConfig>& master_schema() {
  using Cfg = MasterConfig;
  static const Schema<Cfg> schema = make_schema<Cfg>(
      "master", "Which program this file configures: must be master.",
      {
          key<Cfg>(TS_FIELD(listen), Text{"0.0.0.0:7450", &kHostPort},
                   "Address the timestamp gRPC server listens on."),
          key<Cfg>(TS_FIELD(timebase), Choice{kTimebases, "monotonic"},
                   "Clock served: monotonic (never steps) or realtime (UTC, may step)."),
          key<Cfg>(TS_FIELD(realtime_step_threshold_ms), Real{1.0, 0.001, 1e6},
                   "A realtime jump larger than this, in ms, bumps the epoch."),
          key<Cfg>(TS_FIELD(master_error_ns), Int{0, 0, 1'000'000'000'000},
                   "Declared error of the master against its own reference, ns."),
          key<Cfg>(TS_FIELD(worker_threads), Int{2, 1, 64}, "Threads serving RPCs."),
          key<Cfg>(TS_FIELD(beacon.enabled), Flag{true},
                   "Serve StreamTime (beacon streams); false: it answers FAILED_PRECONDITION."),
          key<Cfg>(TS_FIELD(beacon.rate_hz), Real{10, 0.1, 1000},
                   "Beacons per second sent into every open stream, by one ticker thread."),
          key<Cfg>(TS_FIELD(beacon.max_streams), Int{64, 1, 100000},
                   "Open beacon streams at most; one more is refused with RESOURCE_EXHAUSTED."),
          key<Cfg>(TS_FIELD(udp.listen), Text{"0.0.0.0:7452", &kOptionalHostPort},
                   "The UDP exchange service (kernel timestamps; docs/udp-transport.md); "
                   "\"\" turns it off. Its packets are sealed when TLS is on."),
          key<Cfg>(TS_FIELD(udp.timestamping), Choice{kTimestampings, "auto"},
                   "Timestamps of the UDP service: hardware (the NIC's PTP clock on "
                   "udp.interface), software (the kernel's), user (clock reads around the "
                   "system calls), or auto (hardware when udp.interface has it, else "
                   "software)."),
          key<Cfg>(TS_FIELD(udp.interface), Text{"", &kInterfaceName},
                   "Interface whose hardware timestamps are used (hardware or auto)."),
          key<Cfg>(TS_FIELD(udp.key_rotation_s), Duration{3600, 1, 1e6},
                   "A new cookie key this often; the previous one is still accepted."),
          key<Cfg>(TS_FIELD(udp.session_lifetime_s), Duration{3600, 1, 1e6},
                   "UDP session cookies expire this long after GetUdpSession handed them "
                   "out; at most udp.key_rotation_s."),
          metrics_key<Cfg>(),
          key<Cfg>(TS_FIELD(tls.cert_file), Text{"", &kOptionalFile},
                   "PEM certificate (chain) of the timestamp service; with key_file, turns "
                   "TLS on."),
          key<Cfg>(TS_FIELD(tls.key_file), Text{"", &kOptionalFile},
                   "PEM private key of tls.cert_file."),
          key<Cfg>(TS_FIELD(tls.client_ca_file), Text{"", &kOptionalFile},
                   "PEM CA certificate(s): mutual TLS, only clients with a certificate "
                   "signed by it are answered."),
          key<Cfg>(TS_FIELD(standby.of), Text{"", &kOptionalHostPort},
                   "A standby master: the primary (host:port) whose timeline this master "
                   "follows and serves, with its own error, so agents listing both keep "
                   "the timeline when the primary is gone. \"\": a primary."),
          key<Cfg>(TS_FIELD(standby.max_error_us), Real{10000, 0.001, 1e9},
                   "A standby serves while its error against the primary's timeline is "
                   "below this, in us (it grows in holdover once the primary is gone)."),
          key<Cfg>(TS_FIELD(standby.transport), Choice{kTransports, "auto"},
                   "How the standby exchanges with its primary (as an agent's transport)."),
          key<Cfg>(TS_FIELD(standby.poll.min_s), Duration{0.125, 0.01, 60},
                   "The standby's shortest interval between exchanges with its primary."),
          key<Cfg>(TS_FIELD(standby.poll.max_s), Duration{1, 0.01, 3600},
                   "The standby's longest interval between exchanges with its primary."),
          key<Cfg>(TS_FIELD(standby.poll.rpc_timeout_s), Duration{0.5, 0.001, 60},
                   "An exchange with the primary not answered within this is lost."),
          key<Cfg>(TS_FIELD(standby.tls.ca_file), Text{"", &kOptionalFile},
                   "TLS to the primary (and to rejoin.via): the CA its certificate must be "
                   "signed by."),
          key<Cfg>(TS_FIELD(standby.tls.cert_file), Text{"", &kOptionalFile},
                   "Client certificate for a primary that requires mutual TLS."),
          key<Cfg>(TS_FIELD(standby.tls.key_file), Text{"", &kOptionalFile},
                   "PEM private key of standby.tls.cert_file."),
          key<Cfg>(TS_FIELD(standby.tls.server_name), Text{"", &kServerName},
                   "Name the primary's certificate must carry; default: its host."),
          Key<Cfg>{"rejoin.via", TextList{&kHostPort, kMaxMasters},
                   "A primary that starts on a new timeline (after a reboot) first asks these "
                   "standbys; when one serves this master's timeline (same id) it follows "
                   "that standby and serves the fleet's timeline, so no agent steps.",
                   false, [](Cfg& c, const Value& v) {
                     c.rejoin.via = std::get<std::vector<std::string>>(v);
                   }},
          key<Cfg>(TS_FIELD(rejoin.wait_s), Duration{5, 0, 600},
                   "How long the standbys in rejoin.via are asked at start."),
          key<Cfg>(TS_FIELD(rejoin.give_up_s), Duration{60, 1, 86400},
                   "Re-joining ends when the followed standby has had nothing to serve this "
                   "long: the master then serves its own timeline (a new epoch)."),
          key<Cfg>(TS_FIELD(reference.source), Choice{kReferenceSources, "none"},
                   "What this master's clock follows, read live for its error against UTC: "
                   "none, chrony (chronyd's tracking) or ptp (ptp4l's state)."),
          key<Cfg>(TS_FIELD(reference.socket), Text{"", &kReferenceSocket},
                   "Where the reference daemon answers: chronyd's command socket (path, or "
                   "IP:port of its command port) or ptp4l's management socket; \"\": "
                   "/run/chrony/chronyd.sock or /var/run/ptp4l."),
          key<Cfg>(TS_FIELD(reference.poll_s), Duration{1, 0.1, 60},
                   "How often the reference is read."),
          key<Cfg>(TS_FIELD(reference.max_clock_error_ppm), Real{1, 0.001, 1000},
                   "How fast the error grows between reads and while the reference is "
                   "unreachable (chrony's maxclockerror), ppm."),
          key<Cfg>(TS_FIELD(reference.leap_seconds_file), Text{"/usr/share/zoneinfo/leap-seconds.list", &kOptionalFile},
                   "The IERS leap-second list giving TAI-UTC and announced leap seconds; "
                   "\"\": none (TAI-UTC is then published as unknown)."),
          key<Cfg>(TS_FIELD(reference.ptp.domain), Int{0, 0, 255}, "ptp4l's domainNumber."),
          key<Cfg>(TS_FIELD(reference.ptp.path_asymmetry), Real{1.0, 0, 1},
                   "Share of the mean path delay counted as error (an unknown asymmetry: 1)."),
          key<Cfg>(TS_FIELD(reference.ptp.extra_ns), Int{0, 0, 1'000'000'000},
                   "Added to the PTP error: PHC-to-system transfer (phc2sys), timestamping."),
      },
      {
          cert_and_key_rule<Cfg>(),
          metrics_port_rule<Cfg>(),
          {"udp.key_rotation_s", "udp.session_lifetime_s",
           "udp.session_lifetime_s <= udp.key_rotation_s",
           [](const Cfg& c) -> std::string {
             return c.udp.session_lifetime_s <= c.udp.key_rotation_s
                        ? ""
                        : "a cookie must not outlive the key that sealed it: " +
                              fmt(c.udp.session_lifetime_s) + " s > udp.key_rotation_s (" +
                              fmt(c.udp.key_rotation_s) + " s)";
           }},
          {"udp.timestamping", "udp.interface", "udp.timestamping hardware needs udp.interface",
           [](const Cfg& c) -> std::string {
             return c.udp.timestamping != Timestamping::kHardware || !c.udp.interface.empty()
                        ? ""
                        : "hardware timestamps come from one interface's clock: name it";
           }},
          {"standby.of", "rejoin.via", "standby.of and rejoin.via exclude each other",
           [](const Cfg& c) -> std::string {
             return c.standby.of.empty() || c.rejoin.via.empty()
                        ? ""
                        : "a standby serves its primary's timeline and never re-joins: "
                          "rejoin.via is for a primary";
           }},
          {"standby.of", "standby.of", "standby.of is not this master's own listen address",
           [](const Cfg& c) -> std::string {
             return c.standby.of.empty() || c.standby.of != c.listen
                        ? ""
                        : "a master cannot stand by for itself";
           }},
          {"standby.poll.min_s", "standby.poll.max_s", "standby.poll.min_s <= standby.poll.max_s",
           [](const Cfg& c) -> std::string {
             if (c.standby.poll.min_s <= c.standby.poll.max_s) return "";
             return "standby.poll.min_s (" + fmt(c.standby.poll.min_s) +
                    ") must not exceed standby.poll.max_s (" + fmt(c.standby.poll.max_s) + ")";
           }},
          {"standby.tls.cert_file", "standby.tls.key_file",
           "standby.tls.cert_file and standby.tls.key_file go together",
           [](const Cfg& c) -> std::string {
             if (c.standby.tls.cert_file.empty() == c.standby.tls.key_file.empty()) return "";
             return c.standby.tls.cert_file.empty()
                        ? "standby.tls.key_file is set but standby.tls.cert_file is not"
                        : "standby.tls.cert_file is set but standby.tls.key_file is not";
           }},
          {"reference.source", "reference.socket", "reference.socket needs reference.source",
           [](const Cfg& c) -> std::string {
             return c.reference.socket.empty() || c.reference.source != ReferenceSource::kNone
                        ? ""
                        : "reference.socket is set but reference.source is none";
           }},
          {"reference.source", "reference.socket", "a ptp reference's socket is a Unix socket path",
           [](const Cfg& c) -> std::string {
             return c.reference.source != ReferenceSource::kPtp || c.reference.socket.empty() ||
                            is_absolute_path(c.reference.socket)
                        ? ""
                        : "ptp4l's management socket is a Unix socket: an absolute path, not '" +
                              excerpt(c.reference.socket) + "'";
           }},
          {"standby.of", "reference.source", "a standby has no reference of its own",
           [](const Cfg& c) -> std::string {
             return c.standby.of.empty() || c.reference.source == ReferenceSource::kNone
                        ? ""
                        : "a standby serves its primary's timeline and error, not its own "
                          "clock's: reference.source is for a primary";
           }},
          {"tls.cert_file", "tls.client_ca_file", "tls.client_ca_file needs tls.cert_file",
           [](const Cfg& c) -> std::string {
             return c.tls.client_ca_file.empty() || !c.tls.cert_file.empty()
                        ? ""
                        : "client certificates are checked only over TLS: set tls.cert_file "
                          "and tls.key_file too";
           }},
      });
  return schema;
}

const Schema<ClientConfig>& client_schema() {
  using Cfg = ClientConfig;
  static const Schema<Cfg> schema = make_schema<Cfg>(
      "client", "Which program this file configures: must be client (the agent).",
      {
          // Stored twice: the list, and its first entry as `master` (the
          // address every single-master path uses).
          required(Key<Cfg>{"master", TextList{&kHostPort, kMaxMasters},
                            "The master's timestamp service, or a list of masters in order of "
                            "preference: the agent follows the first that answers, probes the "
                            "others, fails over to one serving the same timeline (a standby) "
                            "and back after failover.hold_down_s.",
                            false,
                            [](Cfg& c, const Value& v) {
                              c.masters = std::get<std::vector<std::string>>(v);
                              c.master = c.masters.empty() ? std::string() : c.masters.front();
                            }}),
          key<Cfg>(TS_FIELD(failover.probe_every_s), Duration{4, 0.1, 3600},
                   "Several masters: the ones not followed are asked this often."),
          key<Cfg>(TS_FIELD(failover.failures_to_switch), Int{2, 1, 100},
                   "Several masters: failed exchanges in a row with the followed one before "
                   "the agent switches to another on the same timeline."),
          key<Cfg>(TS_FIELD(failover.hold_down_s), Duration{30, 0, 86400},
                   "Several masters: a more preferred master must answer on the followed "
                   "timeline this long before the agent goes back to it (no flapping)."),
          key<Cfg>(TS_FIELD(transport), Choice{kTransports, "auto"},
                   "Exchanges over udp (kernel timestamps), grpc (user-space timestamps), "
                   "or auto: UDP while the master offers it and it answers, gRPC otherwise."),
          key<Cfg>(TS_FIELD(udp.master), Text{"", &kOptionalHostPort},
                   "Where the master's UDP service is; \"\": the host of master, the port "
                   "the master offers."),
          key<Cfg>(TS_FIELD(udp.timestamping), Choice{kTimestampings, "auto"},
                   "Timestamps of the UDP exchanges: hardware, software, user or auto (as the "
                   "master's udp.timestamping)."),
          key<Cfg>(TS_FIELD(udp.interface), Text{"", &kInterfaceName},
                   "Interface whose hardware timestamps are used; \"\": the one the route "
                   "to the master takes."),
          key<Cfg>(TS_FIELD(udp.retry_s), Duration{30, 0.1, 3600},
                   "After UDP failed and gRPC took over, UDP is tried again this much later."),
          key<Cfg>(TS_FIELD(listen), Text{"127.0.0.1:7451", &kHostPort},
                   "The agent's own gRPC service (health, WatchAlarms)."),
          key<Cfg>(TS_FIELD(segment), Text{"/dev/shm/timesync", &kAbsolutePath},
                   "Shared-memory file the transform is published in."),
          key<Cfg>(TS_FIELD(counter), Choice{kCounterUses, "off"},
                   "Readers read the CPU counter (TSC, CNTVCT) instead of calling "
                   "clock_gettime, with a map the agent calibrates and whose error is in the "
                   "bound: auto (where the kernel's clocksource is that counter), on (also "
                   "where it is not, for example kvm-clock or tsc=unstable; the CPU must "
                   "still say constant_tsc and nonstop_tsc), off. Readings may then step back "
                   "by up to the map's error (under 1 us) when a read falls back to "
                   "clock_gettime. docs/counter.md says where it is not safe."),
          key<Cfg>(TS_FIELD(poll.min_s), Duration{0.125, 0.01, 60},
                   "Shortest interval between timestamp RPCs (used while locking)."),
          key<Cfg>(TS_FIELD(poll.max_s), Duration{4, 0.01, 3600},
                   "Longest interval between timestamp RPCs (once locked)."),
          key<Cfg>(TS_FIELD(poll.rpc_timeout_s), Duration{0.5, 0.001, 60},
                   "An RPC not answered within this is a lost sample."),
          key<Cfg>(TS_FIELD(poll.burst), Int{3, 1, 16},
                   "Exchanges per poll, back to back; only the one with the smallest delay "
                   "is used. The first ones wake the master's path up, so the later ones see "
                   "less scheduling delay and less asymmetry."),
          key<Cfg>(TS_FIELD(filter.window), Int{32, 4, 1024},
                   "Samples over which the minimum delay is tracked."),
          key<Cfg>(TS_FIELD(filter.max_delay_ratio), Real{3.0, 1.0, 1000},
                   "Reject a sample whose delay exceeds this ratio x the minimum delay."),
          key<Cfg>(TS_FIELD(filter.max_delay_dev_ratio), Real{10.0, 1.0, 1000},
                   "Reject a sample whose offset deviates from the prediction by more than "
                   "this ratio x its excess delay (chrony's maxdelaydevratio)."),
          key<Cfg>(TS_FIELD(servo.type), Choice{kServoTypes, "pll"},
                   "Clock servo: pll (two-stage loop) or kalman (offset and frequency filter)."),
          key<Cfg>(TS_FIELD(servo.phase_time_constant_s), Duration{2.0, 0.05, 1000},
                   "Both servos: a phase error is slewed away over about this long."),
          key<Cfg>(TS_FIELD(servo.freq_time_constant_s), Duration{32.0, 0.5, 100000},
                   "Slow loop: the frequency is estimated over about this much history."),
          key<Cfg>(TS_FIELD(servo.step_threshold_ms), Real{1.0, 0.0, 1e6},
                   "First-lock offsets above this, in ms, are stepped (epoch bump), "
                   "smaller ones slewed."),
          key<Cfg>(TS_FIELD(servo.max_slew_ppm), Real{500, 1, 10000},
                   "Largest rate, ppm, at which a phase error is slewed away."),
          key<Cfg>(TS_FIELD(servo.max_freq_ppm), Real{1000, 1, 10000},
                   "Largest frequency correction, ppm."),
          key<Cfg>(TS_FIELD(servo.innovation_window), Int{64, 2, 100000},
                   "Samples over which the innovation statistics (sample minus the servo's "
                   "prediction) are taken."),
          key<Cfg>(TS_FIELD(servo.kalman.phase_noise_ns_per_sqrt_s), Real{20, 0, 1e9},
                   "Kalman: white frequency noise of the local oscillator, as the phase it "
                   "random-walks in 1 s, ns."),
          key<Cfg>(TS_FIELD(servo.kalman.freq_wander_ppb_per_sqrt_s), Real{2, 0, 1e9},
                   "Kalman: random-walk frequency noise (crystal wander), ppb after 1 s."),
          key<Cfg>(TS_FIELD(servo.kalman.measurement_floor_ns), Real{5000, 1, 1e9},
                   "Kalman: noise of a sample at the smallest delay, ns; it grows in "
                   "proportion to a slower exchange's delay."),
          key<Cfg>(TS_FIELD(bound.min_freq_uncertainty_ppb), Real{10, 0, 1e6},
                   "Floor on the rate the error bound grows at, ppb."),
          key<Cfg>(TS_FIELD(bound.holdover_wander_ppb_per_s), Real{1, 0, 1e6},
                   "Fastest the local crystal's frequency is assumed to change, ppb per "
                   "second: in the hard frequency envelope and while no sample arrives."),
          key<Cfg>(TS_FIELD(alarm.max_error_us), Real{1000, 0.001, 1e9},
                   "Out-of-sync threshold: error bound above this, in us."),
          key<Cfg>(TS_FIELD(alarm.clear_ratio), Real{0.8, 0, 1, Ends::kOpen},
                   "Hysteresis: the alarm clears when the bound < ratio x max_error_us."),
          // Up to a day: both must exceed poll.max_s (up to 3600) and more.
          key<Cfg>(TS_FIELD(alarm.unreachable_after_s), Duration{5, 0.1, 86400},
                   "Master unreachable alarm after this long without an answer; more than "
                   "poll.max_s."),
          key<Cfg>(TS_FIELD(alarm.void_after_s), Duration{10, 0.1, 86400},
                   "Published data is valid for this long after the last measurement; more "
                   "than poll.max_s + poll.rpc_timeout_s."),
          key<Cfg>(TS_FIELD(calibration.offset_ns), Int{0, -1'000'000'000, 1'000'000'000},
                   "Added to every measured offset, ns: the mean pulse offset of this SoM "
                   "against the master from timesync-probe (reciprocity calibration of a "
                   "constant path asymmetry). The error bound widens by its magnitude."),
          key<Cfg>(TS_FIELD(beacon.enabled), Flag{false},
                   "Beacon mode: keep a StreamTime stream open and use every beacon as a "
                   "one-way sample; two-way exchanges only calibrate its delay."),
          key<Cfg>(TS_FIELD(beacon.calibrate_every_s), Duration{10, 0.1, 3600},
                   "Beacon mode: interval of the calibrating two-way exchanges once locked "
                   "(poll.min_s until then)."),
          key<Cfg>(TS_FIELD(beacon.window), Int{32, 4, 4096},
                   "Beacon mode: beacons over which the least-delayed one is the reference."),
          key<Cfg>(TS_FIELD(beacon.max_excess_us), Real{30, 0, 1e9},
                   "Beacon mode: drop a beacon delayed more than this, in us, beyond the "
                   "least-delayed one of the window."),
          key<Cfg>(TS_FIELD(beacon.margin_us), Real{10, 0, 1e9},
                   "Beacon mode: added to every beacon sample's uncertainty, in us, for the "
                   "one-way delay floor moving between calibrations."),
          key<Cfg>(TS_FIELD(chrony_refclock.socket), Text{"", &kOptionalSocketPath},
                   "chronyd's `refclock SOCK` socket: each publication is sent to it as a "
                   "sample of UTC with the bound as its error, so chronyd steers the system "
                   "clock; \"\": off."),
          key<Cfg>(TS_FIELD(chrony_refclock.max_error_us), Real{1000, 0.001, 1e6},
                   "Samples whose error exceeds this are not sent; the refclock's delay in "
                   "chrony.conf must be twice this (in seconds)."),
          metrics_key<Cfg>(),
          key<Cfg>(TS_FIELD(tls.ca_file), Text{"", &kOptionalFile},
                   "PEM CA certificate(s): turns TLS to the master on; the master's "
                   "certificate must be signed by it."),
          key<Cfg>(TS_FIELD(tls.cert_file), Text{"", &kOptionalFile},
                   "PEM client certificate for mutual TLS (with key_file)."),
          key<Cfg>(TS_FIELD(tls.key_file), Text{"", &kOptionalFile},
                   "PEM private key of tls.cert_file."),
          key<Cfg>(TS_FIELD(tls.server_name), Text{"", &kServerName},
                   "Name the master's certificate must carry; default: the host part of "
                   "master."),
      },
      {
          {"master", "master", "master names at least one master",
           [](const Cfg& c) -> std::string {
             return c.masters.empty() ? "an empty list: name the master's host:port" : "";
           }},
          cert_and_key_rule<Cfg>(),
          {"tls.ca_file", "tls.cert_file", "tls.cert_file needs tls.ca_file",
           [](const Cfg& c) -> std::string {
             return c.tls.cert_file.empty() || !c.tls.ca_file.empty()
                        ? ""
                        : "a client certificate is sent only over TLS: set tls.ca_file to the "
                          "CA that signed the master's certificate";
           }},
          {"tls.ca_file", "tls.server_name", "tls.server_name needs tls.ca_file",
           [](const Cfg& c) -> std::string {
             return c.tls.server_name.empty() || !c.tls.ca_file.empty()
                        ? ""
                        : "tls.server_name is only checked over TLS (tls.ca_file is not set), "
                          "so it would be ignored";
           }},
          {"poll.min_s", "poll.max_s", "poll.min_s <= poll.max_s",
           [](const Cfg& c) -> std::string {
             if (c.poll.min_s <= c.poll.max_s) return "";
             return "poll.min_s (" + fmt(c.poll.min_s) + ") must not exceed poll.max_s (" +
                    fmt(c.poll.max_s) + ")";
           }},
          metrics_port_rule<Cfg>(),
          // Once locked the agent polls every poll.max_s and nothing else
          // counts as an answer (without beacons): a shorter limit raises the
          // alarm, and refuses timestamps, between every two polls.
          {"poll.max_s", "alarm.unreachable_after_s",
           "alarm.unreachable_after_s > poll.max_s",
           [](const Cfg& c) -> std::string {
             if (c.alarm.unreachable_after_s > c.poll.max_s) return "";
             return "alarm.unreachable_after_s (" + fmt(c.alarm.unreachable_after_s) +
                    " s) must exceed poll.max_s (" + fmt(c.poll.max_s) +
                    " s): the master would count as unreachable between two polls";
           }},
          // Published data voids void_after_s after its measurement; the next
          // one comes poll.max_s later, and its answer up to rpc_timeout_s
          // after that. A shorter horizon refuses every reader for part of
          // each poll interval while all is well.
          {"poll.max_s", "alarm.void_after_s",
           "alarm.void_after_s > poll.max_s + poll.rpc_timeout_s",
           [](const Cfg& c) -> std::string {
             const double need = c.poll.max_s + c.poll.rpc_timeout_s;
             if (c.alarm.void_after_s > need) return "";
             return "alarm.void_after_s (" + fmt(c.alarm.void_after_s) +
                    " s) must exceed poll.max_s + poll.rpc_timeout_s (" + fmt(c.poll.max_s) +
                    " + " + fmt(c.poll.rpc_timeout_s) +
                    " s): readers would be refused between polls";
           },
           "poll.rpc_timeout_s"},
      });
  return schema;
}

#undef TS_FIELD

}  // namespace

namespace {
template <size_t N, class E>
std::string_view name_of(const std::array<std::string_view, N>& names, E v) {
  auto i = static_cast<size_t>(v);
  return i < N ? names[i] : "?";
}
}  // namespace

std::string_view to_string(LogLevel v) { return name_of(kLogLevels, v); }
std::string_view to_string(Timebase v) { return name_of(kTimebases, v); }
std::string_view to_string(ServoType v) { return name_of(kServoTypes, v); }
std::string_view to_string(Transport v) { return name_of(kTransports, v); }
std::string_view to_string(Timestamping v) { return name_of(kTimestampings, v); }
std::string_view to_string(ReferenceSource v) { return name_of(kReferenceSources, v); }
std::string_view to_string(CounterUse v) { return name_of(kCounterUses, v); }

Loaded<MasterConfig> load_master(const std::string& path) { return load(master_schema(), path); }
Loaded<ClientConfig> load_client(const std::string& path) { return load(client_schema(), path); }

Loaded<MasterConfig> parse_master(std::string_view yaml_text, const std::string& filename) {
  return parse(master_schema(), yaml_text, filename);
}
Loaded<ClientConfig> parse_client(std::string_view yaml_text, const std::string& filename) {
  return parse(client_schema(), yaml_text, filename);
}

std::string describe_master_schema() { return describe(master_schema()); }
std::string describe_client_schema() { return describe(client_schema()); }

}  // namespace timesync::config
