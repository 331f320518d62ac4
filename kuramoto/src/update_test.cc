// The phase maths and the seed's update rule, on hand-picked inputs.
#include "timesync/kuramoto/update.hpp"

#include <cmath>

#include <gtest/gtest.h>

namespace timesync::kuramoto {
namespace {

constexpr int64_t kP100 = 10'000'000;  // 100 Hz

TEST(Wrap, RadiansLandInTheHalfOpenInterval) {
  EXPECT_DOUBLE_EQ(wrap_rad(0), 0);
  EXPECT_NEAR(wrap_rad(3 * kPi / 2), -kPi / 2, 1e-12);
  EXPECT_NEAR(wrap_rad(-3 * kPi / 2), kPi / 2, 1e-12);
  EXPECT_NEAR(wrap_rad(kPi), kPi, 1e-12);    // +pi stays
  EXPECT_NEAR(wrap_rad(-kPi), kPi, 1e-12);   // -pi is outside (-pi, pi]
  EXPECT_NEAR(wrap_rad(7 * kPi + 0.1), -kPi + 0.1, 1e-9);
}

TEST(Wrap, NanosecondsLandInTheHalfOpenInterval) {
  EXPECT_EQ(wrap_ns(0, kP100), 0);
  EXPECT_EQ(wrap_ns(3'000'000, kP100), 3'000'000);
  EXPECT_EQ(wrap_ns(7'000'000, kP100), -3'000'000);
  EXPECT_EQ(wrap_ns(-7'000'000, kP100), 3'000'000);
  EXPECT_EQ(wrap_ns(5'000'000, kP100), 5'000'000);   // +P/2 stays
  EXPECT_EQ(wrap_ns(-5'000'000, kP100), 5'000'000);  // -P/2 becomes +P/2
  EXPECT_EQ(wrap_ns(-9'999'990, kP100), 10);         // a pulse one period ago, 10 ns late
  EXPECT_EQ(wrap_ns(3 * kP100 + 1, kP100), 1);
  // Odd period: (-P/2, P/2] with P/2 = 3.5.
  EXPECT_EQ(wrap_ns(3, 7), 3);
  EXPECT_EQ(wrap_ns(4, 7), -3);
  EXPECT_EQ(wrap_ns(-4, 7), 3);
}

TEST(Convert, TimeAndPhaseRoundTrip) {
  EXPECT_EQ(period_ns_for(100), kP100);
  EXPECT_EQ(period_ns_for(1), 1'000'000'000);
  EXPECT_EQ(period_ns_for(3), 333'333'333);
  // The seed's table at 1 Hz: a quarter second is pi/2.
  EXPECT_NEAR(ns_to_rad(250'000'000, 1), kPi / 2, 1e-12);
  EXPECT_NEAR(rad_to_ns(kPi, 100), 5'000'000, 1e-6);
  EXPECT_NEAR(rad_to_ns(ns_to_rad(1234, 437), 437), 1234, 1e-9);
}

TEST(Params, RangesAreEnforcedWithMessages) {
  EXPECT_EQ(params_error({100, 0.5, 2}), "");
  EXPECT_EQ(params_error({1, 0, 2}), "");
  EXPECT_EQ(params_error({500, 1.99, 5}), "");
  EXPECT_NE(params_error({0.5, 0.5, 2}).find("frequency"), std::string::npos);
  EXPECT_NE(params_error({501, 0.5, 2}).find("frequency"), std::string::npos);
  EXPECT_NE(params_error({100, 2.0, 2}).find("coupling"), std::string::npos);
  EXPECT_NE(params_error({100, -0.1, 2}).find("coupling"), std::string::npos);
  EXPECT_NE(params_error({100, NAN, 2}).find("coupling"), std::string::npos);
  EXPECT_NE(params_error({100, 0.5, 1}).find("participants"), std::string::npos);
}

TEST(Update, PeerThatLagsSlowsUsDown) {
  // The peer pulsed 1 ms after us (we read its pulse right after ours).
  const CouplingParams p{100, 0.5, 2};
  const std::optional<int64_t> last[] = {1'001'000'000};
  const Update u = kuramoto_update(p, 1'000'000'000, last);
  ASSERT_EQ(u.delta_ns.size(), 1u);
  EXPECT_EQ(u.delta_ns[0], 1'000'000);
  // theta_j - theta_i = -2 pi * 100 * 1e-3 = -0.2 pi; dtheta = 0.5/2 * sin(-0.2 pi).
  const double want = 0.25 * std::sin(-0.2 * kPi);
  EXPECT_NEAR(u.dtheta_rad, want, 1e-12);
  EXPECT_EQ(u.shift_ns, std::llround(-want / (2 * kPi * 100) * 1e9));
  EXPECT_GT(u.shift_ns, 0);  // we wake later, towards the peer
}

TEST(Update, PeerThatLeadsSpeedsUsUpAndAnOldPulseWrapsToTheSameAnswer) {
  const CouplingParams p{100, 0.5, 2};
  // The peer pulsed 1 ms before us: seen as its newest pulse...
  const std::optional<int64_t> fresh[] = {999'000'000};
  // ...or 1 ms before us, one period earlier (its newest not seen yet: +9 ms after us).
  const std::optional<int64_t> older[] = {1'009'000'000 - kP100};
  const Update a = kuramoto_update(p, 1'000'000'000, fresh);
  const Update b = kuramoto_update(p, 1'000'000'000, older);
  EXPECT_EQ(a.delta_ns[0], -1'000'000);
  EXPECT_EQ(b.delta_ns[0], -1'000'000);
  EXPECT_LT(a.shift_ns, 0);
  EXPECT_EQ(a.shift_ns, b.shift_ns);
}

TEST(Update, NormalisesByAllParticipantsAndSkipsSilentPeers) {
  const CouplingParams p{10, 1.0, 4};  // N = 4: three peers and us
  const int64_t emit = 5'000'000'000;
  const int64_t quarter = period_ns_for(10) / 4;  // -pi/2 behind
  const std::optional<int64_t> last[] = {emit + quarter, std::nullopt,
                                         emit - 3 * period_ns_for(10)};  // stale
  const Update u = kuramoto_update(p, emit, last);
  EXPECT_EQ(u.delta_ns[0], quarter);
  EXPECT_FALSE(u.delta_ns[1].has_value());
  EXPECT_FALSE(u.delta_ns[2].has_value());
  EXPECT_NEAR(u.dtheta_rad, 1.0 / 4 * std::sin(-kPi / 2), 1e-12);
}

TEST(Update, AntiphaseAndInPhaseExertNoPull) {
  const CouplingParams p{100, 0.5, 2};
  const std::optional<int64_t> same[] = {1'000'000'000};
  const std::optional<int64_t> half[] = {1'000'000'000 + kP100 / 2};
  EXPECT_EQ(kuramoto_update(p, 1'000'000'000, same).shift_ns, 0);
  // sin(pi) is 0 up to rounding: the unstable equilibrium the seed's LEDs can
  // only leave through noise.
  EXPECT_EQ(kuramoto_update(p, 1'000'000'000, half).shift_ns, 0);
}

TEST(Peer, ScheduleAdvancesFromTheScheduledTimeNotTheLateOne) {
  Peer peer({100, 0.5, 2}, 1'000'000'000);
  const std::optional<int64_t> none[] = {std::nullopt};
  // Woke 300 us late: the next wake-up is still a period after the scheduled one.
  peer.on_pulse(1'000'300'000, none);
  EXPECT_EQ(peer.next_wake_ns(), 1'000'000'000 + kP100);
  // Woke a period and a half late: the missed boundary is skipped, not run twice.
  peer.on_pulse(1'000'000'000 + 2 * kP100 + kP100 / 2, none);
  EXPECT_EQ(peer.next_wake_ns(), 1'000'000'000 + 3 * kP100);
  EXPECT_EQ(peer.missed(), 1u);
}

TEST(Peer, TwoPeersOnOneClockHalveTheirDifferenceEachCycleAtKHalf) {
  // Identical clocks, no noise: phi' = phi - K sin(phi), about (1 - K) phi near lock.
  Peer a({100, 0.5, 2}, 0), b({100, 0.5, 2}, 400'000);
  int64_t diff = 400'000;
  for (int c = 0; c < 8; ++c) {
    const int64_t ta = a.next_wake_ns(), tb = b.next_wake_ns();
    const std::optional<int64_t> la[] = {tb}, lb[] = {ta};  // each sees the other's pulse
    a.on_pulse(ta, la);
    b.on_pulse(tb, lb);
    const int64_t next = b.next_wake_ns() - a.next_wake_ns();
    const double phi = ns_to_rad(static_cast<double>(diff), 100);
    EXPECT_NEAR(static_cast<double>(next), rad_to_ns(phi - 0.5 * std::sin(phi), 100), 2)
        << "cycle " << c;
    diff = next;
  }
  EXPECT_LT(std::llabs(diff), 400'000 / 100);
}

TEST(Locking, ThresholdAndLockedPhase) {
  EXPECT_NEAR(critical_coupling(50), 2 * kPi * 50e-6, 1e-15);
  EXPECT_NEAR(critical_coupling(-50), 2 * kPi * 50e-6, 1e-15);
  EXPECT_FALSE(locked_phase_rad(0.5 * critical_coupling(50), 50).has_value());
  EXPECT_NEAR(*locked_phase_rad(2 * critical_coupling(50), 50), kPi / 6, 1e-12);
}

TEST(LocalTimescale, FastClockRunsFastAndMapsBack) {
  const LocalTimescale fast{1'000'000'000, 100};  // 100 ppm fast
  EXPECT_EQ(fast.to_local(1'000'000'000), 1'000'000'000);
  EXPECT_EQ(fast.to_local(2'000'000'000), 2'000'100'000);  // 1 s of base is 1.0001 s local
  EXPECT_EQ(fast.to_local(0), -100'000);
  for (int64_t t : {int64_t{0}, int64_t{1'234'567'891}, int64_t{86'400'000'000'000}}) {
    EXPECT_NEAR(static_cast<double>(fast.to_base(fast.to_local(t))), static_cast<double>(t), 1);
  }
}

}  // namespace
}  // namespace timesync::kuramoto
