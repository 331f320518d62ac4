#include "timesync/wire/packet.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "../../tests/support/test_seed.hpp"

namespace timesync::wire {
namespace {

using Bytes = std::vector<uint8_t>;

const uint8_t kCookiePattern[kCookieSize] = {
    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE,
    0xCF, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD,
    0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC,
    0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB,
    0xFC, 0xFD, 0xFE, 0xFF, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

Response sample_response() {
  Response r;
  r.sequence = 0x0102030405060708;
  r.t1_ns = -2;
  r.epoch = 0x1112131415161718;
  r.instance = 0x2122232425262728;
  r.master_error_ns = 0x3132333435363738;
  r.timebase = Timebase::kRealtime;
  return r;
}

FollowUp sample_follow_up() {
  FollowUp f;
  f.sequence = 0x0102030405060708;
  f.t2_ns = INT64_MIN;
  f.epoch = 0x1112131415161718;
  f.master_error_ns = 0x4142434445464748;
  return f;
}

// The packet of (type, framing) with recognisable field values; sealed ones
// carry a zero trailer (this layer never fills it).
Bytes encoded(PacketType t, Framing f) {
  Bytes b(kMaxPacketSize);
  Result<size_t> n = Error::kInvalidArgument;
  switch (t) {
    case PacketType::kRequest:
      n = f == Framing::kPlain ? encode_request(Request{0x0102030405060708}, b)
                               : encode_sealed_request(Request{0x0102030405060708},
                                                       kCookiePattern, b);
      break;
    case PacketType::kResponse: n = encode_response(sample_response(), f, b); break;
    case PacketType::kFollowUp: n = encode_follow_up(sample_follow_up(), f, b); break;
  }
  EXPECT_TRUE(n.ok()) << to_string(n.error());
  b.resize(n.ok() ? *n : 0);
  return b;
}

struct Kind {
  PacketType type;
  Framing framing;
  size_t size;
};
const Kind kKinds[] = {
    {PacketType::kRequest, Framing::kPlain, 112},   {PacketType::kResponse, Framing::kPlain, 64},
    {PacketType::kFollowUp, Framing::kPlain, 48},   {PacketType::kRequest, Framing::kSealed, 168},
    {PacketType::kResponse, Framing::kSealed, 92},  {PacketType::kFollowUp, Framing::kSealed, 76},
};

std::string name(const Kind& k) {
  return std::string(k.framing == Framing::kSealed ? "sealed " : "") + to_string(k.type);
}

Error decode_error(const Bytes& b) {
  // A heap buffer of exactly b.size(): ASan sees any read past the span.
  auto exact = std::make_unique<uint8_t[]>(b.size() + 1);
  std::copy(b.begin(), b.end(), exact.get());
  return decode(std::span<const uint8_t>(exact.get(), b.size())).error();
}

Bytes header(uint8_t type, uint8_t flags, uint16_t length) {
  return {0x54, 0x53, 0x55, 0x44, 1, type, flags, 0, static_cast<uint8_t>(length >> 8),
          static_cast<uint8_t>(length), 0, 0, 0, 0, 0, 0,
          1, 2, 3, 4, 5, 6, 7, 8};
}

void append(Bytes& b, std::initializer_list<uint8_t> more) { b.insert(b.end(), more); }
void append_zeros(Bytes& b, size_t n) { b.insert(b.end(), n, 0); }

// --- The bytes, written out by hand from docs/udp-transport.md ------------

TEST(PacketLayout, RequestBytesAreTheDocumentedOnes) {
  Bytes want = header(1, 0, 112);
  append_zeros(want, 88);
  EXPECT_EQ(encoded(PacketType::kRequest, Framing::kPlain), want);
}

TEST(PacketLayout, ResponseBytesAreTheDocumentedOnes) {
  Bytes want = header(2, 0, 64);
  append(want, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE});  // t1 = -2
  append(want, {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18});  // epoch
  append(want, {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28});  // instance
  append(want, {0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38});  // master error
  append(want, {2});                                              // realtime
  append_zeros(want, 7);
  EXPECT_EQ(encoded(PacketType::kResponse, Framing::kPlain), want);
}

TEST(PacketLayout, FollowUpBytesAreTheDocumentedOnes) {
  Bytes want = header(3, 0, 48);
  append(want, {0x80, 0, 0, 0, 0, 0, 0, 0});                       // t2 = INT64_MIN
  append(want, {0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18});  // epoch
  append(want, {0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48});  // master error
  EXPECT_EQ(encoded(PacketType::kFollowUp, Framing::kPlain), want);
}

TEST(PacketLayout, SealedRequestBytesAreTheDocumentedOnes) {
  Bytes want = header(1, 1, 168);
  append(want, {0, 72});  // cookie length
  append_zeros(want, 6);
  want.insert(want.end(), std::begin(kCookiePattern), std::end(kCookiePattern));
  append_zeros(want, 36 + 12 + 16);  // padding, nonce and tag (seal() fills the last two)
  EXPECT_EQ(encoded(PacketType::kRequest, Framing::kSealed), want);
}

TEST(PacketLayout, SealedAnswersAreThePlainOnesWithAuthAndATrailer) {
  for (PacketType t : {PacketType::kResponse, PacketType::kFollowUp}) {
    Bytes plain = encoded(t, Framing::kPlain);
    Bytes sealed = encoded(t, Framing::kSealed);
    ASSERT_EQ(sealed.size(), plain.size() + 28) << to_string(t);
    Bytes want = plain;
    want[6] = 1;
    want[9] = static_cast<uint8_t>(sealed.size());
    append_zeros(want, 28);
    EXPECT_EQ(sealed, want) << to_string(t);
  }
}

// --- Round trips ----------------------------------------------------------

TEST(PacketRoundTrip, EveryTypeAndFramingDecodesToWhatWasEncoded) {
  for (const Kind& k : kKinds) {
    const Bytes b = encoded(k.type, k.framing);
    ASSERT_EQ(b.size(), k.size) << name(k);
    EXPECT_EQ(packet_size(k.type, k.framing), k.size) << name(k);
    Result<Decoded> d = decode(b);
    ASSERT_TRUE(d.ok()) << name(k) << ": " << to_string(d.error());
    EXPECT_EQ(d->type(), k.type) << name(k);
    EXPECT_EQ(d->framing, k.framing) << name(k);
    const bool has_cookie = k.type == PacketType::kRequest && k.framing == Framing::kSealed;
    EXPECT_EQ(d->cookie.size(), has_cookie ? kCookieSize : 0u) << name(k);
    if (has_cookie) {
      EXPECT_EQ(0, std::memcmp(d->cookie.data(), kCookiePattern, kCookieSize));
      EXPECT_EQ(d->cookie.data(), b.data() + 32);  // a view into the input
    }
    if (const auto* rq = std::get_if<Request>(&d->packet)) {
      EXPECT_EQ(rq->sequence, 0x0102030405060708u);
    } else if (const auto* r = std::get_if<Response>(&d->packet)) {
      const Response w = sample_response();
      EXPECT_EQ(r->sequence, w.sequence);
      EXPECT_EQ(r->t1_ns, w.t1_ns);
      EXPECT_EQ(r->epoch, w.epoch);
      EXPECT_EQ(r->instance, w.instance);
      EXPECT_EQ(r->master_error_ns, w.master_error_ns);
      EXPECT_EQ(r->timebase, w.timebase);
    } else if (const auto* f = std::get_if<FollowUp>(&d->packet)) {
      EXPECT_EQ(f->sequence, sample_follow_up().sequence);
      EXPECT_EQ(f->t2_ns, INT64_MIN);
      EXPECT_EQ(f->epoch, sample_follow_up().epoch);
      EXPECT_EQ(f->master_error_ns, sample_follow_up().master_error_ns);
    }
  }
}

TEST(PacketRoundTrip, ExtremeValuesSurvive) {
  for (Framing fr : {Framing::kPlain, Framing::kSealed}) {
    for (int64_t t : {INT64_MIN, int64_t{-1}, int64_t{0}, int64_t{1}, INT64_MAX}) {
      for (uint64_t u : {uint64_t{0}, uint64_t{1}, UINT64_MAX}) {
        uint8_t buf[kMaxPacketSize];
        Response r{u, t, u, ~u, u, Timebase::kMonotonic};
        Result<size_t> n = encode_response(r, fr, buf);
        ASSERT_TRUE(n.ok());
        Result<Decoded> d = decode(std::span<const uint8_t>(buf, *n));
        ASSERT_TRUE(d.ok());
        const Response& got = std::get<Response>(d->packet);
        EXPECT_EQ(got.sequence, u);
        EXPECT_EQ(got.t1_ns, t);
        EXPECT_EQ(got.instance, ~u);
        FollowUp f{u, t, ~u, u};
        n = encode_follow_up(f, fr, buf);
        ASSERT_TRUE(n.ok());
        d = decode(std::span<const uint8_t>(buf, *n));
        ASSERT_TRUE(d.ok());
        EXPECT_EQ(std::get<FollowUp>(d->packet).t2_ns, t);
        EXPECT_EQ(std::get<FollowUp>(d->packet).epoch, ~u);
      }
    }
  }
}

TEST(PacketRoundTrip, DecodeReadsOnlyItsSpan) {
  // Bytes after the span (here garbage) never change the answer.
  Bytes b = encoded(PacketType::kFollowUp, Framing::kPlain);
  Bytes longer = b;
  longer.resize(200, 0xAB);
  Result<Decoded> d = decode(std::span<const uint8_t>(longer.data(), b.size()));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(std::get<FollowUp>(d->packet).epoch, sample_follow_up().epoch);
}

// --- Lengths --------------------------------------------------------------

TEST(PacketLength, EveryLengthFromZeroToMaxPlusOneIsRefusedButTheExactOne) {
  for (const Kind& k : kKinds) {
    const Bytes full = encoded(k.type, k.framing);
    for (bool patch_length_field : {false, true}) {
      for (size_t len = 0; len <= kMaxPacketSize + 1; ++len) {
        Bytes b = full;
        b.resize(len, 0);  // truncated, or padded with zeros
        // Patched: the length field agrees with the datagram, as a sender
        // that miscounted would write it; the exact length rule still holds.
        if (patch_length_field && len >= kHeaderSize) {
          b[8] = static_cast<uint8_t>(len >> 8);
          b[9] = static_cast<uint8_t>(len);
        }
        const Error want = len == k.size      ? Error::kOk
                           : len < kHeaderSize ? Error::kTooShort
                                               : Error::kWrongLength;
        EXPECT_EQ(decode_error(b), want) << name(k) << " of " << len << " bytes";
      }
    }
  }
}

TEST(PacketLength, EmptyAndNullSpansAreTooShort) {
  EXPECT_EQ(decode(std::span<const uint8_t>()).error(), Error::kTooShort);
  EXPECT_EQ(decode(std::span<const uint8_t>(static_cast<const uint8_t*>(nullptr), 0)).error(),
            Error::kTooShort);
}

TEST(PacketLength, TheLengthFieldMustMatchTheDatagram) {
  for (const Kind& k : kKinds) {
    for (unsigned field : {0u, 1u, 24u, static_cast<unsigned>(k.size - 1),
                           static_cast<unsigned>(k.size + 1), 0x100u + static_cast<unsigned>(k.size),
                           0xFFFFu}) {
      Bytes b = encoded(k.type, k.framing);
      b[8] = static_cast<uint8_t>(field >> 8);
      b[9] = static_cast<uint8_t>(field);
      EXPECT_EQ(decode_error(b), Error::kLengthFieldMismatch) << name(k) << " field " << field;
    }
  }
}

TEST(PacketLength, TogglingAuthChangesTheRequiredLength) {
  for (const Kind& k : kKinds) {
    Bytes b = encoded(k.type, k.framing);
    b[6] ^= kFlagAuth;
    EXPECT_EQ(decode_error(b), Error::kWrongLength) << name(k);
  }
}

// --- Identity and reserved fields -----------------------------------------

TEST(PacketHeader, EveryMagicByteMatters) {
  for (const Kind& k : kKinds) {
    for (size_t i = 0; i < 4; ++i) {
      for (uint8_t bit = 1; bit != 0; bit = static_cast<uint8_t>(bit << 1)) {
        Bytes b = encoded(k.type, k.framing);
        b[i] ^= bit;
        EXPECT_EQ(decode_error(b), Error::kBadMagic) << name(k) << " byte " << i;
      }
    }
  }
  // Foreign traffic of header size or more: an NTP packet, all zeros.
  EXPECT_EQ(decode_error(Bytes(48, 0)), Error::kBadMagic);
  Bytes ntp(48, 0);
  ntp[0] = 0x23;
  EXPECT_EQ(decode_error(ntp), Error::kBadMagic);
}

TEST(PacketHeader, OnlyVersionOneIsKnown) {
  for (const Kind& k : kKinds) {
    for (uint8_t v : std::initializer_list<uint8_t>{0, 2, 3, 0x81, 0xFF}) {
      Bytes b = encoded(k.type, k.framing);
      b[4] = v;
      EXPECT_EQ(decode_error(b), Error::kUnknownVersion) << name(k) << " version " << int{v};
    }
  }
}

TEST(PacketHeader, UnknownTypesAreRefused) {
  for (const Kind& k : kKinds) {
    for (uint8_t t : std::initializer_list<uint8_t>{0, 4, 5, 0x81, 0xFF}) {
      Bytes b = encoded(k.type, k.framing);
      b[5] = t;
      EXPECT_EQ(decode_error(b), Error::kUnknownType) << name(k) << " type " << int{t};
    }
  }
}

TEST(PacketHeader, FlagBitsOtherThanAuthAreRefused) {
  for (const Kind& k : kKinds) {
    for (int bit = 1; bit < 8; ++bit) {
      Bytes b = encoded(k.type, k.framing);
      b[6] = static_cast<uint8_t>(b[6] | 1 << bit);
      EXPECT_EQ(decode_error(b), Error::kUnknownFlags) << name(k) << " bit " << bit;
    }
  }
}

TEST(PacketHeader, EveryReservedHeaderByteMustBeZero) {
  for (const Kind& k : kKinds) {
    for (size_t i : {7, 10, 11, 12, 13, 14, 15}) {
      for (uint8_t v : std::initializer_list<uint8_t>{0x01, 0x80, 0xFF}) {
        Bytes b = encoded(k.type, k.framing);
        b[i] = v;
        EXPECT_EQ(decode_error(b), Error::kReservedNotZero) << name(k) << " byte " << i;
      }
    }
  }
}

// Every byte in [from, to) of (type, framing) set non-zero gives `want`.
void expect_each_byte_refused(PacketType t, Framing f, size_t from, size_t to, Error want) {
  for (size_t i = from; i < to; ++i) {
    for (uint8_t v : std::initializer_list<uint8_t>{0x01, 0x80, 0xFF}) {
      Bytes b = encoded(t, f);
      ASSERT_EQ(b[i], 0) << "test set-up: byte " << i;
      b[i] = v;
      EXPECT_EQ(decode_error(b), want) << to_string(t) << " byte " << i << " = " << int{v};
    }
  }
}

TEST(PacketBody, RequestPaddingMustBeZero) {
  expect_each_byte_refused(PacketType::kRequest, Framing::kPlain, 24, 112, Error::kReservedNotZero);
}

TEST(PacketBody, SealedRequestReservedAndPaddingMustBeZero) {
  expect_each_byte_refused(PacketType::kRequest, Framing::kSealed, 26, 32, Error::kReservedNotZero);
  expect_each_byte_refused(PacketType::kRequest, Framing::kSealed, 104, 132,
                           Error::kReservedNotZero);
}

TEST(PacketBody, ResponseReservedBytesMustBeZero) {
  expect_each_byte_refused(PacketType::kResponse, Framing::kPlain, 57, 64, Error::kReservedNotZero);
  expect_each_byte_refused(PacketType::kResponse, Framing::kSealed, 57, 64,
                           Error::kReservedNotZero);
}

TEST(PacketBody, SealedRequestCookieLengthMustBe72) {
  for (unsigned len : {0u, 1u, 71u, 73u, 0x4800u, 0x0148u, 0xFFFFu}) {
    Bytes b = encoded(PacketType::kRequest, Framing::kSealed);
    b[24] = static_cast<uint8_t>(len >> 8);
    b[25] = static_cast<uint8_t>(len);
    EXPECT_EQ(decode_error(b), Error::kBadCookieLength) << len;
  }
}

TEST(PacketBody, ResponseTimebaseMustBeMonotonicOrRealtime) {
  for (Framing f : {Framing::kPlain, Framing::kSealed}) {
    for (uint8_t tb : std::initializer_list<uint8_t>{0, 3, 4, 0x81, 0xFF}) {
      Bytes b = encoded(PacketType::kResponse, f);
      b[56] = tb;
      EXPECT_EQ(decode_error(b), Error::kUnknownTimebase) << int{tb};
    }
    Bytes b = encoded(PacketType::kResponse, f);
    b[56] = 1;
    Result<Decoded> d = decode(b);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::get<Response>(d->packet).timebase, Timebase::kMonotonic);
  }
}

TEST(PacketBody, SealTrailerAndFieldsAreNotJudgedHere) {
  // Any nonce and tag decode: checking them is verify()'s job. Any value in a
  // field decodes to that value.
  for (const Kind& k : kKinds) {
    if (k.framing != Framing::kSealed) continue;
    Bytes b = encoded(k.type, k.framing);
    for (size_t i = b.size() - kTrailerSize; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
    EXPECT_TRUE(decode(b).ok()) << name(k);
  }
}

// --- Encoding -------------------------------------------------------------

TEST(PacketEncode, ShortBuffersAreRefusedAndLeftUntouched) {
  for (const Kind& k : kKinds) {
    Bytes b(k.size - 1, 0x5A);
    Result<size_t> n = Error::kInvalidArgument;
    switch (k.type) {
      case PacketType::kRequest:
        n = k.framing == Framing::kPlain ? encode_request(Request{1}, b)
                                         : encode_sealed_request(Request{1}, kCookiePattern, b);
        break;
      case PacketType::kResponse: n = encode_response(sample_response(), k.framing, b); break;
      case PacketType::kFollowUp: n = encode_follow_up(sample_follow_up(), k.framing, b); break;
    }
    EXPECT_EQ(n.error(), Error::kBufferTooSmall) << name(k);
    EXPECT_EQ(b, Bytes(k.size - 1, 0x5A)) << name(k);
  }
}

TEST(PacketEncode, FieldsTheFormatCannotCarryAreRefused) {
  uint8_t buf[kMaxPacketSize];
  Response r = sample_response();
  for (uint8_t tb : std::initializer_list<uint8_t>{0, 3, 0xFF}) {
    r.timebase = static_cast<Timebase>(tb);
    EXPECT_EQ(encode_response(r, Framing::kPlain, buf).error(), Error::kInvalidArgument);
  }
  for (size_t len : {0, 71, 73}) {
    Bytes cookie(len, 1);
    EXPECT_EQ(encode_sealed_request(Request{1}, cookie, buf).error(), Error::kInvalidArgument);
  }
}

TEST(PacketEncode, EncodingOverwritesAStaleBuffer) {
  // A reused send buffer full of an older, longer packet leaves no trace.
  for (const Kind& k : kKinds) {
    Bytes dirty(kMaxPacketSize, 0xEE);
    Result<size_t> n = k.type == PacketType::kFollowUp
                           ? encode_follow_up(sample_follow_up(), k.framing, dirty)
                       : k.type == PacketType::kResponse
                           ? encode_response(sample_response(), k.framing, dirty)
                       : k.framing == Framing::kPlain
                           ? encode_request(Request{0x0102030405060708}, dirty)
                           : encode_sealed_request(Request{0x0102030405060708}, kCookiePattern,
                                                   dirty);
    ASSERT_TRUE(n.ok());
    dirty.resize(*n);
    EXPECT_EQ(dirty, encoded(k.type, k.framing)) << name(k);
  }
}

// --- Arbitrary bytes ------------------------------------------------------

// What decode accepted, encoded again: the format has one encoding per packet.
Bytes reencode(const Decoded& d, std::span<const uint8_t> trailer) {
  Bytes b(kMaxPacketSize);
  Result<size_t> n = Error::kInvalidArgument;
  if (const auto* rq = std::get_if<Request>(&d.packet)) {
    n = d.framing == Framing::kPlain ? encode_request(*rq, b)
                                     : encode_sealed_request(*rq, d.cookie, b);
  } else if (const auto* r = std::get_if<Response>(&d.packet)) {
    n = encode_response(*r, d.framing, b);
  } else if (const auto* f = std::get_if<FollowUp>(&d.packet)) {
    n = encode_follow_up(*f, d.framing, b);
  }
  EXPECT_TRUE(n.ok());
  b.resize(n.ok() ? *n : 0);
  if (d.framing == Framing::kSealed && b.size() >= kTrailerSize) {
    std::copy(trailer.begin(), trailer.end(), b.end() - kTrailerSize);
  }
  return b;
}

TEST(PacketFuzz, RandomAndMutatedBytesDecodeCanonicallyOrNotAtAll) {
  auto rng = testing::seeded_rng("PacketFuzz.RandomAndMutatedBytesDecodeCanonicallyOrNotAtAll");
  int accepted = 0;
  for (int i = 0; i < 200'000; ++i) {
    Bytes b;
    if (i % 4 == 0) {  // pure noise
      b.resize(rng() % (kMaxPacketSize + 8));
      for (auto& x : b) x = static_cast<uint8_t>(rng());
    } else {  // a valid packet with a few bytes changed, maybe cut or extended
      const Kind& k = kKinds[rng() % std::size(kKinds)];
      b = encoded(k.type, k.framing);
      for (int m = static_cast<int>(rng() % 3); m >= 0; --m) {
        b[rng() % b.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 8 == 0) b.resize(rng() % (kMaxPacketSize + 8), static_cast<uint8_t>(rng()));
    }
    auto exact = std::make_unique<uint8_t[]>(b.size() + 1);
    std::copy(b.begin(), b.end(), exact.get());
    const std::span<const uint8_t> in(exact.get(), b.size());
    Result<Decoded> d = decode(in);
    if (!d.ok()) {
      EXPECT_TRUE(is_malformed(d.error())) << to_string(d.error());
      continue;
    }
    ++accepted;
    const std::span<const uint8_t> trailer =
        d->framing == Framing::kSealed ? in.last(kTrailerSize) : std::span<const uint8_t>();
    ASSERT_EQ(reencode(*d, trailer), b) << "iteration " << i;
  }
  EXPECT_GT(accepted, 1000);  // the mutations hit fields too, not only checks
}

TEST(PacketErrors, NamesAreDistinctSnakeCaseLabels) {
  std::set<std::string> seen;
  for (int e = 0; e <= static_cast<int>(Error::kCryptoFailure); ++e) {
    const std::string s = to_string(static_cast<Error>(e));
    EXPECT_TRUE(seen.insert(s).second) << s;
    EXPECT_NE(s, "unknown_error");
    for (char c : s) EXPECT_TRUE((c >= 'a' && c <= 'z') || c == '_') << s;
  }
  EXPECT_STREQ(to_string(Error::kBadTag), "bad_tag");
  EXPECT_STREQ(to_string(Error::kWrongSequence), "wrong_sequence");
}

TEST(PacketErrors, DecodeErrorsAreExactlyTheMalformedOnes) {
  int malformed = 0;
  for (int e = 0; e <= static_cast<int>(Error::kCryptoFailure); ++e) {
    malformed += is_malformed(static_cast<Error>(e));
  }
  EXPECT_EQ(malformed, 10);
  EXPECT_FALSE(is_malformed(Error::kOk));
  EXPECT_TRUE(is_malformed(Error::kUnknownTimebase));
  EXPECT_FALSE(is_malformed(Error::kBadTag));
}

}  // namespace
}  // namespace timesync::wire
