// The master's request handling on any request a client can send: the bytes
// are parsed as the protobuf request (as gRPC would, ParseFromArray) and handed
// to the handler code: what TimeServiceImpl's GetTime and GetUdpSession run
// between receiving the request and finishing the call (answer_time and
// udp_session; the callback API's reactor needs a live call), and the admission checks of
// StreamTime (BeaconHub::admit, the part of BeaconHub::open that reads the
// request; the stream itself needs a live call). The first byte picks which.
// Answers are checked against the request: an OK GetTime echoes t0 and the
// sequence; an admitted stream never runs faster than it asked.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "beacon_hub.hpp"
#include "master_timeline.hpp"
#include "time_service.hpp"
#include "timesync/timebase/time_source.hpp"

namespace {

using namespace timesync;

void must(bool ok) {
  if (!ok) std::abort();
}

master::TimeServiceImpl& service() {
  static auto* timeline =
      new master::MasterTimeline(make_monotonic_raw_source(), /*initial_epoch=*/42, 0);
  static auto* svc = new master::TimeServiceImpl(
      *timeline, master::Identity{"fuzz-master", 7, false, 100});
  return *svc;
}

void get_time(const uint8_t* data, size_t size) {
  v1::GetTimeRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  v1::GetTimeResponse resp;
  const grpc::Status st = service().answer_time(req, &resp);
  if (req.client_id().size() > master::TimeServiceImpl::kMaxClientIdBytes) {
    must(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    return;
  }
  must(st.ok());
  must(resp.client_send_ns() == req.client_send_ns() && resp.sequence() == req.sequence());
  must(resp.master_send_ns() >= resp.master_receive_ns() && resp.master_epoch() == 42);
}

void stream_time(uint8_t mode, const uint8_t* data, size_t size) {
  v1::StreamTimeRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  master::BeaconSettings s;
  s.enabled = (mode & 0x10) == 0;
  s.rate_hz = (mode & 0x20) ? 1000 : 0.1;  // the configuration's extremes
  uint64_t stride = 0;
  const grpc::Status st = master::BeaconHub::admit(s, req, &stride);
  if (!st.ok()) {
    must(!st.error_message().empty());
    return;
  }
  const double want = req.max_rate_hz();
  must(s.enabled && stride >= 1);
  must(want == 0 || want >= master::BeaconHub::kMinRateHz);
  if (want > 0) must(s.rate_hz / static_cast<double>(stride) <= want * (1 + 1e-9));
}

void udp_session(const uint8_t* data, size_t size) {
  v1::GetUdpSessionRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size))) return;
  v1::GetUdpSessionResponse resp;
  const grpc::Status st = service().udp_session(req, &resp);
  must(!st.ok());  // this master serves no UDP
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  switch (mode % 3) {
    case 0: get_time(data + 1, size - 1); break;
    case 1: stream_time(mode, data + 1, size - 1); break;
    default: udp_session(data + 1, size - 1); break;
  }
  return 0;
}
