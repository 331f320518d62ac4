// PtpStatus: the state of a ptp4l instance, read over its management socket
// (the Unix socket pmc uses, /var/run/ptp4l by default), and the error bound
// it implies.
//
// Four GET requests, as `pmc -u -b 0` sends them (IEEE 1588 management
// messages with a zero-length management TLV, linuxptp's datasets):
//   DEFAULT_DATA_SET   the clock's identity and number of ports
//   TIME_STATUS_NP     offset from the master, gmPresent, gmIdentity (linuxptp)
//   CURRENT_DATA_SET   stepsRemoved, meanPathDelay
//   PORT_DATA_SET      one answer per port: its state (SLAVE, MASTER, ...)
// The bytes are built and parsed by pure functions that tests drive directly;
// PtpStatus only moves them over the socket.
//
// Units: ns. Sign: offset_from_master_ns is ptp4l's master_offset: the local
// clock (the PHC ptp4l disciplines, or CLOCK_REALTIME with -S) minus the
// master's: positive means the local clock is ahead.
//
// Error: |offset| + path_asymmetry_fraction x meanPathDelay + extra_ns. PTP
// assumes both directions take meanPathDelay; an unknown asymmetry moves the
// offset by up to the whole one-way delay (all of the round trip one way), so
// fraction 1.0 is the bound with no knowledge of the link; a link measured to
// be symmetric to within x% can use x/100. extra_ns covers what the offset
// does not show (PHC-to-system transfer by phc2sys, timestamping error).
//
// Thread safety: values are plain; one thread at a time per PtpStatus.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "timesync/reference/status.hpp"

namespace timesync::reference {

namespace detail {
class DgramClient;  // src/dgram_client.hpp
}

enum class PtpPortState : uint8_t {
  kInitializing = 1, kFaulty = 2, kDisabled = 3, kListening = 4, kPreMaster = 5,
  kMaster = 6, kPassive = 7, kUncalibrated = 8, kSlave = 9, kGrandMaster = 10,  // 10: linuxptp's own
};
const char* to_string(PtpPortState state);  // "SLAVE", ...; "UNKNOWN" for other values

using ClockIdentity = std::array<uint8_t, 8>;
std::string to_string(const ClockIdentity& id);  // "aabbcc.fffe.ddeeff", as pmc prints

struct PtpPort {
  uint16_t number = 0;
  PtpPortState state = PtpPortState::kInitializing;
  int64_t peer_mean_path_delay_ns = 0;  // P2P only
};

struct PtpErrorParams {
  double path_asymmetry_fraction = 1.0;  // of meanPathDelay; 1.0 = nothing known of the link
  int64_t extra_ns = 0;
};

// --- Datasets as ptp4l sends them (pure decoding) ----------------------------

struct PtpDefaultDataSet {
  uint16_t number_ports = 0;
  ClockIdentity clock_identity{};
  uint8_t domain_number = 0;
  bool slave_only = false;
};
struct PtpTimeStatus {
  int64_t master_offset_ns = 0;
  int64_t ingress_time_ns = 0;  // local clock when the last Sync arrived (0: none yet)
  bool gm_present = false;
  ClockIdentity gm_identity{};
};
struct PtpCurrentDataSet {
  uint16_t steps_removed = 0;
  int64_t offset_from_master_ns = 0;  // TimeInterval (2^-16 ns) truncated to ns
  int64_t mean_path_delay_ns = 0;
};

inline constexpr uint16_t kPtpMidDefaultDataSet = 0x2000;
inline constexpr uint16_t kPtpMidCurrentDataSet = 0x2001;
inline constexpr uint16_t kPtpMidPortDataSet = 0x2004;
inline constexpr uint16_t kPtpMidTimeStatusNp = 0xC000;

// A management message's envelope, decoded.
struct PtpManagementReply {
  uint16_t sequence = 0;
  ClockIdentity source_clock{};
  uint16_t source_port = 0;
  uint16_t management_id = 0;
  std::vector<uint8_t> data;  // the dataset's bytes (TLV value after the id)
};

struct PtpRequestHeader {
  uint8_t domain_number = 0;
  uint8_t transport_specific = 0;  // 4 bits
  uint16_t source_port = 0;        // our port number (clock identity zero, as pmc over UDS)
};

inline constexpr std::size_t kPtpGetBytes = 54;  // header 34 + management 14 + TLV 6

std::array<uint8_t, kPtpGetBytes> encode_ptp_get(uint16_t management_id, uint16_t sequence,
                                                 const PtpRequestHeader& header);

// Checks type, version, length, action (RESPONSE), TLV and sequence:
// kMalformed (short, not management, not PTPv2, lengths inconsistent),
// kMismatch (another sequence, another dataset, not addressed to
// `header.source_port`), kRefused (MANAGEMENT_ERROR_STATUS, named).
Result<PtpManagementReply> decode_ptp_reply(std::span<const uint8_t> bytes, uint16_t sequence,
                                            uint16_t management_id, const PtpRequestHeader& header);

Result<PtpDefaultDataSet> decode_default_data_set(std::span<const uint8_t> data);
Result<PtpTimeStatus> decode_time_status_np(std::span<const uint8_t> data);
Result<PtpCurrentDataSet> decode_current_data_set(std::span<const uint8_t> data);
Result<PtpPort> decode_port_data_set(std::span<const uint8_t> data);

// --- The report ----------------------------------------------------------------

struct PtpStatusReport {
  ClockIdentity clock_identity{};      // this ptp4l's clock
  int64_t offset_from_master_ns = 0;   // see the sign convention above
  int64_t ingress_time_ns = 0;
  int64_t mean_path_delay_ns = 0;      // CURRENT_DATA_SET (E2E), else the slave port's peer delay (P2P)
  uint16_t steps_removed = 0;
  bool gm_present = false;
  ClockIdentity gm_identity{};
  std::vector<PtpPort> ports;          // by port number
  PtpPortState port_state = PtpPortState::kInitializing;  // SLAVE if any port is, else port 1's

  bool synchronized = false;           // a port is SLAVE and gmPresent
  int64_t error_ns = kUnboundedNs;     // unless synchronized
};

// Pure: the report from the four answers.
PtpStatusReport make_ptp_status_report(const PtpDefaultDataSet& dds, const PtpTimeStatus& ts,
                                       const PtpCurrentDataSet& cds, std::vector<PtpPort> ports,
                                       const PtpErrorParams& error);

// --- The client ----------------------------------------------------------------

class PtpStatus {
 public:
  struct Params {
    std::string socket_path = "/var/run/ptp4l";  // ptp4l's uds_address
    std::string reply_dir_parent;  // where the private reply directory is made; empty: the socket's directory
    uint8_t domain_number = 0;     // ptp4l's domainNumber
    std::chrono::nanoseconds timeout{std::chrono::seconds(1)};  // per request
    PtpErrorParams error;
  };

  static Result<PtpStatus> open(Params params);

  PtpStatus(PtpStatus&&) noexcept;
  PtpStatus& operator=(PtpStatus&&) noexcept;
  ~PtpStatus();

  // The four GETs in turn; waits for one PORT_DATA_SET answer per port.
  // Unusable replies are skipped while waiting; if no good one arrives, the
  // error names the last skipped reply's fault, or is kTimeout.
  Result<PtpStatusReport> read();

  const std::string& reply_path() const;

 private:
  PtpStatus(Params params, std::unique_ptr<detail::DgramClient> client);
  // `count` answers to one GET (PORT_DATA_SET: one per port).
  Result<std::vector<PtpManagementReply>> get(uint16_t management_id, std::size_t count = 1);

  Params params_;
  std::unique_ptr<detail::DgramClient> client_;
  PtpRequestHeader header_;
  uint16_t sequence_ = 0;
};

}  // namespace timesync::reference
