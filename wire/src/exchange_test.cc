#include "timesync/wire/exchange.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "../../tests/support/test_seed.hpp"

namespace timesync::wire {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr int64_t kNow = 5'000'000'000'000;
constexpr int64_t kLifetime = 3'600'000'000'000;

Bytes bytes(const Result<Datagram>& d) {
  EXPECT_TRUE(d.ok()) << to_string(d.error());
  if (!d.ok()) return {};
  return Bytes(d->view().begin(), d->view().end());
}

Response response(uint64_t seq) {
  Response r;
  r.sequence = seq;
  r.t1_ns = 123'456'789;
  r.epoch = 77;
  r.instance = 0xABCDEF;
  r.master_error_ns = 1'500;
  r.timebase = Timebase::kMonotonic;
  return r;
}

FollowUp follow_up(uint64_t seq) { return FollowUp{seq, 123'470'000, 77}; }

// A master's ring and an agent's session from it, as GetUdpSession gives.
struct Keys {
  CookieKeyRing ring;
  Session session;
};

Keys make_keys(uint32_t first_id = 1) {
  Result<CookieKeyRing> ring = CookieKeyRing::create(first_id);
  Result<SessionKey> key = SessionKey::generate();
  EXPECT_TRUE(ring.ok() && key.ok());
  Result<Cookie> cookie = ring->make_cookie(*key, kNow + kLifetime);
  EXPECT_TRUE(cookie.ok());
  return Keys{std::move(ring).value(), Session{*key, *cookie}};
}

// open_* on a heap copy of exactly b.size() bytes, so ASan sees overreads.
struct Exact {
  explicit Exact(const Bytes& b) : data(std::make_unique<uint8_t[]>(b.size() + 1)), size(b.size()) {
    std::copy(b.begin(), b.end(), data.get());
  }
  std::span<const uint8_t> span() const { return {data.get(), size}; }
  std::unique_ptr<uint8_t[]> data;
  size_t size;
};

// --- Whole exchanges ------------------------------------------------------

TEST(Exchange, UnauthenticatedTwoStep) {
  const Bytes req = bytes(make_request(42, nullptr));
  EXPECT_EQ(req.size(), 112u);
  Result<OpenedRequest> opened = open_request(req, nullptr, kNow);
  ASSERT_TRUE(opened.ok()) << to_string(opened.error());
  EXPECT_EQ(opened->sequence, 42u);
  EXPECT_FALSE(opened->key.has_value());

  const Bytes resp = bytes(make_response(response(42), nullptr));
  const Bytes fu = bytes(make_follow_up(follow_up(42), nullptr));
  EXPECT_EQ(resp.size(), 64u);
  EXPECT_EQ(fu.size(), 48u);
  Result<Response> r = open_response(resp, nullptr, 42);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->t1_ns, 123'456'789);
  EXPECT_EQ(r->epoch, 77u);
  EXPECT_EQ(r->instance, 0xABCDEFu);
  EXPECT_EQ(r->master_error_ns, 1'500u);
  Result<FollowUp> f = open_follow_up(fu, nullptr, 42);
  ASSERT_TRUE(f.ok()) << to_string(f.error());
  EXPECT_EQ(f->t2_ns, 123'470'000);
}

TEST(Exchange, AuthenticatedTwoStep) {
  Keys k = make_keys();
  const Bytes req = bytes(make_request(0xFEEDFACE, &k.session));
  EXPECT_EQ(req.size(), 168u);
  Result<OpenedRequest> opened = open_request(req, &k.ring, kNow);
  ASSERT_TRUE(opened.ok()) << to_string(opened.error());
  EXPECT_EQ(opened->sequence, 0xFEEDFACEu);
  ASSERT_TRUE(opened->key.has_value());
  EXPECT_EQ(opened->key->bytes, k.session.key.bytes);

  const SessionKey& master_key = *opened->key;
  const Bytes resp = bytes(make_response(response(0xFEEDFACE), &master_key));
  const Bytes fu = bytes(make_follow_up(follow_up(0xFEEDFACE), &master_key));
  EXPECT_EQ(resp.size(), 92u);
  EXPECT_EQ(fu.size(), 76u);
  Result<Response> r = open_response(resp, &k.session.key, 0xFEEDFACE);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  EXPECT_EQ(r->t1_ns, 123'456'789);
  Result<FollowUp> f = open_follow_up(fu, &k.session.key, 0xFEEDFACE);
  ASSERT_TRUE(f.ok()) << to_string(f.error());
  EXPECT_EQ(f->t2_ns, 123'470'000);
  EXPECT_EQ(f->epoch, 77u);
}

TEST(Exchange, OpenAnswerTakesEitherAnswerInEitherOrder) {
  Keys k = make_keys();
  for (const SessionKey* key : std::initializer_list<const SessionKey*>{nullptr, &k.session.key}) {
    const Bytes fu = bytes(make_follow_up(follow_up(9), key));
    const Bytes resp = bytes(make_response(response(9), key));
    Result<Answer> a = open_answer(fu, key, 9);
    ASSERT_TRUE(a.ok()) << to_string(a.error());
    EXPECT_TRUE(std::holds_alternative<FollowUp>(*a));
    a = open_answer(resp, key, 9);
    ASSERT_TRUE(a.ok()) << to_string(a.error());
    EXPECT_TRUE(std::holds_alternative<Response>(*a));
  }
}

// --- Framing: sealed where plain is expected, and the reverse --------------

TEST(ExchangeFraming, MasterWithKeysRefusesUnsealedRequests) {
  Keys k = make_keys();
  EXPECT_EQ(open_request(bytes(make_request(1, nullptr)), &k.ring, kNow).error(),
            Error::kUnauthenticated);
}

TEST(ExchangeFraming, MasterWithoutKeysRefusesSealedRequests) {
  Keys k = make_keys();
  EXPECT_EQ(open_request(bytes(make_request(1, &k.session)), nullptr, kNow).error(),
            Error::kUnexpectedAuth);
}

TEST(ExchangeFraming, AgentWithAKeyRefusesUnsealedAnswers) {
  Keys k = make_keys();
  EXPECT_EQ(open_response(bytes(make_response(response(1), nullptr)), &k.session.key, 1).error(),
            Error::kUnauthenticated);
  EXPECT_EQ(open_follow_up(bytes(make_follow_up(follow_up(1), nullptr)), &k.session.key, 1).error(),
            Error::kUnauthenticated);
  EXPECT_EQ(open_answer(bytes(make_follow_up(follow_up(1), nullptr)), &k.session.key, 1).error(),
            Error::kUnauthenticated);
}

TEST(ExchangeFraming, AgentWithoutAKeyRefusesSealedAnswers) {
  Keys k = make_keys();
  EXPECT_EQ(open_response(bytes(make_response(response(1), &k.session.key)), nullptr, 1).error(),
            Error::kUnexpectedAuth);
  EXPECT_EQ(open_follow_up(bytes(make_follow_up(follow_up(1), &k.session.key)), nullptr, 1).error(),
            Error::kUnexpectedAuth);
}

TEST(ExchangeFraming, StrippingTheSealDoesNotMakeAPlainPacket) {
  // Cut the trailer and clear AUTH: the length field still says sealed, and
  // an agent holding a key refuses it anyway.
  Keys k = make_keys();
  Bytes resp = bytes(make_response(response(1), &k.session.key));
  resp.resize(64);
  resp[6] = 0;
  EXPECT_EQ(open_response(resp, nullptr, 1).error(), Error::kLengthFieldMismatch);
  resp[9] = 64;
  EXPECT_EQ(open_response(resp, &k.session.key, 1).error(), Error::kUnauthenticated);
}

// --- Types ----------------------------------------------------------------

TEST(ExchangeType, EachEndRefusesTheOtherTypes) {
  Keys k = make_keys();
  const SessionKey* key = &k.session.key;
  const Bytes req = bytes(make_request(3, &k.session));
  const Bytes resp = bytes(make_response(response(3), key));
  const Bytes fu = bytes(make_follow_up(follow_up(3), key));
  EXPECT_EQ(open_request(resp, &k.ring, kNow).error(), Error::kWrongType);
  EXPECT_EQ(open_request(fu, &k.ring, kNow).error(), Error::kWrongType);
  // The agent's own request reflected back at it.
  EXPECT_EQ(open_answer(req, key, 3).error(), Error::kWrongType);
  EXPECT_EQ(open_response(req, key, 3).error(), Error::kWrongType);
  EXPECT_EQ(open_response(fu, key, 3).error(), Error::kWrongType);
  EXPECT_EQ(open_follow_up(resp, key, 3).error(), Error::kWrongType);
  // The type is judged before the sequence.
  EXPECT_EQ(open_response(fu, key, 4).error(), Error::kWrongType);
}

// --- Forgery and tampering ------------------------------------------------

TEST(ExchangeAuth, EveryFlippedBitOfASealedRequestIsRefused) {
  Keys k = make_keys();
  const Bytes req = bytes(make_request(11, &k.session));
  for (size_t i = 0; i < req.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes t = req;
      t[i] = static_cast<uint8_t>(t[i] ^ (1 << bit));
      const Error e = open_request(t, &k.ring, kNow).error();
      ASSERT_NE(e, Error::kOk) << "byte " << i << " bit " << bit;
      // Where the flip lands decides which check counts it.
      const bool cookie = i >= kOffCookie && i < kOffCookie + kCookieSize;
      if (cookie) {
        EXPECT_TRUE(e == Error::kCookieUnknownKey || e == Error::kCookieBadTag) << i;
      } else if (i >= kSealedRequestSize - kTrailerSize || (i >= 16 && i < 24)) {
        EXPECT_EQ(e, Error::kBadTag) << i;  // sequence, nonce, tag: only the seal sees them
      } else {
        EXPECT_TRUE(is_malformed(e) || e == Error::kWrongType || e == Error::kUnauthenticated)
            << i << ": " << to_string(e);
      }
    }
  }
}

TEST(ExchangeAuth, EveryFlippedBitOfASealedAnswerIsRefused) {
  Keys k = make_keys();
  const SessionKey* key = &k.session.key;
  for (const Bytes& p : {bytes(make_response(response(11), key)),
                         bytes(make_follow_up(follow_up(11), key))}) {
    for (size_t i = 0; i < p.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes t = p;
        t[i] = static_cast<uint8_t>(t[i] ^ (1 << bit));
        const Error e = open_answer(t, key, 11).error();
        ASSERT_NE(e, Error::kOk) << p.size() << "-byte answer, byte " << i << " bit " << bit;
        // A field or the sequence changed: the seal catches it, before the
        // sequence check could call it late.
        if (i >= 16) {
          EXPECT_TRUE(e == Error::kBadTag || is_malformed(e)) << i << ": " << to_string(e);
        }
      }
    }
  }
}

TEST(ExchangeAuth, AnswersUnderAnotherKeyAreForgeries) {
  Keys k = make_keys();
  Keys other = make_keys();
  const Bytes resp = bytes(make_response(response(5), &other.session.key));
  EXPECT_EQ(open_response(resp, &k.session.key, 5).error(), Error::kBadTag);
  // Forged and with the wrong sequence: counted as forged.
  EXPECT_EQ(open_response(resp, &k.session.key, 6).error(), Error::kBadTag);
}

TEST(ExchangeAuth, ACookieWithoutItsKeyIsUseless) {
  // An eavesdropper copies a valid cookie from the wire and seals its own
  // request under a key of its choosing.
  Keys k = make_keys();
  Result<SessionKey> mine = SessionKey::generate();
  ASSERT_TRUE(mine.ok());
  const Session stolen{*mine, k.session.cookie};
  EXPECT_EQ(open_request(bytes(make_request(1, &stolen)), &k.ring, kNow).error(), Error::kBadTag);
}

TEST(ExchangeAuth, RequestsCarryingAnotherMastersCookieAreRefused) {
  Keys k = make_keys(1);
  Keys other = make_keys(1000);
  EXPECT_EQ(open_request(bytes(make_request(1, &other.session)), &k.ring, kNow).error(),
            Error::kCookieUnknownKey);
}

TEST(ExchangeAuth, ExpiredAndRetiredCookiesAreRefused) {
  Keys k = make_keys();
  const Bytes req = bytes(make_request(1, &k.session));
  EXPECT_TRUE(open_request(req, &k.ring, kNow + kLifetime - 1).ok());
  EXPECT_EQ(open_request(req, &k.ring, kNow + kLifetime).error(), Error::kCookieExpired);
  ASSERT_EQ(k.ring.rotate(), Error::kOk);
  EXPECT_TRUE(open_request(req, &k.ring, kNow).ok());
  ASSERT_EQ(k.ring.rotate(), Error::kOk);
  EXPECT_EQ(open_request(req, &k.ring, kNow).error(), Error::kCookieUnknownKey);
}

// --- Freshness ------------------------------------------------------------

TEST(ExchangeSequence, ReplayedOrLateAnswersAreRefused) {
  Keys k = make_keys();
  for (const SessionKey* key : std::initializer_list<const SessionKey*>{nullptr, &k.session.key}) {
    const Bytes resp = bytes(make_response(response(100), key));
    const Bytes fu = bytes(make_follow_up(follow_up(100), key));
    ASSERT_TRUE(open_response(resp, key, 100).ok());
    // The same authentic packets while the agent waits for request 101.
    EXPECT_EQ(open_response(resp, key, 101).error(), Error::kWrongSequence);
    EXPECT_EQ(open_follow_up(fu, key, 101).error(), Error::kWrongSequence);
    EXPECT_EQ(open_answer(fu, key, 99).error(), Error::kWrongSequence);
    EXPECT_EQ(open_answer(resp, key, ~uint64_t{100}).error(), Error::kWrongSequence);
  }
}

TEST(ExchangeSequence, AReplayedRequestIsAnsweredAgainStatelessly) {
  // The master keeps nothing between exchanges, so it cannot tell a replay;
  // the agent's sequence check drops the answers (the test above), and the
  // request's size keeps a replay from amplifying.
  Keys k = make_keys();
  const Bytes req = bytes(make_request(8, &k.session));
  EXPECT_TRUE(open_request(req, &k.ring, kNow).ok());
  EXPECT_TRUE(open_request(req, &k.ring, kNow).ok());
  EXPECT_GE(req.size(), bytes(make_response(response(8), &k.session.key)).size() +
                            bytes(make_follow_up(follow_up(8), &k.session.key)).size());
}

// --- Arguments and arbitrary bytes ----------------------------------------

TEST(ExchangeMake, ATimebaseTheFormatCannotCarryIsRefused) {
  Response r = response(1);
  r.timebase = static_cast<Timebase>(0);
  EXPECT_EQ(make_response(r, nullptr).error(), Error::kInvalidArgument);
}

TEST(ExchangeMalformed, TruncationsReportTheDecodeError) {
  Keys k = make_keys();
  const Bytes req = bytes(make_request(1, &k.session));
  for (size_t n = 0; n < req.size(); ++n) {
    const Bytes t(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(n));
    const Error e = open_request(Exact(t).span(), &k.ring, kNow).error();
    EXPECT_EQ(e, n < kHeaderSize ? Error::kTooShort : Error::kWrongLength) << n;
    EXPECT_EQ(open_answer(Exact(t).span(), &k.session.key, 1).error(), e) << n;
  }
}

TEST(ExchangeFuzz, ArbitraryBytesNeverOpen) {
  // Random bytes, and valid packets with random bytes changed, into every
  // open_* with and without keys: an Error each time, never a crash (the
  // fuzzing entry point of issue 17 will do this at scale).
  auto rng = testing::seeded_rng("ExchangeFuzz.ArbitraryBytesNeverOpen");
  Keys k = make_keys();
  const std::vector<Bytes> valid = {
      bytes(make_request(1, &k.session)), bytes(make_response(response(1), &k.session.key)),
      bytes(make_follow_up(follow_up(1), &k.session.key))};
  for (int i = 0; i < 30'000; ++i) {
    Bytes b;
    if (i % 3 == 0) {
      b.resize(rng() % (kMaxPacketSize + 8));
      for (auto& x : b) x = static_cast<uint8_t>(rng());
    } else {
      const Bytes& original = valid[rng() % valid.size()];
      b = original;
      for (int m = static_cast<int>(rng() % 3); m >= 0; --m) {
        b[rng() % b.size()] = static_cast<uint8_t>(rng());
      }
      if (b == original) continue;  // the "mutation" wrote the same bytes back
    }
    const Exact in(b);
    ASSERT_FALSE(open_request(in.span(), &k.ring, kNow).ok()) << i;
    ASSERT_FALSE(open_answer(in.span(), &k.session.key, 1).ok()) << i;
    // Without keys a mutated packet may well be a valid unsealed one; it
    // must still never be a sealed one.
    Result<OpenedRequest> plain = open_request(in.span(), nullptr, kNow);
    if (plain.ok()) {
      EXPECT_FALSE(plain->key.has_value());
    }
    (void)open_answer(in.span(), nullptr, 1);
  }
}

}  // namespace
}  // namespace timesync::wire
