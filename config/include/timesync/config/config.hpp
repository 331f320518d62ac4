// Typed configuration of the master and the agent, loaded from YAML files.
//
// Every key is declared once, in a schema table in config.cc (type, default,
// range or allowed values, one-line description); one loader walks that table,
// so programs read the typed structs below and never look a key up by string.
// The member initialisers are the defaults; config_test checks they equal the
// table's. Dotted key names are nested YAML maps: poll.min_s is
//   poll:
//     min_s: 0.125
//
// Validation is strict, because a key silently ignored is a misconfiguration
// nobody sees: unknown keys (at any level), duplicate keys, wrong types,
// out-of-range values, a missing required key, a file written for the other
// role and cross-field conflicts are all errors. An error is one line naming the
// file, the 1-based line and the key, e.g.
//   client.yaml:12: key 'poll.min_s': 0 is out of range [0.01, 60]
//
// Units are in the names: _s seconds, _ms, _us, _ns, _ppm, _ppb.
//
// No exception crosses this API, and no yaml-cpp type appears in it.
// Thread safety: every function is reentrant and may run concurrently; the
// results are plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

namespace timesync::config {

// Enumerators are in the order of their names in the schema (config.cc).
enum class LogLevel { kDebug, kInfo, kWarning, kError };
// The master's timeline: CLOCK_MONOTONIC_RAW, or CLOCK_REALTIME (a jump larger than
// realtime_step_threshold_ms bumps the epoch).
enum class Timebase { kMonotonic, kRealtime };
enum class ServoType { kPll, kKalman };
// Which exchange carries samples (docs/udp-transport.md).
enum class Transport { kAuto, kGrpc, kUdp };
// Where UDP timestamps come from: the NIC's clock, the kernel, or user space.
enum class Timestamping { kAuto, kHardware, kSoftware, kUser };
// The master's external reference (issue 18): what its own clock follows.
enum class ReferenceSource { kNone, kChrony, kPtp };
// Whether readers may read the CPU counter instead of calling clock_gettime
// (issue 20; docs/counter.md): where the kernel vouches for it, also where it
// does not (the CPU's flags still count), or never (the default: readings on
// the counter may step back by up to the map's error where one falls back to
// clock_gettime, and the README promises none do).
enum class CounterUse { kAuto, kOn, kOff };

std::string_view to_string(LogLevel v);
std::string_view to_string(Timebase v);
std::string_view to_string(ServoType v);
std::string_view to_string(Transport v);
std::string_view to_string(Timestamping v);
std::string_view to_string(ReferenceSource v);
std::string_view to_string(CounterUse v);

// A simulated oscillator in place of the host clock (tests and demos).
// With enabled == false (also when the section is absent) the real clock is used.
struct SimClock {
  bool enabled = false;
  double initial_offset_s = 0;         // simulated minus host clock at start
  double freq_ppm = 0;                 // > 0: the simulated clock runs fast
  double wander_ppb_per_sqrt_s = 0;    // random-walk frequency noise
  double step_every_s = 0;             // period of frequency steps; 0 = never
  double step_ppm = 0;                 // size of each frequency step
  double step_ramp_s = 0;              // each step is a linear ramp this long; 0 = a jump
  int64_t seed = 1;                    // random-number seed, so a run can be replayed
  bool operator==(const SimClock&) const = default;
};

// Prometheus exposition: http://listen/metrics. Empty: no metrics server.
struct Metrics {
  std::string listen;
  bool operator==(const Metrics&) const = default;
};

// TLS of the master's timestamp service. Paths are absolute and readable when
// set. cert_file and key_file together turn TLS on; client_ca_file as well
// makes it mutual: only clients presenting a certificate signed by that CA get
// an answer.
struct MasterTls {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool operator==(const MasterTls&) const = default;
  bool enabled() const { return !cert_file.empty(); }
};

// The agent's side: ca_file turns TLS on and is the only CA the master's
// certificate may be signed by; cert_file + key_file are this SoM's client
// certificate (mutual TLS); server_name overrides the name the master's
// certificate must carry (default: the host part of `master`).
struct ClientTls {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;
  bool operator==(const ClientTls&) const = default;
  bool enabled() const { return !ca_file.empty(); }
};

// Beacon streams (TimeService.StreamTime): one ticker stamps a timestamp into
// every open stream rate_hz times a second. Disabled: StreamTime answers
// FAILED_PRECONDITION; more than max_streams open: RESOURCE_EXHAUSTED.
struct MasterBeacon {
  bool enabled = true;
  double rate_hz = 10;
  int max_streams = 64;
  bool operator==(const MasterBeacon&) const = default;
};
// The UDP exchange service: kernel-timestamped two-step exchanges, sealed
// with keys handed out over gRPC when TLS is on. listen "" turns it off.
struct MasterUdp {
  std::string listen = "0.0.0.0:7452";
  Timestamping timestamping = Timestamping::kAuto;
  std::string interface;            // whose hardware stamps (hardware / auto)
  double key_rotation_s = 3600;     // a new cookie key this often
  double session_lifetime_s = 3600; // cookies expire this long after issue
  bool operator==(const MasterUdp&) const = default;
};

// A standby master (standby.hpp in server/): whom it follows and how.
struct MasterStandby {
  std::string of;                  // the primary's host:port; "": this master is a primary
  double max_error_us = 10000;     // serves while its error is below this
  Transport transport = Transport::kAuto;
  struct Poll {
    double min_s = 0.125;
    double max_s = 1;
    double rpc_timeout_s = 0.5;
    bool operator==(const Poll&) const = default;
  };
  Poll poll;
  ClientTls tls;                   // to the primary, and to rejoin.via
  bool operator==(const MasterStandby&) const = default;
};

// A primary back on a new timeline re-joins the fleet's through a standby.
struct MasterRejoin {
  std::vector<std::string> via;    // standbys to ask at start (host:port)
  double wait_s = 5;
  double give_up_s = 60;
  bool operator==(const MasterRejoin&) const = default;
};

// The master's external reference: chronyd (its command socket: tracking) or
// ptp4l (its management socket), read every poll_s. Its error against UTC
// grows at max_clock_error_ppm between reads and while the reference is
// unreachable or unsynchronized. The leap-second list gives TAI-UTC.
struct MasterReference {
  ReferenceSource source = ReferenceSource::kNone;
  // chrony: a Unix socket path or IP:port (the command port); ptp: ptp4l's
  // Unix socket. "": the daemon's default (default_socket()).
  std::string socket;
  double poll_s = 1;
  double max_clock_error_ppm = 1;  // chrony's maxclockerror default
  std::string leap_seconds_file = "/usr/share/zoneinfo/leap-seconds.list";
  struct Ptp {
    int domain = 0;
    double path_asymmetry = 1.0;   // of meanPathDelay counted as error (1: nothing known)
    int64_t extra_ns = 0;          // PHC to system clock (phc2sys), timestamping
    bool operator==(const Ptp&) const = default;
  };
  Ptp ptp;
  bool operator==(const MasterReference&) const = default;
  // socket, or the default of the source's daemon.
  std::string socket_or_default() const {
    if (!socket.empty()) return socket;
    return source == ReferenceSource::kPtp ? "/var/run/ptp4l" : "/run/chrony/chronyd.sock";
  }
};

struct MasterConfig {
  std::string id;                        // empty: the program uses the hostname
  std::string listen = "0.0.0.0:7450";   // host:port of the gRPC server
  Timebase timebase = Timebase::kMonotonic;
  double realtime_step_threshold_ms = 1.0;
  int64_t master_error_ns = 0;           // declared error against its own reference
  int worker_threads = 2;
  MasterBeacon beacon;
  MasterUdp udp;
  Metrics metrics;
  MasterTls tls;
  MasterStandby standby;
  MasterRejoin rejoin;
  MasterReference reference;
  LogLevel log_level = LogLevel::kInfo;
  SimClock sim_clock;
  bool operator==(const MasterConfig&) const = default;
};

struct ClientConfig {
  struct Poll {
    double min_s = 0.125;        // interval while locking
    double max_s = 4.0;          // interval once locked
    double rpc_timeout_s = 0.5;
    int burst = 3;               // exchanges per poll; the fastest one is used
    bool operator==(const Poll&) const = default;
  };
  struct Filter {
    int window = 32;                    // samples over which the minimum delay is kept
    double max_delay_ratio = 3.0;       // reject delay > ratio x minimum delay
    double max_delay_dev_ratio = 10.0;  // reject |offset - prediction| > ratio x excess delay
    bool operator==(const Filter&) const = default;
  };
  struct Servo {
    ServoType type = ServoType::kPll;
    double phase_time_constant_s = 2.0;
    double freq_time_constant_s = 32.0;
    double step_threshold_ms = 1.0;     // first-lock offsets above it are stepped
    double max_slew_ppm = 500;
    double max_freq_ppm = 1000;
    struct Kalman {
      double phase_noise_ns_per_sqrt_s = 20;   // white FM of the oscillator model
      double freq_wander_ppb_per_sqrt_s = 2;   // random-walk FM
      double measurement_floor_ns = 5000;      // noise of a sample at the minimum delay
      bool operator==(const Kalman&) const = default;
    };
    Kalman kalman;
    int innovation_window = 64;         // samples in the innovation statistics
    bool operator==(const Servo&) const = default;
  };
  struct Bound {
    double min_freq_uncertainty_ppb = 10;
    double holdover_wander_ppb_per_s = 1;
    bool operator==(const Bound&) const = default;
  };
  struct Alarm {
    double max_error_us = 1000;      // bound above it: out of sync
    double clear_ratio = 0.8;        // clears when bound < ratio x max_error_us
    double unreachable_after_s = 5;
    double void_after_s = 10;        // validity horizon of the published data
    bool operator==(const Alarm&) const = default;
  };

  struct Calibration {
    // Added to every measured offset (master minus local). Set it to the mean
    // pulse offset a probe observer reports for this SoM against the master
    // (agent edge minus master edge): seed 004's reciprocity calibration of a
    // constant path asymmetry. The bound widens by its magnitude.
    int64_t offset_ns = 0;
    bool operator==(const Calibration&) const = default;
  };

  // Beacon mode: the agent keeps a StreamTime stream open and turns each
  // one-way beacon into a sample, with the one-way delay calibrated by a
  // two-way exchange (a poll.burst) every calibrate_every_s. Off: polling only.
  struct Beacon {
    bool enabled = false;
    double calibrate_every_s = 10;  // two-way exchange period once locked
    int window = 32;                // beacons over which the least-delayed one is found
    double max_excess_us = 30;      // drop a beacon delayed more than this over that one
    double margin_us = 10;          // added to a beacon sample's uncertainty (floor wander)
    bool operator==(const Beacon&) const = default;
  };
  struct Udp {
    std::string master;          // "": the gRPC master's host, the port it offers
    Timestamping timestamping = Timestamping::kAuto;
    std::string interface;       // whose hardware stamps; "": the route's
    double retry_s = 30;         // after a fallback to gRPC, UDP again this much later
    bool operator==(const Udp&) const = default;
  };
  // Several masters (FailoverLink in client/): probed, failed over, failed back.
  struct Failover {
    double probe_every_s = 4;
    int failures_to_switch = 2;
    double hold_down_s = 30;
    bool operator==(const Failover&) const = default;
  };
  std::string id;                          // empty: the program uses the hostname
  std::string master;                      // required, host:port: masters' first
  std::vector<std::string> masters;        // in order of preference (at least one)
  Failover failover;
  Transport transport = Transport::kAuto;
  Udp udp;
  std::string listen = "127.0.0.1:7451";   // the agent's own gRPC (health, WatchAlarms)
  std::string segment = "/dev/shm/timesync";
  CounterUse counter = CounterUse::kOff;
  Poll poll;
  Filter filter;
  Servo servo;
  Bound bound;
  Alarm alarm;
  Calibration calibration;
  Beacon beacon;
  Metrics metrics;
  ClientTls tls;
  // The SoM's chronyd as a consumer (issue 18): every publication is sent to
  // `refclock SOCK <socket>` as a sample of UTC (the master's timeline, plus
  // its UTC offset when it is not realtime), so chronyd steers the system
  // clock and logs share the master's timeline. "" (default): off.
  struct ChronyRefclock {
    std::string socket;
    double max_error_us = 1000;  // samples with a larger bound are not sent; chrony's delay = 2x this
    bool operator==(const ChronyRefclock&) const = default;
  };
  ChronyRefclock chrony_refclock;
  LogLevel log_level = LogLevel::kInfo;
  SimClock sim_clock;
  bool operator==(const ClientConfig&) const = default;
};

// Either a value or the error text, "file:line: key '...': ..." (then value is
// empty).
template <class T>
struct Loaded {
  std::optional<T> value;
  std::string error;
  bool ok() const { return value.has_value(); }
};

Loaded<MasterConfig> load_master(const std::string& path);
Loaded<ClientConfig> load_client(const std::string& path);

// As load_*, from text; filename is only used in error messages.
Loaded<MasterConfig> parse_master(std::string_view yaml_text, const std::string& filename);
Loaded<ClientConfig> parse_client(std::string_view yaml_text, const std::string& filename);

// Every key with its type, default, range or values and description, for
// --help output and documentation.
std::string describe_master_schema();
std::string describe_client_schema();

}  // namespace timesync::config
