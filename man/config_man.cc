// timesync-config-man: writes the manual page of one configuration file
// (timesync-master.yaml(5) or timesync-agent.yaml(5)) from the schema the
// daemons load it with, so the page lists exactly the keys they accept.
//
//   timesync-config-man master|agent OUTPUT DATE VERSION
//
// The schema's one public rendering is describe_*_schema() (what --print-schema
// prints): a key line "name  type  required|default D[, range]", its help
// indented four spaces, then "Also checked:" and one cross-key rule per line.
// That text is parsed strictly: a line this program does not understand stops
// the build (exit 1) rather than drop a key from the page. The minimal example
// on the page is loaded with the same parser the daemons use, so it stays
// valid. Build-time tool; never installed.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "timesync/config/config.hpp"

namespace {

namespace config = timesync::config;

struct KeyDoc {
  std::string name, type, def, range, help;
  bool required = false;
};

struct SchemaDoc {
  std::vector<KeyDoc> keys;
  std::vector<std::string> rules;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "timesync-config-man: %s\n", why.c_str());
  std::exit(1);
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "default D[, range]" or "required[, range]" after the type column.
void parse_value_part(std::string_view rest, KeyDoc* k) {
  if (starts_with(rest, "required")) {
    k->required = true;
    rest.remove_prefix(8);
  } else if (starts_with(rest, "default ")) {
    rest.remove_prefix(8);
    size_t end = 0;
    if (starts_with(rest, "\"")) {
      end = rest.find('"', 1);
      if (end == std::string_view::npos) die("unterminated default of " + k->name);
      ++end;
    } else {
      end = std::min(rest.find(", "), rest.size());
    }
    k->def = std::string(rest.substr(0, end));
    rest.remove_prefix(end);
  } else {
    die("key " + k->name + ": neither 'required' nor 'default': " + std::string(rest));
  }
  if (rest.empty()) return;
  if (!starts_with(rest, ", ")) die("key " + k->name + ": unexpected text: " + std::string(rest));
  k->range = std::string(rest.substr(2));
}

SchemaDoc parse_schema(const std::string& text) {
  static const std::vector<std::string> kTypes{"bool",   "integer", "number", "seconds",
                                               "string", "enum",    "list"};
  SchemaDoc doc;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || !starts_with(line, "Keys of a timesync "))
    die("schema text does not start with 'Keys of a timesync '");
  bool in_rules = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line == "Also checked:") {
      in_rules = true;
    } else if (in_rules) {
      if (!starts_with(line, "  ") || line.size() < 3) die("bad rule line: " + line);
      doc.rules.push_back(line.substr(2));
    } else if (starts_with(line, "    ")) {
      if (doc.keys.empty() || !doc.keys.back().help.empty()) die("stray help line: " + line);
      doc.keys.back().help = line.substr(4);
    } else {
      KeyDoc k;
      std::istringstream fields(line);
      fields >> k.name >> k.type;
      if (k.name.empty() || std::find(kTypes.begin(), kTypes.end(), k.type) == kTypes.end())
        die("bad key line: " + line);
      std::string rest;
      std::getline(fields >> std::ws, rest);
      parse_value_part(rest, &k);
      doc.keys.push_back(std::move(k));
    }
  }
  if (doc.keys.empty()) die("no keys in the schema text");
  for (const KeyDoc& k : doc.keys)
    if (k.help.empty()) die("key " + k.name + " has no help line");
  return doc;
}

// Text for roff: backslashes escaped, no line starting with a control
// character. `code` also makes every '-' a minus sign (names, values,
// ranges: what a reader types); in prose only a '-' before a digit is one.
std::string roff(std::string_view s, bool code = false) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-' && (code || (i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '9' &&
                                     (i == 0 || s[i - 1] == ' ' || s[i - 1] == '[' ||
                                      s[i - 1] == '(')))) {
      out += "\\-";
    } else {
      out += c;
    }
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

struct Role {
  std::string_view page;     // timesync-master.yaml
  std::string_view program;  // timesync-master
  std::string_view file;     // /etc/timesync/master.yaml
  std::string_view other;    // the other role's page
  std::string_view what;     // one line for NAME
  std::string_view example;  // the smallest valid file
  std::string (*describe)();
  bool (*loads)(std::string_view);
};

bool master_loads(std::string_view text) { return config::parse_master(text, "example").ok(); }
bool agent_loads(std::string_view text) { return config::parse_client(text, "example").ok(); }

const Role kMaster{"timesync-master.yaml", "timesync-master", "/etc/timesync/master.yaml",
                   "timesync-agent.yaml", "configuration file of the timesync master",
                   "role: master\n", config::describe_master_schema, master_loads};
const Role kAgent{"timesync-agent.yaml", "timesync-agent", "/etc/timesync/client.yaml",
                  "timesync-master.yaml", "configuration file of the timesync agent",
                  "role: client\nmaster: \"timesync-master.local:7450\"\n",
                  config::describe_client_schema, agent_loads};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string page(const Role& r, const SchemaDoc& doc, const std::string& date,
                 const std::string& version) {
  std::ostringstream o;
  const std::string prog(r.program);
  o << ".\\\" Generated by timesync-config-man from the configuration schema\n"
    << ".\\\" (config/src/config.cc). Do not edit; edit the schema.\n"
    << ".TH " << roff(upper(r.page), true) << " 5 \"" << date << "\" \"timesync " << version
    << "\" \"timesync manual\"\n"
    << ".SH NAME\n"
    << roff(r.page, true) << " \\- " << r.what << "\n"
    << ".SH SYNOPSIS\n"
    << ".I " << r.file << "\n"
    << ".SH DESCRIPTION\n"
    << ".B " << roff(r.program, true) << "\n"
    << "reads its configuration from one YAML file, named with\n"
    << ".BR \\-\\-config ;\n"
    << "the packaged systemd unit uses\n"
    << ".IR " << r.file << ".\n"
    << "A dotted key name is a nested map: the key\n";
  {
    auto dotted = std::find_if(doc.keys.begin(), doc.keys.end(),
                               [](const KeyDoc& k) { return k.name.find('.') != std::string::npos; });
    if (dotted == doc.keys.end()) die("no dotted key to show the nesting with");
    const std::string& n = dotted->name;
    const size_t dot = n.find('.');
    o << ".B " << roff(n, true) << "\n"
      << "is written as\n"
      << ".RS\n.nf\n"
      << roff(n.substr(0, dot), true) << ":\n  " << roff(n.substr(dot + 1), true) << ": "
      << roff(dotted->required ? "..." : dotted->def, true) << "\n";
  }
  o << ".fi\n.RE\n"
    << ".PP\n"
    << "Every key has a type, a default value (or is required) and a range or a set of\n"
    << "allowed values, listed below. The file is checked when it is loaded: an unknown\n"
    << "key, a value of the wrong type or out of its range, a missing required key or a\n"
    << "broken rule (see\n"
    << ".BR RULES )\n"
    << "stops the program with exit status 78 and one line naming the file, the line and\n"
    << "the key, for example\n"
    << ".RS\n.nf\n"
    << "client.yaml:12: key 'poll.min_s': 0 is out of range [0.01, 60]\n"
    << ".fi\n.RE\n"
    << ".PP\n"
    << ".B " << roff(prog, true) << " \\-\\-config\n"
    << ".I FILE\n"
    << ".B \\-\\-check\\-config\n"
    << "checks a file without starting the service (the unit runs it before every start);\n"
    << ".B " << roff(prog, true) << " \\-\\-print\\-schema\n"
    << "prints the list below. The file is read at start only: restart the service after\n"
    << "editing it.\n"
    << ".PP\n"
    << "This page is generated from the schema the program loads the file with, so it\n"
    << "lists exactly the keys that program accepts.\n"
    << ".SH TYPES\n"
    << ".TP\n.B bool\n"
    << ".B true\nor\n.BR false .\n"
    << ".TP\n.B integer\n"
    << "A whole number (an exponent is allowed when the value is whole, as in 1e9).\n"
    << ".TP\n.B number\n"
    << "A decimal number.\n"
    << ".TP\n.B seconds\n"
    << "A duration, as a decimal number of seconds (no unit suffix).\n"
    << ".TP\n.B string\n"
    << "Text; quote it when it holds a colon, as host:port values do.\n"
    << ".TP\n.B enum\n"
    << "One of the words listed for the key.\n"
    << ".TP\n.B list\n"
    << "A YAML list of strings, as in [\\(dqa:7450\\(dq, \\(dqb:7450\\(dq];\n"
    << "one string is a list of one.\n"
    << ".PP\n"
    << "A range [a, b] includes both ends; (a, b) excludes both.\n"
    << ".SH KEYS\n";
  for (const KeyDoc& k : doc.keys) {
    o << ".TP\n"
      << "\\fB" << roff(k.name, true) << "\\fR (" << k.type << ")\n"
      << (k.required ? "Required" : "Default \\fB" + roff(k.def, true) + "\\fR");
    if (!k.range.empty()) {
      const bool interval = k.range[0] == '[' || k.range[0] == '(';
      const bool choice = starts_with(k.range, "one of ");
      o << ", " << (interval ? "range " : choice ? "" : "expected ") << roff(k.range, true);
    }
    o << ".\n" << roff(k.help) << "\n";
  }
  o << ".SH RULES\n"
    << "Conditions between keys, checked after every key is read:\n";
  for (const std::string& rule : doc.rules) o << ".IP \\(bu 2\n" << roff(rule, true) << "\n";
  o << ".SH EXAMPLE\n"
    << "The smallest valid file; every other key keeps its default:\n"
    << ".RS\n.nf\n";
  std::istringstream ex{std::string(r.example)};
  for (std::string line; std::getline(ex, line);) o << roff(line, true) << "\n";
  o << ".fi\n.RE\n"
    << ".PP\n"
    << "The packaged\n"
    << ".I " << r.file << "\n"
    << "shows every key with its default and a comment.\n"
    << ".SH FILES\n"
    << ".TP\n.I " << r.file << "\n"
    << "The file the packaged unit passes to\n"
    << ".BR " << roff(prog, true) << " .\n"
    << ".SH SEE ALSO\n"
    << ".BR " << roff(prog, true) << " (1),\n"
    << ".BR " << roff(r.other, true) << " (5),\n"
    << ".BR timesyncctl (1)\n";
  return o.str();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: timesync-config-man master|agent OUTPUT DATE VERSION\n");
    return 64;
  }
  const std::string role = argv[1];
  if (role != "master" && role != "agent") die("role must be master or agent, got " + role);
  const Role& r = role == "master" ? kMaster : kAgent;
  if (!r.loads(r.example)) die("the page's example does not load as a " + role + " file");
  const SchemaDoc doc = parse_schema(r.describe());
  const std::string text = page(r, doc, argv[3], argv[4]);
  std::ofstream out(argv[2], std::ios::binary);
  out << text;
  out.close();
  if (!out) die(std::string("cannot write ") + argv[2]);
  return 0;
}
