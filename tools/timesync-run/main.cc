// timesync-run: starts a command at a synchronized instant (--at) or at every
// boundary of a period on the synchronized timeline (--every). What the
// cron + `date` + `sleep 0.05` loop does, at the instant instead of up to 50 ms
// after it, and on the timeline every SoM shares.
//
//   timesync-run [--segment PATH] (--at TIME | --every PERIOD [--offset D] [--count N])
//                [--max-error-us N] [--spin-us N] [--launch prefork|spawn] [--no-overlap]
//                [--quiet] [--wait-sync [--wait-timeout D]] -- COMMAND [ARGS...]
//
// --wait-sync first waits until the clock serves timestamps within
// --max-error-us (the agent just started, or is still synchronizing), for at
// most --wait-timeout, then plans the start: a unit can start its command
// with timesync-run at boot without a separate `timesyncctl waitsync`.
//
// Everything a start needs (PATH lookup, argv, environment) is prepared before
// the instant, so what is left after waking is one execve() (--at) or one
// posix_spawn() (--every). The alternative, --launch prefork (a child forked
// ahead that waits on a pipe), was slower in the test bed: after the fork every
// page of timesync-run is copy-on-write, so the parent takes page faults when it
// wakes and the child's exec tears down a copied address space
// (docs/bench/timesync-run.md). The command sees:
//   TIMESYNC_RUN_TARGET_NS   the synchronized instant it was meant to start at
//   TIMESYNC_RUN_WAKE_NS     synchronized time read by timesync-run on waking
//   TIMESYNC_RUN_WAKE_RAW_NS the CLOCK_MONOTONIC_RAW reading behind it
//   TIMESYNC_RUN_BOUND_NS    the error bound of that reading
//   TIMESYNC_RUN_INDEX       (--every) k, with TARGET = k * PERIOD + OFFSET: the
//                            same number on every SoM for the same boundary
//   TIMESYNC_RUN_SEGMENT     the segment path
//
// Exit status (sysexits where one fits): for --at the command's own (timesync-run
// becomes the command); for --every 0 when every started command exited 0, 1
// otherwise, 128+N after signal N. Before anything starts: 64 usage, 65 --at
// time already past, 66 segment missing or unreadable, 69 clock out of sync (or
// lost while waiting), 70 internal error, 75 the timeline stepped while
// waiting for --at, 126 command not executable, 127 command not found.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "timesync/clock.hpp"
#include "timesync/sleep.hpp"
#include "timesync/wait.hpp"

extern char** environ;

namespace {

constexpr int kExitUsage = 64, kExitPast = 65, kExitNoSegment = 66, kExitOutOfSync = 69,
              kExitInternal = 70, kExitEpoch = 75, kExitNotExecutable = 126, kExitNotFound = 127;
constexpr int64_t kNsPerSec = 1'000'000'000;

std::atomic<bool> g_stop{false};
volatile sig_atomic_t g_signal = 0;
void on_signal(int sig) {
  g_signal = sig;
  g_stop.store(true);
}

const char* const kUsage =
    "usage: timesync-run [--segment PATH] (--at TIME | --every PERIOD [--offset D] [--count N])\n"
    "                    [--max-error-us N] [--spin-us N] [--launch prefork|spawn] [--no-overlap]\n"
    "                    [--quiet] [--wait-sync [--wait-timeout D]] -- COMMAND [ARGS...]\n"
    "  TIME    synchronized seconds (12345.5), +DURATION from now (+5s), or\n"
    "          next:PERIOD[+OFFSET]: the next multiple of PERIOD, plus OFFSET (next:1m+10s)\n"
    "  PERIOD, D, DURATION: a number with a unit: ns us ms s m h (250ms, 1.5s)\n"
    "  --every starts one COMMAND per boundary and does not wait for the previous one\n"
    "          (--no-overlap: skip a boundary while the previous COMMAND still runs)\n"
    "  --launch spawn (default): posix_spawn at the boundary; prefork: a child forked\n"
    "          ahead waits on a pipe and execs when told\n"
    "  --max-error-us N: refuse while the error bound exceeds N us (default: the agent's limit)\n"
    "  --spin-us N: busy-wait the last N us before the instant (default 50)\n"
    "  --wait-sync: first wait until synchronized within --max-error-us (for ever, or\n"
    "          --wait-timeout D), then plan the start (+DURATION counts from then)\n"
    "exit: --at: COMMAND's status; --every: 0 if every COMMAND exited 0, else 1;\n"
    "      64 usage, 65 time already past, 66 no segment, 69 out of sync, 70 internal,\n"
    "      75 timeline stepped while waiting, 126/127 COMMAND not executable/found\n";

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "timesync-run: %s\n%s", why.c_str(), kUsage);
  std::exit(kExitUsage);
}

[[noreturn]] void fail(int code, const std::string& why) {
  std::fprintf(stderr, "timesync-run: %s\n", why.c_str());
  std::exit(code);
}

// "12.5" with `scale` ns per unit, exactly (no floating point): at most nine
// fractional digits; false on anything else or overflow.
bool parse_decimal(std::string_view s, int64_t scale, int64_t* out) {
  if (s.empty()) return false;
  const size_t dot = s.find('.');
  const std::string_view ip = s.substr(0, dot);
  const std::string_view fp = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return false;
  if (fp.size() > 9 || (dot != std::string_view::npos && fp.empty())) return false;
  int64_t whole = 0;
  for (const char c : ip) {
    if (c < '0' || c > '9') return false;
    if (__builtin_mul_overflow(whole, 10, &whole) || __builtin_add_overflow(whole, c - '0', &whole)) {
      return false;
    }
  }
  __extension__ __int128 frac = 0, denom = 1;
  for (const char c : fp) {
    if (c < '0' || c > '9') return false;
    frac = frac * 10 + (c - '0');
    denom *= 10;
  }
  int64_t v = 0;
  if (__builtin_mul_overflow(whole, scale, &v)) return false;
  const auto f = static_cast<int64_t>(frac * scale / denom);
  if (__builtin_add_overflow(v, f, &v)) return false;
  *out = v;
  return true;
}

// A duration: number plus unit. Returns false for a missing or unknown unit.
bool parse_duration(std::string_view s, int64_t* out_ns) {
  static constexpr struct {
    const char* unit;
    int64_t ns;
  } kUnits[] = {{"ns", 1},           {"us", 1'000},          {"ms", 1'000'000},
                {"s", kNsPerSec},    {"m", 60 * kNsPerSec},  {"h", 3600 * kNsPerSec}};
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  const std::string_view num = s.substr(0, i), unit = s.substr(i);
  for (const auto& u : kUnits) {
    if (unit == u.unit) return parse_decimal(num, u.ns, out_ns);
  }
  return false;
}

int64_t parse_positive_duration(const std::string& flag, const std::string& v) {
  int64_t ns = 0;
  if (!parse_duration(v, &ns) || ns <= 0) {
    usage_error("bad " + flag + " '" + v + "': want a positive number with a unit (ns us ms s m h)");
  }
  return ns;
}

long parse_count(const std::string& flag, const std::string& v, long min) {
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || n < min) {
    usage_error("bad " + flag + " '" + v + "': want an integer >= " + std::to_string(min));
  }
  return n;
}

struct AtSpec {
  enum Kind { kAbsolute, kRelative, kNextMultiple } kind = kAbsolute;
  int64_t a_ns = 0;  // absolute time, relative delay, or the period
  int64_t b_ns = 0;  // next:PERIOD+OFFSET's offset
};

AtSpec parse_at(const std::string& v) {
  AtSpec at;
  if (v.rfind("next:", 0) == 0) {
    at.kind = AtSpec::kNextMultiple;
    const std::string rest = v.substr(5);
    const size_t plus = rest.find('+');
    at.a_ns = parse_positive_duration("--at period", rest.substr(0, plus));
    if (plus != std::string::npos &&
        (!parse_duration(rest.substr(plus + 1), &at.b_ns) || at.b_ns < 0)) {
      usage_error("bad --at offset in '" + v + "'");
    }
  } else if (!v.empty() && v[0] == '+') {
    at.kind = AtSpec::kRelative;
    at.a_ns = parse_positive_duration("--at", v.substr(1));
  } else if (!parse_decimal(v, kNsPerSec, &at.a_ns)) {
    usage_error("bad --at '" + v +
                "': want synchronized seconds (12345.5), +DURATION (+5s) or next:PERIOD[+OFFSET]");
  }
  return at;
}

struct Options {
  std::string segment = timesync::kDefaultSegmentPath;
  std::optional<AtSpec> at;
  int64_t every_ns = 0;
  int64_t offset_ns = 0;
  bool have_offset = false;
  long count = 0;  // 0: until a signal
  bool have_count = false;
  uint64_t max_error_ns = 0;
  int64_t spin_ns = 50'000;
  bool spawn = true;
  bool no_overlap = false;
  bool quiet = false;
  bool wait_sync = false;
  int64_t wait_timeout_ns = -1;  // --wait-timeout; -1: for ever
  std::vector<std::string> command;
};

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.empty() || a[0] != '-') break;  // the command starts here
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error("missing value for " + a);
      return argv[++i];
    };
    if (a == "--segment") o.segment = value();
    else if (a == "--at") o.at = parse_at(value());
    else if (a == "--every") o.every_ns = parse_positive_duration(a, value());
    else if (a == "--offset") {
      const std::string v = value();
      if (!parse_duration(v, &o.offset_ns) || o.offset_ns < 0) usage_error("bad --offset '" + v + "'");
      o.have_offset = true;
    } else if (a == "--count") {
      o.count = parse_count(a, value(), 1);
      o.have_count = true;
    } else if (a == "--max-error-us") {
      o.max_error_ns = static_cast<uint64_t>(parse_count(a, value(), 1)) * 1'000;
    } else if (a == "--spin-us") {
      o.spin_ns = parse_count(a, value(), 0) * 1'000;
    } else if (a == "--launch") {
      const std::string v = value();
      if (v != "prefork" && v != "spawn") usage_error("bad --launch '" + v + "': prefork or spawn");
      o.spawn = v == "spawn";
    } else if (a == "--no-overlap") o.no_overlap = true;
    else if (a == "--quiet") o.quiet = true;
    else if (a == "--wait-sync") o.wait_sync = true;
    else if (a == "--wait-timeout") o.wait_timeout_ns = parse_positive_duration(a, value());
    else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      usage_error("unknown option " + a);
    }
  }
  for (; i < argc; ++i) o.command.emplace_back(argv[i]);
  if (o.at.has_value() == (o.every_ns > 0)) usage_error("give exactly one of --at and --every");
  if (o.at && (o.have_offset || o.have_count)) usage_error("--offset and --count go with --every");
  if (o.command.empty()) usage_error("no command to run (put it after --)");
  if (o.wait_timeout_ns >= 0 && !o.wait_sync) usage_error("--wait-timeout goes with --wait-sync");
  return o;
}

// The command's path, looked up now rather than at the instant.
std::string resolve(const std::string& name) {
  auto check = [](const std::string& p) -> int {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) return kExitNotFound;
    if (!S_ISREG(st.st_mode) || access(p.c_str(), X_OK) != 0) return kExitNotExecutable;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    const int rc = check(name);
    if (rc != 0) fail(rc, name + (rc == kExitNotFound ? ": not found" : ": not executable"));
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  int worst = kExitNotFound;
  while (true) {
    const size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    const int rc = check(candidate);
    if (rc == 0) return candidate;
    if (rc == kExitNotExecutable) worst = rc;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  fail(worst, name + (worst == kExitNotFound ? ": command not found" : ": not executable"));
}

// The child's environment: ours without stale TIMESYNC_RUN_* entries, plus
// fixed-width slots that are filled in after waking without allocating (the
// prefork child does it between fork and exec, where only async-signal-safe
// work is allowed).
class Env {
 public:
  Env(const std::string& segment, bool with_index) {
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "TIMESYNC_RUN_", 13) != 0) keep_.emplace_back(*e);
    }
    keep_.push_back("TIMESYNC_RUN_SEGMENT=" + segment);
    add("TIMESYNC_RUN_TARGET_NS=", &target_);
    add("TIMESYNC_RUN_WAKE_NS=", &wake_);
    add("TIMESYNC_RUN_WAKE_RAW_NS=", &wake_raw_);
    add("TIMESYNC_RUN_BOUND_NS=", &bound_);
    if (with_index) add("TIMESYNC_RUN_INDEX=", &index_);
    for (auto& s : keep_) envp_.push_back(s.data());
    for (auto& s : slots_) envp_.push_back(s.data());
    envp_.push_back(nullptr);
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  void fill(int64_t target, const timesync::WakeReport& w, int64_t index) {
    put(target_, target);
    put(wake_, w.woke.ns);
    put(wake_raw_, w.woke_local.ns);
    put(bound_, static_cast<int64_t>(w.bound_ns));
    if (index_.prefix_len != 0) put(index_, index);
  }
  char* const* envp() { return envp_.data(); }

 private:
  struct Slot {
    size_t idx = 0;
    size_t prefix_len = 0;
  };
  void add(const char* prefix, Slot* slot) {
    slot->idx = slots_.size();
    slot->prefix_len = std::strlen(prefix);
    slots_.push_back(std::string(prefix) + std::string(21, '\0'));
  }
  // Async-signal-safe integer formatting into the slot's reserved tail.
  void put(const Slot& s, int64_t v) {
    char* p = slots_[s.idx].data() + s.prefix_len;
    char tmp[21];
    int n = 0;
    const bool neg = v < 0;
    uint64_t u = neg ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
    do {
      tmp[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (neg) *p++ = '-';
    while (n > 0) *p++ = tmp[--n];
    *p = '\0';
  }
  std::vector<std::string> keep_;
  std::vector<std::string> slots_;  // never resized after the constructor
  std::vector<char*> envp_;
  Slot target_, wake_, wake_raw_, bound_, index_;
};

struct Argv {
  explicit Argv(std::vector<std::string> args) : strings(std::move(args)) {
    for (auto& s : strings) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  std::vector<std::string> strings;
  std::vector<char*> ptrs;
};

int exit_code_for(timesync::Error e) {
  using timesync::Error;
  switch (e) {
    case Error::kNoSegment:
    case Error::kPermission:
    case Error::kIo:
    case Error::kTruncated:
    case Error::kBadMagic:
    case Error::kBadVersion:
    case Error::kSizeMismatch:
      return kExitNoSegment;
    case Error::kNotInitialized:
    case Error::kBusy:
    case Error::kCorrupt:
    case Error::kNotSynchronized:
    case Error::kStale:
    case Error::kBoundExceeded:
      return kExitOutOfSync;
    case Error::kEpochChanged:
      return kExitEpoch;
    default:
      return kExitInternal;
  }
}

std::string seconds(int64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%09" PRId64, ns / kNsPerSec,
                (ns % kNsPerSec + kNsPerSec) % kNsPerSec);
  return buf;
}

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Checked once before anything is prepared: refuse at once, with the reason.
timesync::TimestampWithError require_sync(const timesync::Clock& clock, const Options& o) {
  const auto now = clock.get_timestamp_with_error();
  if (!now.ok()) {
    fail(exit_code_for(now.error),
         "refusing to start: " + std::string(timesync::to_string(now.error)) + " (segment " +
             o.segment + ", bound " + std::to_string(now.bound_ns / 1000) + " us)");
  }
  if (o.max_error_ns != 0 && now.bound_ns > o.max_error_ns) {
    fail(kExitOutOfSync, "refusing to start: error bound " + std::to_string(now.bound_ns / 1000) +
                             " us exceeds --max-error-us " + std::to_string(o.max_error_ns / 1000));
  }
  return now;
}

int run_at(const timesync::Clock& clock, const Options& o, const timesync::SleepOptions& so) {
  const auto now = require_sync(clock, o);
  int64_t target = 0;
  switch (o.at->kind) {
    case AtSpec::kAbsolute:
      target = o.at->a_ns;
      break;
    case AtSpec::kRelative:
      target = now.time.ns + o.at->a_ns;
      break;
    case AtSpec::kNextMultiple:
      target = (floor_div(now.time.ns - o.at->b_ns, o.at->a_ns) + 1) * o.at->a_ns + o.at->b_ns;
      break;
  }
  if (target <= now.time.ns) {
    fail(kExitPast, "--at " + seconds(target) + " has already passed (now " +
                        seconds(now.time.ns) + ")");
  }
  const std::string path = resolve(o.command[0]);
  Argv argv(o.command);
  Env env(o.segment, false);
  if (!o.quiet) {
    std::fprintf(stderr, "timesync-run: starting %s at %s (in %.3f s)\n", o.command[0].c_str(),
                 seconds(target).c_str(), static_cast<double>(target - now.time.ns) / 1e9);
  }
  const auto woke = timesync::sleep_until(clock, timesync::SyncTime{target}, so);
  if (!woke.ok()) {
    if (woke.error() == timesync::Error::kInterrupted) fail(128 + (g_signal ? g_signal : SIGINT), "interrupted");
    fail(exit_code_for(woke.error()), "not starting " + o.command[0] + ": " +
                                          timesync::to_string(woke.error()) + " while waiting");
  }
  env.fill(target, woke.value(), 0);
  prctl(PR_SET_TIMERSLACK, 0);  // the command gets the default slack back
  execve(path.c_str(), argv.ptrs.data(), env.envp());
  const int err = errno;
  fail(err == ENOENT ? kExitNotFound : kExitNotExecutable,
       "cannot execute " + path + ": " + std::strerror(err));
}

// --every --launch prefork: one child is always forked ahead, blocked on a
// pipe. At the boundary the parent writes the boundary's numbers; the child
// puts them in its environment and execs. Kept for comparison: measured slower
// than posix_spawn (vfork-style, no address-space copy) on the test bed.
struct Trigger {
  int64_t index, target, woke, woke_raw;
  uint64_t bound;
};

class Armed {
 public:
  bool arm(const std::string& path, Argv& argv, Env& env) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    const pid_t pid = fork();
    if (pid < 0) {
      close(fds[0]);
      close(fds[1]);
      return false;
    }
    if (pid == 0) {
      close(fds[1]);
      // Until it execs, an armed child dies of SIGINT/SIGTERM like any process.
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      sigaction(SIGINT, &dfl, nullptr);
      sigaction(SIGTERM, &dfl, nullptr);
      Trigger t{};
      ssize_t n;
      do {
        n = read(fds[0], &t, sizeof t);
      } while (n < 0 && errno == EINTR);
      if (n != static_cast<ssize_t>(sizeof t)) _exit(0);  // disarmed: the parent closed the pipe
      timesync::WakeReport w;
      w.woke = timesync::SyncTime{t.woke};
      w.woke_local = timesync::LocalTime{t.woke_raw};
      w.bound_ns = t.bound;
      env.fill(t.target, w, t.index);
      prctl(PR_SET_TIMERSLACK, 0);
      execve(path.c_str(), argv.ptrs.data(), env.envp());
      _exit(errno == ENOENT ? kExitNotFound : kExitNotExecutable);
    }
    close(fds[0]);
    pid_ = pid;
    fd_ = fds[1];
    return true;
  }
  // Returns the pid that now runs the command.
  pid_t fire(const Trigger& t) {
    const ssize_t n = write(fd_, &t, sizeof t);
    close(fd_);
    fd_ = -1;
    const pid_t pid = pid_;
    pid_ = -1;
    return n == static_cast<ssize_t>(sizeof t) ? pid : -1;
  }
  void disarm() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool armed() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The armed child died before it was fired (a signal to the process group).
  void lost() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

struct Children {
  long running = 0;
  long failed = 0;
  void reap(bool block, bool quiet, Armed* armed) {
    while (running > 0) {
      int st = 0;
      const pid_t pid = waitpid(-1, &st, block ? 0 : WNOHANG);
      if (pid <= 0) {
        if (pid < 0 && errno == EINTR && block) continue;
        return;
      }
      if (pid == armed->pid()) {
        armed->lost();
        continue;
      }
      --running;
      const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
      if (!ok) {
        ++failed;
        if (!quiet) {
          if (WIFEXITED(st)) std::fprintf(stderr, "timesync-run: pid %d exited %d\n", pid, WEXITSTATUS(st));
          else std::fprintf(stderr, "timesync-run: pid %d killed by signal %d\n", pid, WTERMSIG(st));
        }
      }
    }
  }
};

int run_every(const timesync::Clock& clock, const Options& o, const timesync::SleepOptions& so) {
  require_sync(clock, o);
  const std::string path = resolve(o.command[0]);
  Argv argv(o.command);
  Env env(o.segment, true);
  timesync::PeriodicTimer timer(clock, o.every_ns, o.offset_ns, so);
  Armed armed;
  Children kids;
  long fired = 0;
  uint64_t missed_total = 0, skipped_busy = 0;
  timesync::Error outage = timesync::Error::kOk;  // reported once per outage
  int rc = 0;
  while (o.count == 0 || fired < o.count) {
    kids.reap(false, o.quiet, &armed);
    if (!o.spawn && !armed.armed() && !armed.arm(path, argv, env)) {
      fail(kExitInternal, std::string("cannot fork: ") + std::strerror(errno));
    }
    const auto tick = timer.wait_next();
    if (g_stop.load()) break;
    if (!tick.ok()) {
      const timesync::Error e = tick.error();
      if (e == timesync::Error::kInterrupted) continue;  // a signal we do not stop for
      const int code = exit_code_for(e);
      if (code == kExitInternal) fail(code, std::string("timer: ") + timesync::to_string(e));
      if (e != outage && e != timesync::Error::kEpochChanged) {
        std::fprintf(stderr, "timesync-run: not firing while out of sync: %s\n", timesync::to_string(e));
      } else if (e == timesync::Error::kEpochChanged) {
        std::fprintf(stderr, "timesync-run: timeline stepped (new epoch); re-aligning\n");
      }
      outage = e;
      if (code == kExitOutOfSync) {
        // Nothing to sleep on while out of sync: look again every 100 ms (or
        // every period, if shorter); the boundaries that pass are counted as missed.
        const int64_t wait_ns = std::min<int64_t>(o.every_ns, 100'000'000);
        const timespec ts{static_cast<time_t>(wait_ns / kNsPerSec), static_cast<long>(wait_ns % kNsPerSec)};
        nanosleep(&ts, nullptr);
      }
      continue;
    }
    if (outage != timesync::Error::kOk) {
      std::fprintf(stderr, "timesync-run: back in sync\n");
      outage = timesync::Error::kOk;
    }
    const auto& t = tick.value();
    missed_total += t.missed;
    if (t.missed != 0 && !o.quiet) {
      std::fprintf(stderr, "timesync-run: %" PRIu64 " boundaries missed before %" PRId64 "\n",
                   t.missed, t.index);
    }
    if (o.no_overlap) {
      kids.reap(false, o.quiet, &armed);
      if (kids.running > 0) {
        ++skipped_busy;
        if (!o.quiet) {
          std::fprintf(stderr, "timesync-run: boundary %" PRId64 " skipped: previous command still runs\n",
                       t.index);
        }
        continue;
      }
    }
    pid_t pid = -1;
    if (!o.spawn) {
      pid = armed.fire(Trigger{t.index, t.boundary.ns, t.wake.woke.ns, t.wake.woke_local.ns,
                               t.wake.bound_ns});
    } else {
      env.fill(t.boundary.ns, t.wake, t.index);
      if (posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv.ptrs.data(), env.envp()) != 0) {
        pid = -1;
      }
    }
    if (pid < 0) {
      std::fprintf(stderr, "timesync-run: boundary %" PRId64 ": cannot start %s\n", t.index, path.c_str());
      ++kids.failed;
    } else {
      ++kids.running;
    }
    ++fired;
    if (!o.quiet) {
      std::fprintf(stderr, "timesync-run: boundary %" PRId64 " (%s): woke %+.1f us, bound %.1f us, pid %d\n",
                   t.index, seconds(t.boundary.ns).c_str(), static_cast<double>(t.wake.late_ns()) / 1e3,
                   static_cast<double>(t.wake.bound_ns) / 1e3, pid);
    }
  }
  armed.disarm();
  kids.reap(true, o.quiet, &armed);
  if (!o.quiet || missed_total != 0 || skipped_busy != 0) {
    std::fprintf(stderr, "timesync-run: %ld started, %ld failed, %" PRIu64 " missed, %" PRIu64 " skipped (busy)\n",
                 fired, kids.failed, missed_total, skipped_busy);
  }
  if (g_signal != 0) return 128 + g_signal;
  if (kids.failed != 0) rc = 1;
  return rc;
}

}  // namespace

// --wait-sync: returns once synchronized within --max-error-us; exits with
// the code of what is still wrong when --wait-timeout passes, or 128+N after
// signal N.
void wait_for_sync(const Options& o) {
  struct sigaction sa {}, old_int {}, old_term {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the wait ends at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  timesync::WaitOptions w;
  w.path = o.segment;
  w.max_error_ns = o.max_error_ns;
  w.timeout_ns = o.wait_timeout_ns;
  w.stop = &g_stop;
  const auto r = timesync::wait_synchronized(w);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (r.ok()) return;
  if (r.error() == timesync::Error::kInterrupted) std::exit(128 + static_cast<int>(g_signal));
  const int code = exit_code_for(r.error());
  fail(code == kExitInternal ? kExitNoSegment : code,
       o.segment + ": not synchronized" + (o.max_error_ns ? " within --max-error-us" : "") +
           (o.wait_timeout_ns >= 0 ? " before --wait-timeout" : "") + ": " +
           timesync::to_string(r.error()));
}

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.wait_sync) wait_for_sync(o);
  auto clock = timesync::Clock::open(o.segment);
  if (!clock.ok()) {
    fail(exit_code_for(clock.error()) == kExitInternal ? kExitNoSegment : exit_code_for(clock.error()),
         o.segment + ": " + timesync::to_string(clock.error()));
  }
  // The kernel may defer a timer by the thread's slack (50 us by default) to
  // batch wake-ups; this process wants its wake-ups on time.
  prctl(PR_SET_TIMERSLACK, 1);
  timesync::SleepOptions so;
  so.spin_ns = o.spin_ns;
  so.max_error_ns = o.max_error_ns;
  so.stop = &g_stop;
  if (o.every_ns > 0) {
    // Handlers without SA_RESTART: a signal ends the current sleep at once.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    return run_every(clock.value(), o, so);
  }
  return run_at(clock.value(), o, so);
}
