#include "timesync/wire/seal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace timesync::wire {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes from_hex(const std::string& h) {
  Bytes b;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    b.push_back(static_cast<uint8_t>(std::stoul(h.substr(i, 2), nullptr, 16)));
  }
  return b;
}

SessionKey key_of(const Bytes& b) {
  SessionKey k;
  std::copy(b.begin(), b.end(), k.bytes.begin());
  return k;
}

SessionKey fresh_key() {
  Result<SessionKey> k = SessionKey::generate();
  EXPECT_TRUE(k.ok());
  return *k;
}

CookieKeyRing ring_with_id(uint32_t id) {
  Result<CookieKeyRing> r = CookieKeyRing::create(id);
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

// A packet-like buffer of `n` bytes: recognisable AD, trailer to be sealed.
Bytes sealed_packet(size_t n, const SessionKey& key) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 7 + 1);
  EXPECT_EQ(seal(b, key), Error::kOk);
  return b;
}

constexpr int64_t kNow = 1'000'000'000'000;

// --- AES-256-GCM, checked against published vectors -----------------------

TEST(Seal, VerifyAcceptsTheGcmReferenceVectorWithEmptyInput) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 13:
  // K = 0^256, IV = 0^96, no plaintext, no AD.
  Bytes packet = from_hex("000000000000000000000000" "530f8afbc74536b9a963b4f1c4cb738b");
  const SessionKey zero{};
  EXPECT_EQ(verify(packet, zero), Error::kOk);
  packet.back() ^= 1;
  EXPECT_EQ(verify(packet, zero), Error::kBadTag);
}

TEST(Seal, VerifyAcceptsTheNistVectorWithAdOnly) {
  // NIST CAVS gcmEncryptExtIV256, PTlen 0, AADlen 128, count 0: our layout
  // is exactly that, the AD followed by nonce and tag.
  const SessionKey key =
      key_of(from_hex("78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223"));
  Bytes packet = from_hex("b96baa8c1c75a671bfb2d08d06be5f36"   // AD
                          "d79cf22d504cc793c3fb6c8a"           // nonce
                          "3e5d486aa2e30b22e040b85723a06e76");  // tag
  EXPECT_EQ(verify(packet, key), Error::kOk);
  packet[0] ^= 0x80;
  EXPECT_EQ(verify(packet, key), Error::kBadTag);
}

// --- Packet seal and verify -----------------------------------------------

TEST(Seal, RoundTripsForEveryPacketSizeAndAnEmptyAd) {
  const SessionKey key = fresh_key();
  for (size_t n : {kTrailerSize, kTrailerSize + 1, kSealedFollowUpSize, kSealedResponseSize,
                   kSealedRequestSize}) {
    Bytes p = sealed_packet(n, key);
    EXPECT_EQ(verify(p, key), Error::kOk) << n;
  }
}

TEST(Seal, SealWritesOnlyTheTrailer) {
  const SessionKey key = fresh_key();
  Bytes p(kSealedResponseSize, 0x33);
  ASSERT_EQ(seal(p, key), Error::kOk);
  EXPECT_EQ(Bytes(p.begin(), p.end() - kTrailerSize), Bytes(kSealedResponseSize - 28, 0x33));
}

TEST(Seal, EveryFlippedBitIsRejected) {
  const SessionKey key = fresh_key();
  for (size_t n : {kSealedFollowUpSize, kSealedResponseSize, kSealedRequestSize}) {
    const Bytes p = sealed_packet(n, key);
    for (size_t i = 0; i < n; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes t = p;
        t[i] = static_cast<uint8_t>(t[i] ^ (1 << bit));
        ASSERT_EQ(verify(t, key), Error::kBadTag) << n << "-byte packet, byte " << i << " bit "
                                                  << bit;
      }
    }
  }
}

TEST(Seal, AnotherKeyIsRejected) {
  const SessionKey key = fresh_key();
  const Bytes p = sealed_packet(kSealedResponseSize, key);
  EXPECT_EQ(verify(p, fresh_key()), Error::kBadTag);
  SessionKey near = key;
  near.bytes[31] ^= 1;
  EXPECT_EQ(verify(p, near), Error::kBadTag);
}

TEST(Seal, TruncatedOrExtendedPacketsAreRejected) {
  const SessionKey key = fresh_key();
  const Bytes p = sealed_packet(kSealedResponseSize, key);
  for (size_t n = 0; n < p.size(); ++n) {
    const Error e = verify(std::span<const uint8_t>(p.data(), n), key);
    EXPECT_EQ(e, n < kTrailerSize ? Error::kTooShort : Error::kBadTag) << n;
  }
  Bytes longer = p;
  longer.push_back(0);
  EXPECT_EQ(verify(longer, key), Error::kBadTag);
}

TEST(Seal, TooShortBuffersAreRefusedUntouched) {
  const SessionKey key = fresh_key();
  Bytes p(kTrailerSize - 1, 0x44);
  EXPECT_EQ(seal(p, key), Error::kTooShort);
  EXPECT_EQ(p, Bytes(kTrailerSize - 1, 0x44));
  EXPECT_EQ(seal(std::span<uint8_t>(), key), Error::kTooShort);
  EXPECT_EQ(verify(std::span<const uint8_t>(), key), Error::kTooShort);
}

TEST(Seal, EachSealDrawsAFreshNonce) {
  const SessionKey key = fresh_key();
  const Bytes a = sealed_packet(kSealedResponseSize, key);
  const Bytes b = sealed_packet(kSealedResponseSize, key);
  EXPECT_NE(Bytes(a.end() - kTrailerSize, a.end() - kTagSize),
            Bytes(b.end() - kTrailerSize, b.end() - kTagSize));
}

TEST(Seal, SessionKeysAreRandom) {
  EXPECT_NE(fresh_key().bytes, fresh_key().bytes);
  EXPECT_NE(fresh_key().bytes, SessionKey{}.bytes);
}

// --- Cookies --------------------------------------------------------------

TEST(Cookie, RoundTripGivesBackTheSessionKey) {
  CookieKeyRing ring = ring_with_id(7);
  const SessionKey key = fresh_key();
  Result<Cookie> c = ring.make_cookie(key, kNow + 60'000'000'000);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->key_id(), 7u);
  EXPECT_EQ(c->bytes.size(), 72u);
  Result<SessionKey> opened = ring.open_cookie(c->bytes, kNow);
  ASSERT_TRUE(opened.ok()) << to_string(opened.error());
  EXPECT_EQ(opened->bytes, key.bytes);
  // The key never appears in clear.
  EXPECT_EQ(std::search(c->bytes.begin(), c->bytes.end(), key.bytes.begin(), key.bytes.begin() + 8),
            c->bytes.end());
}

TEST(Cookie, TwoCookiesForOneKeyDiffer) {
  CookieKeyRing ring = ring_with_id(1);
  const SessionKey key = fresh_key();
  EXPECT_NE(ring.make_cookie(key, kNow)->bytes, ring.make_cookie(key, kNow)->bytes);
}

TEST(Cookie, EveryFlippedBitIsRejected) {
  CookieKeyRing ring = ring_with_id(0x10203040);
  const Cookie c = *ring.make_cookie(fresh_key(), kNow + 1'000'000'000);
  for (size_t i = 0; i < kCookieSize; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Cookie t = c;
      t.bytes[i] = static_cast<uint8_t>(t.bytes[i] ^ (1 << bit));
      const Error e = ring.open_cookie(t.bytes, kNow).error();
      // The key id names no key of the ring; any other byte breaks the tag.
      ASSERT_EQ(e, i < 4 ? Error::kCookieUnknownKey : Error::kCookieBadTag)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(Cookie, ATamperedKeyIdNamingThePreviousKeyIsABadTag) {
  CookieKeyRing ring = ring_with_id(4);
  ASSERT_EQ(ring.rotate(), Error::kOk);  // previous 4, current 5
  Cookie c = *ring.make_cookie(fresh_key(), kNow + 1'000'000'000);
  c.bytes[3] = 4;  // sealed under 5, relabelled 4: the AD and the key both differ
  EXPECT_EQ(ring.open_cookie(c.bytes, kNow).error(), Error::kCookieBadTag);
}

TEST(Cookie, AnotherRingCannotOpenIt) {
  CookieKeyRing ring = ring_with_id(9);
  const Cookie c = *ring.make_cookie(fresh_key(), kNow + 1'000'000'000);
  EXPECT_EQ(ring_with_id(100).open_cookie(c.bytes, kNow).error(), Error::kCookieUnknownKey);
  // Same id, different key (a restarted master that happened to draw the same id).
  EXPECT_EQ(ring_with_id(9).open_cookie(c.bytes, kNow).error(), Error::kCookieBadTag);
}

TEST(Cookie, ThePreviousKeyStillOpensAfterOneRotationNotTwo) {
  CookieKeyRing ring = ring_with_id(41);
  EXPECT_FALSE(ring.previous_id().has_value());
  const SessionKey key = fresh_key();
  const Cookie old = *ring.make_cookie(key, kNow + 1'000'000'000);

  ASSERT_EQ(ring.rotate(), Error::kOk);
  EXPECT_EQ(ring.current_id(), 42u);
  EXPECT_EQ(ring.previous_id(), 41u);
  Result<SessionKey> opened = ring.open_cookie(old.bytes, kNow);
  ASSERT_TRUE(opened.ok()) << to_string(opened.error());
  EXPECT_EQ(opened->bytes, key.bytes);
  const Cookie newer = *ring.make_cookie(key, kNow + 1'000'000'000);
  EXPECT_EQ(newer.key_id(), 42u);

  ASSERT_EQ(ring.rotate(), Error::kOk);
  EXPECT_EQ(ring.open_cookie(old.bytes, kNow).error(), Error::kCookieUnknownKey);
  EXPECT_TRUE(ring.open_cookie(newer.bytes, kNow).ok());
}

TEST(Cookie, KeyIdsWrapAroundAndKeepWorking) {
  CookieKeyRing ring = ring_with_id(0xFFFFFFFF);
  const Cookie c = *ring.make_cookie(fresh_key(), kNow + 1);
  ASSERT_EQ(ring.rotate(), Error::kOk);
  EXPECT_EQ(ring.current_id(), 0u);
  EXPECT_TRUE(ring.open_cookie(c.bytes, kNow).ok());
}

TEST(Cookie, ARandomFirstIdDiffersBetweenRings) {
  // Cookies of a previous run of the master: unknown key, not a forgery.
  // (Equal ids by chance: 1 in 2^32 per pair; three pairs never all collide.)
  Result<CookieKeyRing> a = CookieKeyRing::create(), b = CookieKeyRing::create(),
                        c = CookieKeyRing::create();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_FALSE(a->current_id() == b->current_id() && b->current_id() == c->current_id());
}

TEST(Cookie, ExpiresAtItsExpiry) {
  CookieKeyRing ring = ring_with_id(3);
  const int64_t expiry = kNow + 5'000'000'000;
  const Cookie c = *ring.make_cookie(fresh_key(), expiry);
  EXPECT_TRUE(ring.open_cookie(c.bytes, expiry - 1).ok());
  EXPECT_TRUE(ring.open_cookie(c.bytes, INT64_MIN).ok());
  EXPECT_EQ(ring.open_cookie(c.bytes, expiry).error(), Error::kCookieExpired);
  EXPECT_EQ(ring.open_cookie(c.bytes, INT64_MAX).error(), Error::kCookieExpired);
  // Negative expiries (a clock near its origin) are ordinary values.
  const Cookie neg = *ring.make_cookie(fresh_key(), -10);
  EXPECT_TRUE(ring.open_cookie(neg.bytes, -11).ok());
  EXPECT_EQ(ring.open_cookie(neg.bytes, -10).error(), Error::kCookieExpired);
}

TEST(Cookie, AnExpiryIsOnlyBelievedOnceTheTagVerifies) {
  CookieKeyRing ring = ring_with_id(3);
  Cookie c = *ring.make_cookie(fresh_key(), kNow - 1);  // already expired
  c.bytes[60] ^= 1;
  EXPECT_EQ(ring.open_cookie(c.bytes, kNow).error(), Error::kCookieBadTag);
}

TEST(Cookie, WrongSizesAreMalformed) {
  CookieKeyRing ring = ring_with_id(3);
  const Cookie c = *ring.make_cookie(fresh_key(), kNow + 1);
  Bytes b(c.bytes.begin(), c.bytes.end());
  for (size_t n = 0; n <= kCookieSize + 1; ++n) {
    if (n == kCookieSize) continue;
    Bytes t = b;
    t.resize(n, 0);
    EXPECT_EQ(ring.open_cookie(t, kNow).error(), Error::kCookieMalformed) << n;
  }
  EXPECT_EQ(ring.open_cookie(std::span<const uint8_t>(), kNow).error(), Error::kCookieMalformed);
}

TEST(Cookie, MovedRingsKeepTheirKeys) {
  CookieKeyRing ring = ring_with_id(12);
  const Cookie c = *ring.make_cookie(fresh_key(), kNow + 1);
  CookieKeyRing moved = std::move(ring);
  EXPECT_TRUE(moved.open_cookie(c.bytes, kNow).ok());
}

// --- Threads --------------------------------------------------------------

TEST(SealThreads, ConcurrentSealsVerifiesAndCookiesAgree) {
  // Each thread has its own cipher contexts; a shared, unrotated ring is
  // read-only. (Run under TSan to check the claim; here: no cross-talk.)
  CookieKeyRing ring = ring_with_id(5);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&ring, &failures] {
      const SessionKey key = fresh_key();
      for (int i = 0; i < 2000; ++i) {
        Bytes p(kSealedResponseSize, static_cast<uint8_t>(i));
        if (seal(p, key) != Error::kOk || verify(p, key) != Error::kOk) ++failures;
        Result<Cookie> c = ring.make_cookie(key, kNow + 1);
        Result<SessionKey> k = c.ok() ? ring.open_cookie(c->bytes, kNow) : Error::kCryptoFailure;
        if (!k.ok() || k->bytes != key.bytes) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace timesync::wire
