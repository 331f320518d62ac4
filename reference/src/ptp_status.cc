#include "timesync/reference/ptp_status.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>

#include "bytes.hpp"
#include "dgram_client.hpp"

namespace timesync::reference {
namespace {

using detail::be16;
using detail::be32;
using detail::be64;

constexpr uint8_t kMsgManagement = 0x0D;
constexpr uint8_t kPtpVersion = 2;
constexpr uint8_t kControlManagement = 0x04;
constexpr uint8_t kActionGet = 0;
constexpr uint8_t kActionResponse = 2;
constexpr uint16_t kTlvManagement = 0x0001;
constexpr uint16_t kTlvManagementErrorStatus = 0x0002;

// The common header (34 bytes) + targetPortIdentity, hops, action, reserved.
constexpr std::size_t kManagementBytes = 48;
constexpr std::size_t kTlvHeaderBytes = 4;

std::string mid_name(uint16_t id) {
  switch (id) {
    case kPtpMidDefaultDataSet: return "DEFAULT_DATA_SET";
    case kPtpMidCurrentDataSet: return "CURRENT_DATA_SET";
    case kPtpMidPortDataSet: return "PORT_DATA_SET";
    case kPtpMidTimeStatusNp: return "TIME_STATUS_NP";
    default: {
      char text[16];
      std::snprintf(text, sizeof text, "0x%04x", id);
      return text;
    }
  }
}

const char* error_name(uint16_t id) {
  switch (id) {
    case 0x0001: return "RESPONSE_TOO_BIG";
    case 0x0002: return "NO_SUCH_ID";
    case 0x0003: return "WRONG_LENGTH";
    case 0x0004: return "WRONG_VALUE";
    case 0x0005: return "NOT_SETABLE";
    case 0x0006: return "NOT_SUPPORTED";
    case 0xFFFE: return "GENERAL_ERROR";
    default: return "unknown management error";
  }
}

ClockIdentity identity_at(std::span<const uint8_t> b, std::size_t at) {
  ClockIdentity id{};
  std::copy_n(b.begin() + static_cast<std::ptrdiff_t>(at), id.size(), id.begin());
  return id;
}

// TimeInterval: ns scaled by 2^16, signed.
int64_t time_interval_ns(std::span<const uint8_t> b, std::size_t at) {
  return static_cast<int64_t>(be64(b, at)) / 65536;
}

Status short_data(const char* what, std::size_t got, std::size_t need) {
  return Status(Errc::kMalformed, std::string(what) + ": " + std::to_string(got) + " bytes, needs " +
                                      std::to_string(need));
}

}  // namespace

const char* to_string(PtpPortState state) {
  switch (state) {
    case PtpPortState::kInitializing: return "INITIALIZING";
    case PtpPortState::kFaulty: return "FAULTY";
    case PtpPortState::kDisabled: return "DISABLED";
    case PtpPortState::kListening: return "LISTENING";
    case PtpPortState::kPreMaster: return "PRE_MASTER";
    case PtpPortState::kMaster: return "MASTER";
    case PtpPortState::kPassive: return "PASSIVE";
    case PtpPortState::kUncalibrated: return "UNCALIBRATED";
    case PtpPortState::kSlave: return "SLAVE";
    case PtpPortState::kGrandMaster: return "GRAND_MASTER";
  }
  return "UNKNOWN";
}

std::string to_string(const ClockIdentity& id) {
  char text[24];
  std::snprintf(text, sizeof text, "%02x%02x%02x.%02x%02x.%02x%02x%02x", id[0], id[1], id[2], id[3], id[4], id[5],
                id[6], id[7]);
  return text;
}

std::array<uint8_t, kPtpGetBytes> encode_ptp_get(uint16_t management_id, uint16_t sequence,
                                                 const PtpRequestHeader& header) {
  std::array<uint8_t, kPtpGetBytes> out{};
  out[0] = static_cast<uint8_t>((header.transport_specific & 0x0F) << 4 | kMsgManagement);
  out[1] = kPtpVersion;
  detail::put16(out, 2, kPtpGetBytes);
  out[4] = header.domain_number;
  // flags, correction, reserved, source clock identity: zero (pmc over UDS)
  detail::put16(out, 28, header.source_port);
  detail::put16(out, 30, sequence);
  out[32] = kControlManagement;
  out[33] = 0x7F;  // logMessageInterval
  std::fill_n(out.begin() + 34, 10, uint8_t{0xFF});  // target: every clock, every port
  out[44] = 0;  // startingBoundaryHops: this ptp4l only, as pmc -b 0
  out[45] = 0;
  out[46] = kActionGet;
  detail::put16(out, 48, kTlvManagement);
  detail::put16(out, 50, 2);  // just the managementId: a zero-length GET
  detail::put16(out, 52, management_id);
  return out;
}

Result<PtpManagementReply> decode_ptp_reply(std::span<const uint8_t> b, uint16_t sequence, uint16_t management_id,
                                            const PtpRequestHeader& header) {
  if (b.size() < kManagementBytes + kTlvHeaderBytes) {
    return Status(Errc::kMalformed, "short reply: " + std::to_string(b.size()) + " bytes, a management message is " +
                                        std::to_string(kManagementBytes + kTlvHeaderBytes) + " or more");
  }
  if ((b[0] & 0x0F) != kMsgManagement) {
    return Status(Errc::kMalformed, "not a management message (type " + std::to_string(b[0] & 0x0F) + ")");
  }
  if ((b[1] & 0x0F) != kPtpVersion) {
    return Status(Errc::kMalformed, "PTP version " + std::to_string(b[1] & 0x0F) + ", expected 2");
  }
  const std::size_t length = be16(b, 2);
  if (length > b.size() || length < kManagementBytes + kTlvHeaderBytes) {
    return Status(Errc::kMalformed, "messageLength " + std::to_string(length) + " with " + std::to_string(b.size()) +
                                        " bytes received");
  }
  b = b.first(length);
  if (be16(b, 30) != sequence) {
    return Status(Errc::kMismatch, "reply to sequence " + std::to_string(be16(b, 30)) + ", expected " +
                                       std::to_string(sequence));
  }
  if ((b[46] & 0x0F) != kActionResponse) {
    return Status(Errc::kMismatch, "action " + std::to_string(b[46] & 0x0F) + ", expected RESPONSE (2)");
  }
  if (be16(b, 42) != header.source_port) {
    return Status(Errc::kMismatch, "addressed to port " + std::to_string(be16(b, 42)) + ", we are " +
                                       std::to_string(header.source_port));
  }
  const uint16_t tlv_type = be16(b, kManagementBytes);
  const std::size_t tlv_length = be16(b, kManagementBytes + 2);
  if (kManagementBytes + kTlvHeaderBytes + tlv_length > b.size()) {
    return Status(Errc::kMalformed, "TLV length " + std::to_string(tlv_length) + " runs past the message");
  }
  const auto value = b.subspan(kManagementBytes + kTlvHeaderBytes, tlv_length);
  if (tlv_type == kTlvManagementErrorStatus) {
    if (value.size() < 4) return Status(Errc::kMalformed, "short MANAGEMENT_ERROR_STATUS TLV");
    return Status(Errc::kRefused, std::string("ptp4l answered ") + error_name(be16(value, 0)) + " for " +
                                      mid_name(be16(value, 2)));
  }
  if (tlv_type != kTlvManagement) {
    return Status(Errc::kMalformed, "TLV type " + std::to_string(tlv_type) + ", expected MANAGEMENT (1)");
  }
  if (value.size() < 2) return Status(Errc::kMalformed, "management TLV without an id");
  if (be16(value, 0) != management_id) {
    return Status(Errc::kMismatch, "answers " + mid_name(be16(value, 0)) + ", asked " + mid_name(management_id));
  }
  PtpManagementReply reply;
  reply.sequence = sequence;
  reply.source_clock = identity_at(b, 20);
  reply.source_port = be16(b, 28);
  reply.management_id = management_id;
  reply.data.assign(value.begin() + 2, value.end());
  return reply;
}

Result<PtpDefaultDataSet> decode_default_data_set(std::span<const uint8_t> d) {
  if (d.size() < 20) return short_data("DEFAULT_DATA_SET", d.size(), 20);
  PtpDefaultDataSet out;
  out.slave_only = (d[0] & 0x02) != 0;
  out.number_ports = be16(d, 2);
  out.clock_identity = identity_at(d, 10);
  out.domain_number = d[18];
  return out;
}

Result<PtpTimeStatus> decode_time_status_np(std::span<const uint8_t> d) {
  if (d.size() < 50) return short_data("TIME_STATUS_NP", d.size(), 50);
  PtpTimeStatus out;
  out.master_offset_ns = static_cast<int64_t>(be64(d, 0));
  out.ingress_time_ns = static_cast<int64_t>(be64(d, 8));
  // 16: cumulativeScaledRateOffset, 20: scaledLastGmPhaseChange,
  // 24: gmTimeBaseIndicator, 26: lastGmPhaseChange (12 bytes)
  out.gm_present = be32(d, 38) != 0;
  out.gm_identity = identity_at(d, 42);
  return out;
}

Result<PtpCurrentDataSet> decode_current_data_set(std::span<const uint8_t> d) {
  if (d.size() < 18) return short_data("CURRENT_DATA_SET", d.size(), 18);
  PtpCurrentDataSet out;
  out.steps_removed = be16(d, 0);
  out.offset_from_master_ns = time_interval_ns(d, 2);
  out.mean_path_delay_ns = time_interval_ns(d, 10);
  return out;
}

Result<PtpPort> decode_port_data_set(std::span<const uint8_t> d) {
  if (d.size() < 26) return short_data("PORT_DATA_SET", d.size(), 26);
  PtpPort out;
  out.number = be16(d, 8);
  const uint8_t state = d[10];
  if (state < 1 || state > 10) return Status(Errc::kMalformed, "port state " + std::to_string(state));
  out.state = static_cast<PtpPortState>(state);
  out.peer_mean_path_delay_ns = time_interval_ns(d, 12);
  return out;
}

PtpStatusReport make_ptp_status_report(const PtpDefaultDataSet& dds, const PtpTimeStatus& ts,
                                       const PtpCurrentDataSet& cds, std::vector<PtpPort> ports,
                                       const PtpErrorParams& error) {
  PtpStatusReport r;
  r.clock_identity = dds.clock_identity;
  r.offset_from_master_ns = ts.master_offset_ns;
  r.ingress_time_ns = ts.ingress_time_ns;
  r.steps_removed = cds.steps_removed;
  r.gm_present = ts.gm_present;
  r.gm_identity = ts.gm_identity;
  std::sort(ports.begin(), ports.end(), [](const PtpPort& a, const PtpPort& b) { return a.number < b.number; });
  r.ports = std::move(ports);
  const PtpPort* slave = nullptr;
  for (const PtpPort& p : r.ports) {
    if (p.state == PtpPortState::kSlave) {
      slave = &p;
      break;
    }
  }
  if (slave != nullptr) {
    r.port_state = PtpPortState::kSlave;
  } else if (!r.ports.empty()) {
    r.port_state = r.ports.front().state;
  }
  r.mean_path_delay_ns = cds.mean_path_delay_ns;
  if (r.mean_path_delay_ns == 0 && slave != nullptr) r.mean_path_delay_ns = slave->peer_mean_path_delay_ns;

  r.synchronized = slave != nullptr && ts.gm_present;
  if (r.synchronized) {
    const double asym = std::max(error.path_asymmetry_fraction, 0.0) *
                        static_cast<double>(detail::saturating_abs(r.mean_path_delay_ns));
    int64_t e = detail::saturating_abs(r.offset_from_master_ns);
    e = detail::saturating_add(e, asym < 9.2e18 ? static_cast<int64_t>(std::ceil(asym)) : kUnboundedNs);
    e = detail::saturating_add(e, std::max<int64_t>(error.extra_ns, 0));
    r.error_ns = e;
  }
  return r;
}

// --- PtpStatus -----------------------------------------------------------------

PtpStatus::PtpStatus(Params params, std::unique_ptr<detail::DgramClient> client)
    : params_(std::move(params)), client_(std::move(client)) {
  header_.domain_number = params_.domain_number;
  header_.source_port = static_cast<uint16_t>(::getpid());
  sequence_ = static_cast<uint16_t>(detail::realtime_now_ns());
}
PtpStatus::PtpStatus(PtpStatus&&) noexcept = default;
PtpStatus& PtpStatus::operator=(PtpStatus&&) noexcept = default;
PtpStatus::~PtpStatus() = default;

Result<PtpStatus> PtpStatus::open(Params params) {
  if (params.timeout <= std::chrono::nanoseconds::zero()) {
    return Status(Errc::kInvalidArgument, "timeout must be > 0");
  }
  if (params.socket_path.empty() || params.socket_path.front() != '/') {
    return Status(Errc::kInvalidArgument, "ptp4l's socket must be an absolute path: '" + params.socket_path + "'");
  }
  auto client = detail::DgramClient::open(params.socket_path, params.reply_dir_parent, "timesync-pmc");
  if (!client.ok()) {
    return Status(client.code(), "ptp4l at " + params.socket_path + ": " + client.status().message(),
                  client.status().sys_errno());
  }
  return PtpStatus(std::move(params), std::make_unique<detail::DgramClient>(std::move(*client)));
}

const std::string& PtpStatus::reply_path() const { return client_->reply_path(); }

Result<std::vector<PtpManagementReply>> PtpStatus::get(uint16_t management_id, std::size_t count) {
  const uint16_t sequence = ++sequence_;
  const std::string where = "ptp4l at " + params_.socket_path + ", " + mid_name(management_id) + ": ";
  const auto request = encode_ptp_get(management_id, sequence, header_);
  if (Status s = client_->send(request); !s.ok()) return Status(s.code(), where + s.message(), s.sys_errno());
  const auto deadline = std::chrono::steady_clock::now() + params_.timeout;
  std::vector<PtpManagementReply> replies;
  std::optional<Status> skipped;
  std::array<uint8_t, 2048> buf{};
  while (replies.size() < count) {
    auto n = client_->receive(buf, deadline);
    if (!n.ok()) {
      if (n.code() != Errc::kTimeout) return Status(n.code(), where + n.status().message(), n.status().sys_errno());
      const std::string got = std::to_string(replies.size()) + " of " + std::to_string(count) + " answer(s) in " +
                              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 params_.timeout).count()) + " ms";
      if (skipped) return Status(skipped->code(), where + got + "; last reply skipped: " + skipped->message());
      return Status(Errc::kTimeout, where + got);
    }
    if (*n > buf.size()) {
      skipped = Status(Errc::kMalformed, "reply of " + std::to_string(*n) + " bytes, longer than any expected");
      continue;
    }
    auto reply = decode_ptp_reply(std::span<const uint8_t>(buf.data(), *n), sequence, management_id, header_);
    if (reply.ok()) {
      const bool repeat = std::any_of(replies.begin(), replies.end(), [&](const PtpManagementReply& r) {
        return r.source_port == reply->source_port && r.source_clock == reply->source_clock;
      });
      if (!repeat) replies.push_back(std::move(*reply));
      continue;
    }
    if (reply.code() == Errc::kRefused) return Status(reply.code(), where + reply.status().message());
    skipped = reply.status();
  }
  return replies;
}

Result<PtpStatusReport> PtpStatus::read() {
  auto with_where = [&](const Status& s) { return Status(s.code(), "ptp4l at " + params_.socket_path + ": " + s.message()); };
  auto dds_reply = get(kPtpMidDefaultDataSet);
  if (!dds_reply.ok()) return dds_reply.status();
  auto dds = decode_default_data_set(dds_reply->front().data);
  if (!dds.ok()) return with_where(dds.status());
  if (dds->number_ports == 0) return with_where(Status(Errc::kMalformed, "DEFAULT_DATA_SET: no ports"));

  auto ts_reply = get(kPtpMidTimeStatusNp);
  if (!ts_reply.ok()) return ts_reply.status();
  auto ts = decode_time_status_np(ts_reply->front().data);
  if (!ts.ok()) return with_where(ts.status());

  auto cds_reply = get(kPtpMidCurrentDataSet);
  if (!cds_reply.ok()) return cds_reply.status();
  auto cds = decode_current_data_set(cds_reply->front().data);
  if (!cds.ok()) return with_where(cds.status());

  auto port_replies = get(kPtpMidPortDataSet, dds->number_ports);
  if (!port_replies.ok()) return port_replies.status();
  std::vector<PtpPort> ports;
  for (const PtpManagementReply& r : *port_replies) {
    auto port = decode_port_data_set(r.data);
    if (!port.ok()) return with_where(port.status());
    ports.push_back(*port);
  }
  return make_ptp_status_report(*dds, *ts, *cds, std::move(ports), params_.error);
}

}  // namespace timesync::reference
