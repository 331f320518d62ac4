// timesyncctl: the operator's view of timesync, like chronyc for chronyd.
//
//   timesyncctl status  [TARGET] [--json]     agent (default 127.0.0.1:7451) or master
//   timesyncctl now     [--segment PATH] [--json] [--count N --interval-ms MS]
//   timesyncctl watch   [TARGET...] [--interval-ms MS] [--duration-s S] [--count N] [--json]
//   timesyncctl health  [TARGET] [--service NAME] [--json]
//   timesyncctl master  [TARGET] [--json]    GetStatus of a master (default 127.0.0.1:7450)
//   timesyncctl alarms  [TARGET] [--count N] [--timeout-s S] [--json]
//   timesyncctl waitsync [--max-error US] [--timeout S] [--segment PATH] [--json]
//   TLS to a master: --ca FILE [--cert FILE --key FILE] [--server-name NAME]
//
// status: what `chronyc tracking` shows, for one agent: master, state, offset,
// frequency, error bound, last answer, poll interval, epoch, alarms. Against a
// master (no AgentService) it describes the master instead.
// now: reads the shared segment through libtimesync, exactly as an application
// does: the synchronized time and its bound.
// waitsync: waits until the segment serves timestamps within --max-error us
// (default: the agent's alarm.max_error_us) or --timeout seconds pass (default:
// for ever); polls every --interval-ms (default 10 ms).
// watch: one status line per agent per interval, and every alarm as the agent
// raises or clears it (WatchAlarms), until Ctrl-C; --json gives JSON lines.
//
// Exit codes: 0 ok; 1 RPC failed or segment unreadable; 2 health not SERVING;
// 3 now/waitsync: out of sync (timestamps refused, or not within the timeout);
// 64 usage.
// (The test bed's truth monitor is lab/truth-monitor, not installed.)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ctl.hpp"

namespace {

using timesync::ctl::Args;

[[noreturn]] void usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "timesyncctl: %s\n", why);
  std::fprintf(
      why != nullptr ? stderr : stdout,
      "usage: timesyncctl status  [TARGET] [--json]\n"
      "       timesyncctl now     [--segment PATH] [--json] [--count N --interval-ms MS]\n"
      "       timesyncctl watch   [TARGET...] [--interval-ms MS] [--duration-s S] [--count N] "
      "[--json]\n"
      "       timesyncctl health  [TARGET] [--service NAME] [--json]\n"
      "       timesyncctl master  [TARGET] [--json]\n"
      "       timesyncctl alarms  [TARGET] [--count N] [--timeout-s S] [--json]\n"
      "       timesyncctl waitsync [--max-error US] [--timeout S] [--segment PATH] "
      "[--interval-ms MS] [--json]\n"
      "TARGET is host:port (also --target). Defaults: 127.0.0.1:7450 for master, "
      "127.0.0.1:7451 otherwise.\n"
      "TLS (a master with tls set): --ca FILE [--cert FILE --key FILE] [--server-name NAME]\n"
      "Exit: 0 ok, 1 RPC/segment error, 2 not SERVING, 3 out of sync (now, waitsync), "
      "64 usage.\n");
  std::exit(why != nullptr ? timesync::ctl::kExitUsage : timesync::ctl::kExitOk);
}

double num(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0' || !std::isfinite(d) || d < 0) {
    usage(("bad value for " + flag + ": '" + v + "'").c_str());
  }
  return d;
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("missing command");
  Args a;
  a.cmd = argv[1];
  if (a.cmd == "-h" || a.cmd == "--help") usage(nullptr);
  for (int i = 2; i < argc; ++i) {
    const std::string f = argv[i];
    auto v = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + f).c_str());
      return argv[++i];
    };
    if (f == "-h" || f == "--help") usage(nullptr);
    else if (!f.empty() && f[0] != '-') a.targets.push_back(f);
    else if (f == "--target") a.targets.push_back(v());
    else if (f == "--service") a.service = v();
    else if (f == "--segment") a.segment = v();
    else if (f == "--count") a.count = static_cast<int>(num(f, v()));
    else if (f == "--timeout-s" || f == "--timeout") a.timeout_s = num(f, v());
    else if (f == "--max-error") a.max_error_us = num(f, v());
    else if (f == "--duration-s") a.duration_s = num(f, v());
    else if (f == "--interval-ms") {
      a.interval_ms = std::max(10, static_cast<int>(num(f, v())));
      a.interval_set = true;
    }
    else if (f == "--json") a.json = true;
    else if (f == "--ca") a.tls.ca_file = v();
    else if (f == "--cert") a.tls.cert_file = v();
    else if (f == "--key") a.tls.key_file = v();
    else if (f == "--server-name") a.tls.server_name = v();
    else usage(("unknown option '" + f + "'").c_str());
  }
  if (a.targets.empty()) a.targets.push_back(a.cmd == "master" ? "127.0.0.1:7450" : "127.0.0.1:7451");
  if (a.targets.size() > 1 && a.cmd != "watch") {
    usage(("'" + a.cmd + "' takes one target").c_str());
  }
  if (a.tls.ca_file.empty() && (!a.tls.cert_file.empty() || !a.tls.server_name.empty())) {
    usage("--cert and --server-name need --ca (the CA that signed the master's certificate)");
  }
  if (a.tls.cert_file.empty() != a.tls.key_file.empty()) usage("--cert and --key go together");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  namespace ctl = timesync::ctl;
  const Args a = parse(argc, argv);
  if (a.cmd == "status") return ctl::cmd_status(a);
  if (a.cmd == "now") return ctl::cmd_now(a);
  if (a.cmd == "watch") return ctl::cmd_watch(a);
  if (a.cmd == "health") return ctl::cmd_health(a);
  if (a.cmd == "master") return ctl::cmd_master(a);
  if (a.cmd == "alarms") return ctl::cmd_alarms(a);
  if (a.cmd == "waitsync") return ctl::cmd_waitsync(a);
  usage(("unknown command '" + a.cmd + "'").c_str());
}
