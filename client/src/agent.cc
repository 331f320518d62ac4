#include "agent.hpp"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>

#include "timesync/daemon/log.hpp"
#include "timesync/daemon/tls.hpp"
#include "timesync/estimator/publication.hpp"
#include "utc_publication.hpp"

namespace timesync::agent {
namespace {

constexpr int kTwoWayBeforeCalibration = 16;

// One line for `systemctl status`: the state, the transport and the figures
// that matter.
std::string service_status(const AgentStatusInfo& st) {
  char line[320];
  if (st.alarm_active) {
    std::snprintf(line, sizeof line, "OUT OF SYNC: %s", st.alarm_message.c_str());
  } else if (st.state == ClockStatus::kUnsynchronized) {
    std::snprintf(line, sizeof line, "unsynchronized: waiting for %s", st.master_target.c_str());
  } else {
    // Rounded so the line (and so the notification) changes only when it matters.
    std::snprintf(line, sizeof line, "%s to %s over %s (%s timestamps), bound %.0f us",
                  st.state == ClockStatus::kHoldover ? "holdover" : "synchronized",
                  st.master_target.c_str(), st.link.empty() ? "?" : st.link.c_str(),
                  to_string(st.timestamps), static_cast<double>(st.bound_ns) / 1e3);
  }
  return line;
}

estimator::BeaconParams beacon_params(const config::ClientConfig& c) {
  estimator::BeaconParams p;
  p.window = c.beacon.window;
  p.max_excess_ns = std::llround(c.beacon.max_excess_us * 1e3);
  p.margin_ns = std::llround(c.beacon.margin_us * 1e3);
  return p;
}

std::unique_ptr<estimator::Servo> make_servo(const config::ClientConfig& c) {
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

PolicyConfig policy_config(const config::ClientConfig& c) {
  PolicyConfig p;
  p.poll_min_s = c.poll.min_s;
  p.poll_max_s = c.poll.max_s;
  p.max_error_ns = static_cast<uint64_t>(std::llround(c.alarm.max_error_us * 1e3));
  p.clear_ratio = c.alarm.clear_ratio;
  p.unreachable_after_s = c.alarm.unreachable_after_s;
  return p;
}

Agent::Agent(const config::ClientConfig& cfg, std::string agent_id, const TimeSource& local,
             Publisher& out, AlarmHub& alarms, MasterLink& link, AgentMetrics* metrics,
             daemon::ServiceNotifier* notifier)
    : cfg_(cfg),
      id_(std::move(agent_id)),
      local_(local),
      out_(out),
      alarms_(alarms),
      link_(link),
      metrics_(metrics),
      notifier_(notifier),
      est_(estimator_params(cfg), make_servo(cfg)),
      comb_(beacon_params(cfg)),
      policy_(policy_config(cfg), local.now_ns()),
      max_error_ns_(policy_config(cfg).max_error_ns),
      start_local_(local.now_ns()),
      next_poll_(start_local_),
      last_answer_local_(start_local_),
      published_epoch_(out.previous_epoch()) {
  status_.agent_id = id_;
  status_.master_target = cfg_.master;
  status_.max_error_ns = max_error_ns_;
  status_.poll_interval_s = policy_.poll_s();
  status_.servo = est_.servo_name();
  status_.local_clock = local_.describe();
  status_.segment = out_.where();
  status_.security = daemon::describe(cfg_.tls);
  status_.sync_mode = sync_mode();
  status_.link_description = link_.describe();
}

std::string Agent::followed_master() const {
  // Several masters: the one the link follows now (logs name who failed).
  for (const MasterView& m : link_.masters()) {
    if (m.followed) return m.target;
  }
  return cfg_.master;
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

LinkResult Agent::exchange_burst() {
  LinkResult best = link_.exchange();
  for (int i = 1; i < cfg_.poll.burst && best.ok(); ++i) {
    LinkResult r = link_.exchange();
    if (!r.ok()) break;
    if (r.ex.delay_ns() < best.ex.delay_ns()) best = std::move(r);
  }
  return best;
}

void Agent::note_master(const MasterInfo& m, double delay_us) {
  // A transport that does not carry the name (UDP) keeps the one gRPC gave.
  const std::string id = m.id.empty() ? master_.id : m.id;
  if (master_known_ &&
      (id != master_.id || m.epoch != master_.epoch || m.timebase != master_.timebase)) {
    TS_LOG_WARN("master timeline changed ('%s' epoch %016" PRIx64 " -> '%s' epoch %016" PRIx64
                "): re-locking with a step",
                master_.id.c_str(), master_.epoch, id.c_str(), m.epoch);
    est_.reset();
    comb_.reset();
    two_way_since_reset_ = 0;
  } else if (master_known_ && m.instance != master_.instance) {
    TS_LOG_INFO("master '%s' restarted (instance %016" PRIx64 " -> %016" PRIx64
                "), same timeline: continuing",
                id.c_str(), master_.instance, m.instance);
  }
  if (!master_known_) {
    TS_LOG_INFO("master '%s' at %s answers: epoch %016" PRIx64 ", delay %.1f us", id.c_str(),
                cfg_.master.c_str(), m.epoch, delay_us);
  }
  MasterInfo next = m;
  if (m.id.empty()) {
    // Only gRPC answers say who the master is and what it offers.
    next.id = master_.id;
    next.udp_port = master_.udp_port;
    next.udp_authenticated = master_.udp_authenticated;
    next.utc = master_.utc;  // UTC too (ChronyRefclockPublisher ages it out)
  }
  master_ = std::move(next);
  master_known_ = true;
}

void Agent::note_epoch(int64_t offset_ns) {
  if (est_.estimate().epoch != est_epoch_seen_) {
    est_epoch_seen_ = est_.estimate().epoch;
    ++published_epoch_;
    TS_LOG_INFO("timeline set: offset %+.9f s from the master (epoch %" PRIu64 ")",
                static_cast<double>(offset_ns) / 1e9, published_epoch_);
  }
}

bool Agent::on_answer(const LinkExchange& ex) {
  note_master(ex.master, static_cast<double>(ex.delay_ns()) / 1e3);
  if (metrics_ != nullptr) metrics_->round_trip(ex.delay_ns());
  // Another transport, or another master, is another path: its delays are
  // not comparable.
  const std::string transport = link_.transport();
  const int path = link_.path();
  if (!last_transport_.empty() && (transport != last_transport_ || path != last_path_)) {
    TS_LOG_INFO("exchanges now over %s (%s)", transport.c_str(), link_.describe().c_str());
    est_.path_changed();
  }
  last_transport_ = transport;
  last_path_ = path;
  timestamps_ = ex.local_stamps;

  estimator::Exchange x = ex.x;
  x.correction_ns = cfg_.calibration.offset_ns;
  // The new line takes effect from now, after every reading made so far.
  const estimator::AddResult res = est_.add(x, LocalTime{local_.now_ns()});
  const bool accepted = res.verdict == estimator::Verdict::kAccepted;
  if (accepted) {
    ++two_way_samples_;
    last_offset_ns_ = res.sample.offset_ns;
    const estimator::Estimate& e = est_.estimate();
    // Beacon mode: every accepted exchange re-measures the beacons' one-way
    // delay. The calibration carries the offset from the exchange to the floor
    // beacon (up to a window of beacons away) with the frequency estimate,
    // and its uncertainty grows with the bound's growth over that gap, so a
    // poor frequency costs a wide calibration, never a wrong one; the best of
    // the last few calibrations is used. It still waits for 16 two-way
    // samples since the last reset and a frequency sigma below 10 ppm: the
    // first lock's frequency, fitted over a fraction of a second, can be off
    // by hundreds of ppm, which would only make the first calibrations useless.
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
  return accepted;
}

TransformSnapshot Agent::build(int64_t now_local, ClockStatus status) const {
  const estimator::Estimate& e = est_.estimate();
  const int64_t void_after_local =
      e.as_of.ns + static_cast<int64_t>(std::llround(cfg_.alarm.void_after_s * 1e9));
  estimator::ClockMap m;
  m.now_local = now_local;
  m.now_host = local_.to_host_raw_ns(now_local);
  m.as_of_host = local_.to_host_raw_ns(e.as_of.ns);
  m.void_after_host = local_.to_host_raw_ns(void_after_local);
  m.rate_vs_host_ppb = local_.rate_vs_host_ppb(m.now_host);
  TransformSnapshot s;
  static_cast<Transform&>(s) = estimator::to_transform(
      e, est_.growth_until(LocalTime{void_after_local}), m, max_error_ns_, published_epoch_, status);
  s.master_instance = master_.instance;
  s.set_master_name(master_.id);
  s.utc = utc_for_readers(master_);
  return s;
}

void Agent::publish_round(RoundFacts::Exchange exchange, bool accepted) {
  const int64_t now_local = local_.now_ns();
  const estimator::Estimate& e = est_.estimate();
  // The transform first (its bound does not depend on the status), then the
  // policy's verdict on it, then the snapshot as readers will get it.
  TransformSnapshot snap = build(now_local, ClockStatus::kUnsynchronized);
  const uint64_t bound_now = e.valid ? bound_at(snap, LocalTime{local_.to_host_raw_ns(now_local)}) : 0;
  RoundFacts f;
  f.now_local = now_local;
  f.exchange = exchange;
  f.accepted = accepted;
  f.last_answer_local = last_answer_local_;
  f.locked = est_.locked();
  f.has_estimate = e.valid;
  f.bound_now_ns = bound_now;
  f.growth_ppb = static_cast<double>(snap.bound_growth_ppb);
  f.freq_changes = e.freq_changes;
  f.master = cfg_.master;
  f.last_error = last_error_;
  f.split_brain = link_.split_brain();
  const Decision d = policy_.round(f);
  if (d.frequency_changed) {
    TS_LOG_DEBUG("frequency change detected (a thermal step or ramp?): re-learning the frequency");
  }
  if (d.alarm) {
    AlarmInfo a;
    a.raised = d.alarm->raised;
    a.reason = d.alarm->reason;
    a.message = d.alarm->message;
    a.host_raw_ns = local_.to_host_raw_ns(now_local);
    a.bound_ns = d.alarm->bound_ns;
    a.max_error_ns = max_error_ns_;
    a.since_last_answer_s = policy_.since_answer_s(now_local, last_answer_local_);
    if (a.raised) {
      if (metrics_ != nullptr) metrics_->alarm_raised(a.reason);
      TS_LOG_WARN("ALARM raised: out of sync: %s; timestamps are refused", a.message.c_str());
    } else {
      TS_LOG_INFO("ALARM cleared (%s): %s", to_string(a.reason), a.message.c_str());
    }
    alarms_.publish(std::move(a));
  }
  snap.status = d.status;
  out_.publish(snap);

  if (d.status != ClockStatus::kUnsynchronized && time_to_sync_s_ < 0) {
    time_to_sync_s_ = static_cast<double>(now_local - start_local_) / 1e9;
    TS_LOG_INFO("synchronized to '%s' after %.3f s over %s: offset %+.3f us, freq %+.3f ppm, "
                "bound %.3f us",
                master_.id.c_str(), time_to_sync_s_, link_.transport(),
                static_cast<double>(e.line.at(LocalTime{now_local}).ns - now_local) / 1e3,
                e.freq_est_ppb / 1e3, static_cast<double>(bound_now) / 1e3);
  }
  AgentStatusInfo st;
  fill_status(&st, snap, bound_now, now_local);
  if (metrics_ != nullptr) metrics_->update(st);
  if (notifier_ != nullptr) notifier_->status(service_status(st));
  const ClockStatus state = st.state;
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    status_ = std::move(st);
  }
  // Health follows what applications get: nothing while the segment is broken.
  if (on_state_) on_state_(out_.serving() ? state : ClockStatus::kUnsynchronized);
}

void Agent::fill_status(AgentStatusInfo* out, const TransformSnapshot& snap, uint64_t bound_now,
                        int64_t now_local) const {
  const estimator::Estimate& e = est_.estimate();
  AgentStatusInfo& st = *out;
  st.agent_id = id_;
  st.master_target = cfg_.master;
  st.master = master_;
  st.state = snap.status;
  st.alarm_active = policy_.alarm_active();
  st.alarm_reason = policy_.alarm_reason();
  st.alarm_message = policy_.alarm_message();
  st.alarms_raised = policy_.alarms_raised();
  st.published_epoch = published_epoch_;
  st.bound_ns = e.valid ? bound_now : 0;
  st.max_error_ns = max_error_ns_;
  st.last_offset_ns = last_offset_ns_;
  st.last_delay_ns = e.last_delay_ns;
  st.freq_ppm = e.freq_est_ppb / 1e3;
  st.freq_sigma_ppb = e.freq_sigma_ppb;
  if (est_.locked()) {
    st.freq_envelope_lo_ppm = e.freq_envelope.lo / 1e3;
    st.freq_envelope_hi_ppm = e.freq_envelope.hi / 1e3;
  }
  st.freq_changes = e.freq_changes;
  st.model_breaks = e.model_breaks;
  st.slew_ppm = e.slew_ppb / 1e3;
  st.poll_interval_s = policy_.poll_s();
  st.samples_accepted = e.accepted;
  st.samples_rejected = e.rejected;
  st.rpc_failures = policy_.failures();
  st.since_last_answer_s = policy_.since_answer_s(now_local, last_answer_local_);
  st.time_to_sync_s = time_to_sync_s_;
  st.servo = est_.servo_name();
  const estimator::InnovationStats innov = est_.innovations();
  st.innovation_count = innov.count;
  st.innovation_mean_ns = innov.mean_ns;
  st.innovation_std_ns = innov.std_ns;
  st.innovation_normalized_std = innov.normalized_std;
  st.local_clock = local_.describe();
  st.local_rate_ppm = local_.rate_vs_host_ppb(local_.to_host_raw_ns(now_local)) / 1e3;
  st.segment = out_.where();
  st.security = daemon::describe(cfg_.tls);
  st.last_error = policy_.consecutive_failures() > 0 ? last_error_
                  : (cfg_.beacon.enabled && !stream_up_) ? stream_error_
                                                        : "";
  st.link = last_transport_.empty() ? link_.transport() : last_transport_;
  st.link_description = link_.describe();
  st.timestamps = timestamps_;
  st.sync_mode = sync_mode();
  st.beacons_received = beacons_received_;
  st.beacon_delay_ns = comb_.calibrated() ? comb_.delay_ns() : -1;
  st.beacon_delay_uncertainty_ns = comb_.calibrated() ? comb_.delay_uncertainty_ns() : 0;
  st.beacon_samples = beacon_samples_;
  st.beacons_rejected = beacons_rejected_;
  st.two_way_samples = two_way_samples_;
  st.beacon_streams_opened = streams_opened_;
  std::copy(std::begin(link_errors_), std::end(link_errors_), std::begin(st.link_errors));
  st.packet_drops = link_.packet_drops();
  st.masters = link_.masters();
  for (MasterView& m : st.masters) {
    m.last_answer_local = m.last_answer_local < 0 ? -1 : now_local - m.last_answer_local;  // age, ns
  }
  st.split_brain = link_.split_brain();
}

AgentStatusInfo Agent::status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  return status_;
}

void Agent::run(const Waker& stop) {
  TS_LOG_INFO("agent '%s': master %s, local clock %s, publishing to %s, %s; %s", id_.c_str(),
              cfg_.master.c_str(), local_.describe().c_str(), out_.where().c_str(),
              cfg_.beacon.enabled ? "beacon mode" : "polling", link_.describe().c_str());
  if (cfg_.beacon.enabled && beacons_ != nullptr) {
    run_beacon(stop);
  } else {
    run_polling(stop);
  }
}

int64_t Agent::round() {
  const LinkResult r = exchange_burst();
  bool accepted = false;
  if (r.ok()) {
    if (policy_.consecutive_failures() > 0) {
      TS_LOG_INFO("master %s answers again after %d failed exchanges", followed_master().c_str(),
                  policy_.consecutive_failures());
    }
    last_answer_local_ = r.ex.x.t3.ns;
    accepted = on_answer(r.ex);
  } else {
    ++link_errors_[static_cast<size_t>(r.error)];
    if (policy_.consecutive_failures() == 0) {
      TS_LOG_WARN("exchange with %s failed: %s; holding over", followed_master().c_str(),
                  r.message.c_str());
    }
    last_error_ = r.message;
  }
  publish_round(r.ok() ? RoundFacts::Exchange::kAnswered : RoundFacts::Exchange::kFailed, accepted);
  const int64_t now_local = local_.now_ns();
  next_poll_ += static_cast<int64_t>(std::llround(policy_.poll_s() * 1e9));
  if (next_poll_ < now_local) next_poll_ = now_local;  // never poll in a burst to catch up
  return next_poll_;
}

void Agent::run_polling(const Waker& stop) {
  next_poll_ = local_.now_ns();
  while (!stop.signalled()) sleep_until_poll(round(), stop);
}

void Agent::on_beacon_event(const BeaconStream::Event& ev) {
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
  const BeaconStream::Beacon& b = ev.beacon;
  ++beacons_received_;
  stream_rate_hz_ = b.rate_hz;
  if (b.master.timebase == MasterTimebase::kUnknown) {
    ++beacons_rejected_;
    return;
  }
  if (last_beacon_seq_ != 0 && b.sequence != last_beacon_seq_ + 1) {
    TS_LOG_DEBUG("beacons %" PRIu64 "..%" PRIu64 " skipped by the master", last_beacon_seq_ + 1,
                 b.sequence - 1);
  }
  last_beacon_seq_ = b.sequence;
  // The master spoke: as good as an answer for the unreachable alarm.
  last_answer_local_ = std::max(last_answer_local_, ev.rx_local_ns);
  MasterInfo m = b.master;
  m.udp_port = master_.udp_port;
  m.udp_authenticated = master_.udp_authenticated;
  note_master(m, 0);

  const estimator::Estimate& e = est_.estimate();
  estimator::Sample s;
  const estimator::BeaconVerdict v = comb_.add(
      estimator::Beacon{LocalTime{ev.rx_local_ns}, b.master_send_ns, b.master_error_ns},
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
    const int64_t wait_ns = local_.to_host_raw_ns(deadline_local) - local_.host_now_ns();
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
  beacons_->start();
  int64_t next_exchange = local_.now_ns();
  while (!stop.signalled()) {
    bool changed = false;
    RoundFacts::Exchange exchanged = RoundFacts::Exchange::kNone;
    bool accepted = false;
    if (local_.now_ns() >= next_exchange) {
      const LinkResult r = exchange_burst();
      if (r.ok()) {
        if (policy_.consecutive_failures() > 0) {
          TS_LOG_INFO("master %s answers again after %d failed exchanges", followed_master().c_str(),
                      policy_.consecutive_failures());
        }
        last_answer_local_ = r.ex.x.t3.ns;
        accepted = on_answer(r.ex);
        exchanged = RoundFacts::Exchange::kAnswered;
      } else {
        ++link_errors_[static_cast<size_t>(r.error)];
        if (policy_.consecutive_failures() == 0) {
          TS_LOG_WARN("exchange with %s failed: %s; holding over", followed_master().c_str(),
                      r.message.c_str());
        }
        last_error_ = r.message;
        exchanged = RoundFacts::Exchange::kFailed;
      }
      changed = true;
    }
    for (const BeaconStream::Event& ev : beacons_->take()) {
      on_beacon_event(ev);
      changed = true;
    }
    if (changed) publish_round(exchanged, accepted);
    if (exchanged != RoundFacts::Exchange::kNone) {
      // Fast until locked and calibrated (and while exchanges fail), then
      // only as often as the calibration needs; without a stream, polling.
      double every_s = policy_.poll_s();
      if (stream_up_ && policy_.consecutive_failures() == 0 && est_.locked()) {
        // A whole window of beacons judged queued means the floor (or the
        // frequency it is judged with) moved: poll as without beacons until
        // they are usable again, rather than trust a 10 s old calibration.
        const bool usable = comb_.calibrated() && queued_run_ < cfg_.beacon.window;
        every_s = usable ? cfg_.beacon.calibrate_every_s
                         : comb_.calibrated() ? policy_.poll_s() : cfg_.poll.min_s;
      }
      next_exchange = local_.now_ns() + static_cast<int64_t>(std::llround(every_s * 1e9));
    }
    wait_for_event(next_exchange, beacons_->ready_fd(), stop);
  }
  beacons_->stop();
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
