// The schema tables and the one loader that walks them. yaml-cpp is used here
// and nowhere else; its exceptions are caught before they reach a caller.
#include "timesync/config/config.hpp"

#include <sys/stat.h>
#include <unistd.h>
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
using Kind = std::variant<Flag, Int, Real, Duration, Text, Choice>;

// A checked value; a Choice is held as the index of its name.
using Value = std::variant<bool, int64_t, double, std::string>;

template <class Cfg>
struct Key {
  std::string_view name;  // dotted path, as written in the file
  Kind kind;
  std::string_view help;
  bool required = false;
  void (*store)(Cfg&, const Value&) = nullptr;  // null: checked, not stored
};

// A condition spanning keys. The error points at `second` when the file sets
// it (the later of the two in the table), else at `first`.
template <class Cfg>
struct Rule {
  std::string_view first, second;
  std::string_view text;                  // for describe_*()
  std::string (*violation)(const Cfg&);   // "" when satisfied
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
                std::is_same_v<F, std::string>) {
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
constexpr std::array<std::string_view, 4> kLogLevels{"debug", "info", "warning", "error"};
constexpr std::array<std::string_view, 2> kTimebases{"monotonic", "realtime"};
constexpr std::array<std::string_view, 2> kServoTypes{"pll", "kalman"};
constexpr std::array<std::string_view, 3> kTransports{"auto", "grpc", "udp"};
constexpr std::array<std::string_view, 4> kTimestampings{"auto", "hardware", "software", "user"};

// ---- Text rules.

bool is_host_port(std::string_view s) {
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
constexpr TextRule kServerName{is_dns_name_or_empty, "a host name (no spaces, '/' or ':')"};
bool is_interface_name(std::string_view s) {
  // IFNAMSIZ is 16 with its NUL; no '/' or whitespace (the kernel refuses them).
  return s.size() < 16 && s.find_first_of(" \t\n/:") == std::string_view::npos;
}
constexpr TextRule kInterfaceName{is_interface_name, "\"\" or a network interface name"};

// ---- Formatting.

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
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    default: return "nothing";
  }
}

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};

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
// `shown` is the value as written. Returns "" when v is acceptable.
std::string check(const Kind& kind, const Value& v, const std::string& shown) {
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
              return text + " is out of range " + range_text(k);
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
  return line > 0 ? file + ":" + std::to_string(line) + ": " : file + ": ";
}

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
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      return fail(e.mark.line + 1, "YAML syntax error: " + e.msg);
    }
    if (docs.size() > 1) return fail(line_of(docs[1]), "expected a single YAML document");
    YAML::Node root = docs.empty() ? YAML::Node(YAML::NodeType::Map) : docs[0];
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);  // only comments
    if (!root.IsMap()) return fail(line_of(root), "expected a map of keys, got " + got(root));
    // The role first: a file for the other program would otherwise fail on
    // whichever of its keys came first, which hides the real mistake.
    if (!check_role(root) || !walk(root, "")) return false;
    for (const Key<Cfg>& k : s_.keys)
      if (k.required && !seen_.contains(std::string(k.name)))
        return fail(0, "missing required key '" + std::string(k.name) + "'");
    for (const Rule<Cfg>& r : s_.rules) {
      std::string why = r.violation(cfg_);
      if (why.empty()) continue;
      std::string at(seen_.contains(std::string(r.second)) ? r.second : r.first);
      auto it = seen_.find(at);
      return fail(it == seen_.end() ? 0 : it->second, "key '" + at + "': " + why);
    }
    return true;
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
    return fail(0, "missing required key 'role'");
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
        return fail(line, "unknown key '" + name + "'" + suggest(prefix, kv.first.Scalar()));
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
  std::string error_;
};

template <class Cfg>
Loaded<Cfg> parse(const Schema<Cfg>& schema, std::string_view text, const std::string& file) {
  try {
    return Loader<Cfg>(schema, file).run(text);
  } catch (const std::exception& e) {  // not expected; the API must not throw
    return {std::nullopt, where(file, 0) + "internal error: " + e.what()};
  }
}

template <class Cfg>
Loaded<Cfg> load(const Schema<Cfg>& schema, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return {std::nullopt, path + ": cannot open: " + std::generic_category().message(errno)};
  std::string text;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) text.append(buf.data(), n);
  const int err = std::ferror(f) != 0 ? errno : 0;
  std::fclose(f);
  if (err != 0) return {std::nullopt, path + ": cannot read: " + std::generic_category().message(err)};
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
      key<Cfg>(TS_FIELD(id), Text{""}, "Name announced to peers and in logs; empty: the hostname."),
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
      },
      {
          cert_and_key_rule<Cfg>(),
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
          required(key<Cfg>(TS_FIELD(master), Text{"", &kHostPort},
                            "The master's timestamp service.")),
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
          key<Cfg>(TS_FIELD(alarm.unreachable_after_s), Duration{5, 0.1, 3600},
                   "Master unreachable alarm after this long without an answer."),
          key<Cfg>(TS_FIELD(alarm.void_after_s), Duration{10, 0.1, 3600},
                   "Published data is valid for this long after the last measurement."),
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
