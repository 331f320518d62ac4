#include "agent.hpp"

#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>

#include "timesync/daemon/log.hpp"
#include "timesync/daemon/tls.hpp"

namespace timesync::agent {
namespace {

constexpr int kGoodSamplesPerPollStep = 4;
constexpr int kTwoWayBeforeCalibration = 16;

int64_t unix_now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

std::shared_ptr<grpc::Channel> make_channel(const config::ClientConfig& cfg,
                                            std::shared_ptr<grpc::ChannelCredentials> creds) {
  grpc::ChannelArguments args;
  daemon::add_tls_channel_args(cfg.tls, &args);
  // A master that comes back should be found within about a second, not after
  // gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A retried exchange would carry a stale t0; a lost sample is better.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  return grpc::CreateCustomChannel(cfg.master, std::move(creds), args);
}

const char* reason_text(v1::AlarmReason r) {
  switch (r) {
    case v1::ALARM_REASON_BOUND_EXCEEDED: return "error bound exceeded";
    case v1::ALARM_REASON_MASTER_UNREACHABLE: return "master unreachable";
    default: return "unspecified";
  }
}

// One line for `systemctl status`: the state and the figures that matter.
std::string service_status(const v1::AgentStatus& st) {
  char line[256];
  if (st.alarm_active()) {
    std::snprintf(line, sizeof line, "OUT OF SYNC: %s", st.alarm_message().c_str());
  } else if (st.state() == v1::SYNC_STATE_UNSYNCHRONIZED) {
    std::snprintf(line, sizeof line, "unsynchronized: waiting for %s", st.master_target().c_str());
  } else {
    // Rounded so the line (and so the notification) changes only when it matters.
    std::snprintf(line, sizeof line, "%s to %s, bound %.0f us",
                  st.state() == v1::SYNC_STATE_HOLDOVER ? "holdover" : "synchronized",
                  st.master_target().c_str(), static_cast<double>(st.bound_ns()) / 1e3);
  }
  return line;
}

}  // namespace

estimator::EstimatorParams estimator_params(const config::ClientConfig& c) {
  estimator::EstimatorParams p;
  p.filter.window = c.filter.window;
  p.filter.max_delay_ratio = c.filter.max_delay_ratio;
  p.filter.max_delay_dev_ratio = c.filter.max_delay_dev_ratio;
  p.step_threshold_ns = c.servo.step_threshold_ms * 1e6;
  p.max_slew_ppb = c.servo.max_slew_ppm * 1e3;
  p.max_freq_ppb = c.servo.max_freq_ppm * 1e3;
  p.min_freq_uncertainty_ppb = c.bound.min_freq_uncertainty_ppb;
  p.holdover_wander_ppb_per_s = c.bound.holdover_wander_ppb_per_s;
  return p;
}

static estimator::BeaconParams beacon_params(const config::ClientConfig& c) {
  estimator::BeaconParams p;
  p.window = c.beacon.window;
  p.max_excess_ns = std::llround(c.beacon.max_excess_us * 1e3);
  p.margin_ns = std::llround(c.beacon.margin_us * 1e3);
  return p;
}

static std::unique_ptr<estimator::Servo> make_servo(const config::ClientConfig& c) {
  if (c.servo.type == config::ServoType::kKalman) {
    estimator::KalmanParams p;
    p.phase_time_constant_s = c.servo.phase_time_constant_s;
    p.phase_noise_ns_per_sqrt_s = c.servo.kalman.phase_noise_ns_per_sqrt_s;
    p.freq_wander_ppb_per_sqrt_s = c.servo.kalman.freq_wander_ppb_per_sqrt_s;
    p.measurement_floor_ns = c.servo.kalman.measurement_floor_ns;
    p.innovation_window = c.servo.innovation_window;
    return estimator::make_kalman_servo(p);
  }
  estimator::PllParams p;
  p.phase_time_constant_s = c.servo.phase_time_constant_s;
  p.freq_time_constant_s = c.servo.freq_time_constant_s;
  p.innovation_window = c.servo.innovation_window;
  return estimator::make_pll_servo(p);
}

Agent::Agent(const config::ClientConfig& cfg, std::string agent_id, const TimeSource& local,
             SegmentWriter& writer, AlarmHub& alarms,
             std::shared_ptr<grpc::ChannelCredentials> credentials, AgentMetrics* metrics,
             daemon::ServiceNotifier* notifier)
    : cfg_(cfg),
      id_(std::move(agent_id)),
      local_(local),
      writer_(writer),
      alarms_(alarms),
      metrics_(metrics),
      notifier_(notifier),
      channel_(make_channel(cfg, std::move(credentials))),
      stub_(v1::TimeService::NewStub(channel_)),
      est_(estimator_params(cfg), make_servo(cfg)),
      comb_(beacon_params(cfg)),
      max_error_ns_(static_cast<int64_t>(std::llround(cfg.alarm.max_error_us * 1e3))),
      start_local_(local.now_ns()),
      last_answer_local_(start_local_),
      poll_s_(cfg.poll.min_s),
      published_epoch_(writer.previous_epoch()) {
  status_.set_agent_id(id_);
  status_.set_master_target(cfg_.master);
  status_.set_state(v1::SYNC_STATE_UNSYNCHRONIZED);
  status_.set_max_error_ns(static_cast<uint64_t>(max_error_ns_));
  status_.set_poll_interval_s(poll_s_);
  status_.set_time_to_sync_s(-1);
  status_.set_freq_sigma_ppb(-1);
  status_.set_servo(est_.servo_name());
  status_.set_local_clock(local_.describe());
  status_.set_segment(writer_.path());
  status_.set_transport(daemon::describe(cfg_.tls));
  status_.set_sync_mode(sync_mode());
  status_.set_beacon_delay_ns(-1);
}

std::string Agent::sync_mode() const {
  if (!cfg_.beacon.enabled) return "polling";
  if (stream_up_) {
    char text[64];
    std::snprintf(text, sizeof text, "beacon stream at %g Hz", stream_rate_hz_);
    return text;
  }
  return "beacon (no stream: polling)";
}

Agent::Answer Agent::exchange() {
  Answer a;
  v1::GetTimeRequest req;
  req.set_sequence(++sequence_);
  req.set_client_id(id_);
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::microseconds(std::llround(cfg_.poll.rpc_timeout_s * 1e6));
  // Connect first: a t0 taken before the TCP and HTTP/2 handshakes would put
  // them into the delay of the first sample after every (re)connection.
  if (channel_->GetState(true) != GRPC_CHANNEL_READY && !channel_->WaitForConnected(deadline)) {
    // The channel does not say why; a fail-fast call does (connection refused,
    // TLS handshake failed: certificate verify failed, ...). Its answer, if one
    // came, would carry the handshake in its delay, so it is not used.
    grpc::ClientContext why;
    why.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
    v1::GetTimeResponse ignored;
    const grpc::Status st = stub_->GetTime(&why, req, &ignored);
    a.error = "cannot connect to " + cfg_.master +
              (st.ok() ? std::string() : ": " + st.error_message());
    return a;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  // t0 as late and t3 as early as the API allows: the stub call is all that
  // lies between them.
  a.x.t0 = LocalTime{local_.now_ns()};
  req.set_client_send_ns(a.x.t0.ns);
  const grpc::Status st = stub_->GetTime(&ctx, req, &a.resp);
  a.x.t3 = LocalTime{local_.now_ns()};
  if (!st.ok()) {
    a.error = "GetTime: " + st.error_message() + " (code " +
              std::to_string(static_cast<int>(st.error_code())) + ")";
    return a;
  }
  if (a.resp.sequence() != req.sequence() || a.resp.client_send_ns() != a.x.t0.ns) {
    a.error = "GetTime: the answer does not echo our sequence and t0";
    return a;
  }
  if (a.resp.timebase() == v1::TIMEBASE_UNSPECIFIED) {
    a.error = "GetTime: the master did not say which timebase it serves";
    return a;
  }
  a.x.t1_ns = a.resp.master_receive_ns();
  a.x.t2_ns = a.resp.master_send_ns();
  a.x.master_error_ns = a.resp.master_error_ns();
  a.x.correction_ns = cfg_.calibration.offset_ns;
  a.ok = true;
  if (metrics_ != nullptr) metrics_->round_trip(a.delay_ns());
  return a;
}

Agent::Answer Agent::exchange_burst() {
  Answer best = exchange();
  for (int i = 1; i < cfg_.poll.burst && best.ok; ++i) {
    Answer a = exchange();
    if (!a.ok) break;
    if (a.delay_ns() < best.delay_ns()) best = std::move(a);
  }
  return best;
}

void Agent::note_master(const std::string& id, uint64_t epoch, v1::Timebase timebase,
                        uint64_t instance, double delay_us) {
  const bool known = !master_id_.empty();
  if (known && (id != master_id_ || epoch != master_epoch_ || timebase != master_timebase_)) {
    TS_LOG_WARN("master timeline changed ('%s' epoch %016" PRIx64 " -> '%s' epoch %016" PRIx64
                "): re-locking with a step",
                master_id_.c_str(), master_epoch_, id.c_str(), epoch);
    est_.reset();
    comb_.reset();
    two_way_since_reset_ = 0;
  } else if (known && instance != master_instance_) {
    TS_LOG_INFO("master '%s' restarted (instance %016" PRIx64 " -> %016" PRIx64
                "), same timeline: continuing",
                id.c_str(), master_instance_, instance);
  }
  if (!known) {
    TS_LOG_INFO("master '%s' at %s answers: epoch %016" PRIx64 ", delay %.1f us", id.c_str(),
                cfg_.master.c_str(), epoch, delay_us);
  }
  master_id_ = id;
  master_epoch_ = epoch;
  master_timebase_ = timebase;
  master_instance_ = instance;
}

void Agent::note_epoch(int64_t offset_ns) {
  if (est_.estimate().epoch != est_epoch_seen_) {
    est_epoch_seen_ = est_.estimate().epoch;
    ++published_epoch_;
    TS_LOG_INFO("timeline set: offset %+.9f s from the master (epoch %" PRIu64 ")",
                static_cast<double>(offset_ns) / 1e9, published_epoch_);
  }
}

void Agent::on_answer(const Answer& a) {
  const v1::GetTimeResponse& r = a.resp;
  note_master(r.master_id(), r.master_epoch(), r.timebase(), r.master_instance(),
              static_cast<double>(a.delay_ns()) / 1e3);

  // The new line takes effect from now, after every reading made so far.
  const estimator::AddResult res = est_.add(a.x, LocalTime{local_.now_ns()});
  if (res.verdict == estimator::Verdict::kAccepted) {
    ++good_at_poll_;
    ++two_way_samples_;
    last_offset_ns_ = res.sample.offset_ns;
    const estimator::Estimate& e = est_.estimate();
    // Beacon mode: every accepted exchange re-measures the beacons' one-way
    // delay, once the line is locked (before, its slope is too uncertain to
    // carry the offset to the beacons' times).
    // The calibration carries the offset from the exchange to the floor beacon
    // (up to a window of beacons away) with the frequency estimate, and its
    // uncertainty grows with the bound's growth over that gap, so a poor
    // frequency costs a wide calibration, never a wrong one; the best of the
    // last few calibrations is used. It still waits for 16 two-way samples
    // since the last reset and a frequency sigma below 10 ppm: the first
    // lock's frequency, fitted over a fraction of a second, can be off by
    // hundreds of ppm, which would only make the first calibrations useless.
    ++two_way_since_reset_;
    if (cfg_.beacon.enabled && est_.locked() && two_way_since_reset_ >= kTwoWayBeforeCalibration &&
        e.freq_sigma_ppb >= 0 && e.freq_sigma_ppb < 10'000 &&
        comb_.calibrate(res.sample, estimator::reference_line(e.line, e.freq_est_ppb),
                        e.growth_ppb)) {
      TS_LOG_DEBUG("beacon delay calibrated: %" PRId64 " ns +/- %" PRIu64 " ns", comb_.delay_ns(),
                   comb_.delay_uncertainty_ns());
    }
    TS_LOG_DEBUG("sample: offset %" PRId64 " ns, delay %" PRId64 " ns, weight %.3f, phase error "
                 "%.0f ns, freq %+.3f ppb (sigma %.3f), slew %+.3f ppb, bound %" PRIu64 " ns",
                 res.sample.offset_ns, res.sample.delay_ns, res.sample.weight, e.phase_error_ns,
                 e.freq_est_ppb, e.freq_sigma_ppb, e.slew_ppb, e.bound_at_as_of_ns);
  } else {
    TS_LOG_DEBUG("sample rejected (%s): offset %" PRId64 " ns, delay %" PRId64 " ns",
                 estimator::to_string(res.verdict), res.sample.offset_ns, res.sample.delay_ns);
  }
  note_epoch(res.sample.offset_ns);
}

TransformSnapshot Agent::build(int64_t now_local) const {
  TransformSnapshot s;
  s.max_error_ns = static_cast<uint64_t>(max_error_ns_);
  s.epoch = published_epoch_;
  s.master_instance = master_instance_;
  s.set_master_name(master_id_);
  const estimator::Estimate& e = est_.estimate();
  const int64_t h_now = local_.to_host_raw_ns(now_local);
  if (!e.valid) {
    s.as_of = s.void_after = s.ref_local = LocalTime{h_now};
    s.ref_sync = SyncTime{h_now};
    s.status = ClockStatus::kUnsynchronized;
    return s;
  }
  // The estimator's line is in local-clock terms; readers evaluate at host raw.
  // Anchor at now: sync(h_now) = line(now_local), and carry the local clock's
  // rate against host raw into the frequency: (1 + f)(1 + r) - 1.
  const double f = e.line.freq_ppb;
  const double r = local_.rate_vs_host_ppb(h_now);
  s.ref_local = LocalTime{h_now};
  s.ref_sync = e.line.at(LocalTime{now_local});
  s.freq_adj_q48 = ppb_to_q48(f + r + f * r * 1e-9);

  const int64_t void_after_local =
      e.as_of.ns + static_cast<int64_t>(std::llround(cfg_.alarm.void_after_s * 1e9));
  s.as_of = LocalTime{local_.to_host_raw_ns(e.as_of.ns)};
  s.void_after = LocalTime{local_.to_host_raw_ns(void_after_local)};
  // Growth is per second of local time; per host second it is (1 + r) times
  // that. +1 ppb and +2 ns cover the rounding of the two mappings.
  const double growth = est_.growth_until(LocalTime{void_after_local}) * (1 + std::fabs(r) * 1e-9);
  s.bound_growth_ppb = static_cast<uint64_t>(std::ceil(growth)) + 1;
  s.bound_at_as_of_ns = e.bound_at_as_of_ns + 2;

  if (!supported(now_local) || alarm_active_) {
    s.status = ClockStatus::kUnsynchronized;
  } else if (consecutive_failures_ > 0) {
    s.status = ClockStatus::kHoldover;
  } else {
    s.status = ClockStatus::kSynchronized;
  }
  return s;
}

bool Agent::supported(int64_t now_local) const {
  // Synchronized only while the estimate supports what it would publish: a
  // locked estimator whose bound stays under alarm.max_error_us until the next
  // poll is due. Right after the first lock the envelope is wide and the bound
  // grows fast; calling that synchronized had readers served and then refused
  // within a poll, or (before the envelope) served past the truth.
  if (!est_.locked()) return false;
  const estimator::Estimate& e = est_.estimate();
  const double ahead_s = std::max(0.0, static_cast<double>(now_local - e.as_of.ns) / 1e9) + poll_s_;
  const double bound = static_cast<double>(e.bound_at_as_of_ns) +
                       est_.growth_until(LocalTime{now_local + std::llround(poll_s_ * 1e9)}) * ahead_s;
  return bound <= static_cast<double>(max_error_ns_);
}

double Agent::since_answer_s(int64_t now_local) const {
  return static_cast<double>(now_local - last_answer_local_) / 1e9;
}

v1::AlarmEvent Agent::event(v1::AlarmEvent::Kind kind, const std::string& msg,
                            uint64_t bound_now) const {
  v1::AlarmEvent e;
  e.set_kind(kind);
  e.set_reason(alarm_reason_);
  e.set_message(msg);
  e.set_unix_time_ns(unix_now_ns());
  e.set_bound_ns(bound_now);
  e.set_max_error_ns(static_cast<uint64_t>(max_error_ns_));
  e.set_since_last_answer_s(since_answer_s(local_.now_ns()));
  return e;
}

void Agent::raise(v1::AlarmReason reason, const std::string& msg, uint64_t bound_now) {
  alarm_active_ = true;
  alarm_reason_ = reason;
  alarm_message_ = msg;
  ++alarms_raised_;
  if (metrics_ != nullptr) metrics_->alarm_raised(reason);
  TS_LOG_WARN("ALARM raised: out of sync: %s; timestamps are refused", msg.c_str());
  alarms_.publish(event(v1::AlarmEvent::RAISED, msg, bound_now));
}

void Agent::clear(uint64_t bound_now) {
  alarm_active_ = false;
  char msg[160];
  std::snprintf(msg, sizeof msg, "back in sync: bound %.3f us below %.3f us x %.2f",
                static_cast<double>(bound_now) / 1e3, static_cast<double>(max_error_ns_) / 1e3,
                cfg_.alarm.clear_ratio);
  TS_LOG_INFO("ALARM cleared (%s): %s", reason_text(alarm_reason_), msg);
  alarms_.publish(event(v1::AlarmEvent::CLEARED, msg, bound_now));  // keeps the reason
  alarm_reason_ = v1::ALARM_REASON_UNSPECIFIED;
  alarm_message_.clear();
}

void Agent::update_alarm(int64_t now_local, uint64_t bound_now) {
  const double silent_s = since_answer_s(now_local);
  const bool unreachable = silent_s >= cfg_.alarm.unreachable_after_s;
  const bool has_bound = est_.estimate().valid;
  char msg[256];
  if (!alarm_active_) {
    if (unreachable) {
      std::snprintf(msg, sizeof msg, "master %s unreachable for %.1f s (last error: %s)",
                    cfg_.master.c_str(), silent_s, last_error_.c_str());
      raise(v1::ALARM_REASON_MASTER_UNREACHABLE, msg, has_bound ? bound_now : 0);
    } else if (ever_locked_ && has_bound && bound_now > static_cast<uint64_t>(max_error_ns_)) {
      std::snprintf(msg, sizeof msg, "error bound %.3f us exceeds max_error %.3f us",
                    static_cast<double>(bound_now) / 1e3, static_cast<double>(max_error_ns_) / 1e3);
      raise(v1::ALARM_REASON_BOUND_EXCEEDED, msg, bound_now);
    }
    return;
  }
  const double clear_below = cfg_.alarm.clear_ratio * static_cast<double>(max_error_ns_);
  if (!unreachable && consecutive_failures_ == 0 && est_.locked() &&
      static_cast<double>(bound_now) < clear_below) {
    clear(bound_now);
  }
}

void Agent::adapt_poll(uint64_t bound_now) {
  // A detected frequency change restarts the estimate from the samples after
  // it: poll fast until they make it narrow again.
  const uint64_t changes = est_.estimate().freq_changes;
  const bool changed = changes != freq_changes_seen_;
  freq_changes_seen_ = changes;
  if (changed) TS_LOG_DEBUG("frequency change detected (a thermal step or ramp?): re-learning the frequency");
  if (!est_.locked() || alarm_active_ || consecutive_failures_ > 0 || changed) {
    poll_s_ = cfg_.poll.min_s;
    good_at_poll_ = 0;
    return;
  }
  // The bound expected two polls ahead, if nothing new arrives.
  const double ahead = static_cast<double>(bound_now) +
                       est_.estimate().growth_ppb * 2 * poll_s_;
  if (ahead > 0.5 * static_cast<double>(max_error_ns_)) {
    poll_s_ = std::max(cfg_.poll.min_s, poll_s_ / 2);
    good_at_poll_ = 0;
  } else if (good_at_poll_ >= kGoodSamplesPerPollStep) {
    poll_s_ = std::min(cfg_.poll.max_s, poll_s_ * 2);
    good_at_poll_ = 0;
  }
}

void Agent::publish_status(const TransformSnapshot& snap, uint64_t bound_now, int64_t now_local) {
  const estimator::Estimate& e = est_.estimate();
  v1::SyncState state = v1::SYNC_STATE_UNSYNCHRONIZED;
  if (snap.status == ClockStatus::kSynchronized) state = v1::SYNC_STATE_SYNCHRONIZED;
  if (snap.status == ClockStatus::kHoldover) state = v1::SYNC_STATE_HOLDOVER;
  if (state != v1::SYNC_STATE_UNSYNCHRONIZED && time_to_sync_s_ < 0) {
    time_to_sync_s_ = static_cast<double>(now_local - start_local_) / 1e9;
    TS_LOG_INFO("synchronized to '%s' after %.3f s: offset %+.3f us, freq %+.3f ppm, bound %.3f us",
                master_id_.c_str(), time_to_sync_s_,
                static_cast<double>(e.line.at(LocalTime{now_local}).ns - now_local) / 1e3,
                e.freq_est_ppb / 1e3, static_cast<double>(bound_now) / 1e3);
  }
  v1::AgentStatus st;
  st.set_agent_id(id_);
  st.set_master_target(cfg_.master);
  st.set_master_id(master_id_);
  st.set_master_instance(master_instance_);
  st.set_master_epoch(master_epoch_);
  st.set_timebase(master_timebase_);
  st.set_state(state);
  st.set_alarm_active(alarm_active_);
  st.set_alarm_reason(alarm_reason_);
  st.set_published_epoch(published_epoch_);
  st.set_bound_ns(e.valid ? bound_now : 0);
  st.set_max_error_ns(static_cast<uint64_t>(max_error_ns_));
  st.set_last_offset_ns(last_offset_ns_);
  st.set_last_delay_ns(e.last_delay_ns);
  st.set_freq_ppm(e.freq_est_ppb / 1e3);
  st.set_freq_sigma_ppb(e.freq_sigma_ppb);
  st.set_slew_ppm(e.slew_ppb / 1e3);
  st.set_poll_interval_s(poll_s_);
  st.set_samples_accepted(e.accepted);
  st.set_samples_rejected(e.rejected);
  st.set_rpc_failures(rpc_failures_);
  st.set_since_last_answer_s(since_answer_s(now_local));
  st.set_time_to_sync_s(time_to_sync_s_);
  st.set_servo(est_.servo_name());
  const estimator::InnovationStats innov = est_.innovations();
  st.set_innovation_count(static_cast<uint32_t>(innov.count));
  st.set_innovation_mean_ns(innov.mean_ns);
  st.set_innovation_std_ns(innov.std_ns);
  st.set_innovation_normalized_std(innov.normalized_std);
  st.set_local_clock(local_.describe());
  st.set_segment(writer_.path());
  st.set_local_rate_ppm(local_.rate_vs_host_ppb(local_.to_host_raw_ns(now_local)) / 1e3);
  st.set_alarms_raised(alarms_raised_);
  st.set_alarm_message(alarm_message_);
  st.set_transport(daemon::describe(cfg_.tls));
  st.set_last_error(consecutive_failures_ > 0 ? last_error_
                    : (cfg_.beacon.enabled && !stream_up_) ? stream_error_ : "");
  st.set_sync_mode(sync_mode());
  st.set_beacons_received(beacons_received_);
  st.set_beacon_delay_ns(comb_.calibrated() ? comb_.delay_ns() : -1);
  st.set_beacon_delay_uncertainty_ns(comb_.calibrated() ? comb_.delay_uncertainty_ns() : 0);
  st.set_beacon_samples(beacon_samples_);
  st.set_beacons_rejected(beacons_rejected_);
  st.set_two_way_samples(two_way_samples_);
  st.set_beacon_streams_opened(streams_opened_);
  if (est_.locked()) {
    st.set_freq_envelope_lo_ppm(e.freq_envelope.lo / 1e3);
    st.set_freq_envelope_hi_ppm(e.freq_envelope.hi / 1e3);
  }
  st.set_freq_changes(e.freq_changes);
  st.set_model_breaks(e.model_breaks);
  if (metrics_ != nullptr) metrics_->update(st);
  if (notifier_ != nullptr) notifier_->status(service_status(st));
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_ = std::move(st);
  }
  if (on_state_) on_state_(state);
}

v1::AgentStatus Agent::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_;
}

void Agent::run(const Waker& stop) {
  TS_LOG_INFO("agent '%s': master %s, local clock %s, segment %s, %s", id_.c_str(),
              cfg_.master.c_str(), local_.describe().c_str(), writer_.path().c_str(),
              cfg_.beacon.enabled ? "beacon mode" : "polling");
  if (cfg_.beacon.enabled) {
    // docs/BENCHMARKS.md: in one 16-agent test-bed run two beacon agents read
    // outside the bound; say so where the operator looks first.
    TS_LOG_WARN("beacon mode is experimental: its error bound has been exceeded in testing "
                   "(correlated beacon samples make the frequency sigma too small)");
    run_beacon(stop);
  } else {
    run_polling(stop);
  }
}

void Agent::handle_exchange(const Answer& a) {
  if (a.ok) {
    if (consecutive_failures_ > 0) {
      TS_LOG_INFO("master %s answers again after %d failed exchanges", cfg_.master.c_str(),
                  consecutive_failures_);
    }
    consecutive_failures_ = 0;
    last_answer_local_ = a.x.t3.ns;
    on_answer(a);
  } else {
    ++rpc_failures_;
    if (consecutive_failures_++ == 0) {
      TS_LOG_WARN("exchange with %s failed: %s; holding over", cfg_.master.c_str(),
                  a.error.c_str());
    }
    last_error_ = a.error;
  }
}

void Agent::publish_round() {
  const int64_t now_local = local_.now_ns();
  // The bound alarm: once the estimate has supported max_error (a later bound
  // above it is a loss of sync), or when a locked estimate has not managed to
  // for alarm.unreachable_after_s (max_error is out of this link's reach: say
  // so rather than wait silently).
  if (supported(now_local)) {
    ever_locked_ = true;
  } else if (est_.locked() && locked_since_local_ < 0) {
    locked_since_local_ = now_local;
  }
  if (!est_.locked()) locked_since_local_ = -1;
  if (locked_since_local_ >= 0 &&
      static_cast<double>(now_local - locked_since_local_) / 1e9 >= cfg_.alarm.unreachable_after_s) {
    ever_locked_ = true;
  }
  TransformSnapshot snap = build(now_local);
  const uint64_t bound_now =
      est_.estimate().valid ? bound_at(snap, LocalTime{local_.to_host_raw_ns(now_local)}) : 0;
  const bool was_active = alarm_active_;
  update_alarm(now_local, bound_now);
  if (alarm_active_ != was_active) snap = build(now_local);  // status follows the alarm
  writer_.publish(snap);
  adapt_poll(bound_now);
  publish_status(snap, bound_now, now_local);
}

void Agent::run_polling(const Waker& stop) {
  int64_t next_poll = local_.now_ns();
  while (!stop.signalled()) {
    handle_exchange(exchange_burst());
    publish_round();
    const int64_t now_local = local_.now_ns();
    next_poll += static_cast<int64_t>(std::llround(poll_s_ * 1e9));
    if (next_poll < now_local) next_poll = now_local;  // never poll in a burst to catch up
    sleep_until_poll(next_poll, stop);
  }
}

void Agent::on_stream_event(const BeaconStream::Event& ev) {
  using Kind = BeaconStream::Event::Kind;
  if (ev.kind == Kind::kOpened) {
    stream_up_ = true;
    ++streams_opened_;
    last_beacon_seq_ = 0;
    // A new connection may take another path through the kernel and gRPC:
    // its delay is measured afresh.
    comb_.restart_stream();
    TS_LOG_INFO("beacon stream to %s open", cfg_.master.c_str());
    return;
  }
  if (ev.kind == Kind::kClosed) {
    if (stream_up_ || stream_error_ != ev.error) {
      TS_LOG_WARN("beacon stream to %s closed: %s; polling until it reopens", cfg_.master.c_str(),
                  ev.error.c_str());
    }
    stream_up_ = false;
    stream_error_ = ev.error;
    return;
  }
  const v1::TimeBeacon& b = ev.beacon;
  ++beacons_received_;
  stream_rate_hz_ = b.rate_hz();
  if (b.timebase() == v1::TIMEBASE_UNSPECIFIED) {
    ++beacons_rejected_;
    return;
  }
  if (last_beacon_seq_ != 0 && b.sequence() != last_beacon_seq_ + 1) {
    TS_LOG_DEBUG("beacons %" PRIu64 "..%" PRIu64 " skipped by the master", last_beacon_seq_ + 1,
                 b.sequence() - 1);
  }
  last_beacon_seq_ = b.sequence();
  // The master spoke: as good as an answer for the unreachable alarm.
  last_answer_local_ = std::max(last_answer_local_, ev.rx_local_ns);
  note_master(b.master_id(), b.master_epoch(), b.timebase(), b.master_instance(), 0);

  const estimator::Estimate& e = est_.estimate();
  estimator::Sample s;
  const estimator::BeaconVerdict v = comb_.add(
      estimator::Beacon{LocalTime{ev.rx_local_ns}, b.master_send_ns(), b.master_error_ns()},
      estimator::reference_line(e.line, e.freq_est_ppb), e.growth_ppb, &s);
  queued_run_ = v == estimator::BeaconVerdict::kQueued ? queued_run_ + 1 : 0;
  if (v != estimator::BeaconVerdict::kSample || !est_.locked()) {
    ++beacons_rejected_;
    return;
  }
  est_.add_sample(s, LocalTime{local_.now_ns()});
  ++beacon_samples_;
  last_offset_ns_ = s.offset_ns;
  note_epoch(s.offset_ns);
}

void Agent::wait_for_event(int64_t deadline_local, int fd, const Waker& stop) {
  const int64_t every = notifier_ != nullptr ? notifier_->keepalive_every_ns() : 0;
  if (notifier_ != nullptr) notifier_->keepalive();
  while (!stop.signalled()) {
    const int64_t wait_ns = local_.to_host_raw_ns(deadline_local) - host_raw_now_ns();
    if (wait_ns <= 0) return;
    const int64_t slice = every > 0 ? std::min(wait_ns, every) : std::min<int64_t>(wait_ns, 1'000'000'000);
    pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {fd, POLLIN, 0}};
    const timespec ts{static_cast<time_t>(slice / 1'000'000'000), static_cast<long>(slice % 1'000'000'000)};
    const int n = ppoll(fds, 2, &ts, nullptr);
    if (notifier_ != nullptr) notifier_->keepalive();
    if (n > 0) return;  // a beacon (or stop)
  }
}

void Agent::run_beacon(const Waker& stop) {
  BeaconStream stream(*stub_, local_, id_);
  stream.start();
  int64_t next_exchange = local_.now_ns();
  while (!stop.signalled()) {
    bool changed = false;
    if (local_.now_ns() >= next_exchange) {
      handle_exchange(exchange_burst());
      changed = true;
      // Fast until locked and calibrated (and while exchanges fail), then
      // only as often as the calibration needs; without a stream, polling.
      double every_s = poll_s_;
      if (stream_up_ && consecutive_failures_ == 0 && est_.locked()) {
        // A whole window of beacons judged queued means the floor (or the
        // frequency it is judged with) moved: poll as without beacons until
        // they are usable again, rather than trust a 10 s old calibration.
        const bool usable = comb_.calibrated() && queued_run_ < cfg_.beacon.window;
        every_s = usable ? cfg_.beacon.calibrate_every_s
                         : comb_.calibrated() ? poll_s_ : cfg_.poll.min_s;
      }
      next_exchange = local_.now_ns() + static_cast<int64_t>(std::llround(every_s * 1e9));
    }
    for (const BeaconStream::Event& ev : stream.take()) {
      on_stream_event(ev);
      changed = true;
    }
    if (changed) publish_round();
    wait_for_event(next_exchange, stream.ready_fd(), stop);
  }
  stream.stop();
}

void Agent::sleep_until_poll(int64_t next_poll, const Waker& stop) {
  const int64_t every = notifier_ != nullptr ? notifier_->keepalive_every_ns() : 0;
  if (notifier_ != nullptr) notifier_->keepalive();
  if (every == 0) {
    local_.sleep_until(next_poll, &stop);
    return;
  }
  // The keep-alive comes from this loop, so a stuck exchange or estimator is
  // what the watchdog catches. The local clock may be simulated and run at a
  // slightly different rate; half the watchdog interval leaves ample margin.
  while (!stop.signalled()) {
    const int64_t now = local_.now_ns();
    if (now >= next_poll) return;
    local_.sleep_until(std::min(next_poll, now + every), &stop);
    notifier_->keepalive();
  }
}

}  // namespace timesync::agent
