// The UDP exchange's parser and every open_* function on arbitrary bytes, as a
// datagram from anyone on the network reaches the master (open_request, with
// and without a key ring) or the agent (open_answer, open_response,
// open_follow_up, with and without a session key). Mode 1 builds a valid
// packet first (so sealed packets with a real cookie and tag are reached) and
// XORs the rest of the input into it; an unchanged packet must open and give
// back its fields.
//
// Input: [mode 1][value 8][bytes...]; value is now_ns (master) and the
// expected sequence (agent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "timesync/wire/exchange.hpp"

namespace {

using namespace timesync::wire;

struct Keys {
  SessionKey key;
  CookieKeyRing ring;
  Cookie cookie;
};

constexpr int64_t kExpiryNs = int64_t{1} << 62;

const Keys& keys() {
  static const Keys* k = [] {
    Result<CookieKeyRing> ring = CookieKeyRing::create(7);
    if (!ring.ok()) std::abort();
    SessionKey key;
    key.bytes.fill(0x42);
    Result<Cookie> cookie = ring->make_cookie(key, kExpiryNs);
    if (!cookie.ok()) std::abort();
    return new Keys{key, std::move(ring).value(), *cookie};
  }();
  return *k;
}

void must(bool ok) {
  if (!ok) std::abort();
}

void open_everything(std::span<const uint8_t> b, uint64_t value) {
  const Keys& k = keys();
  const auto now = static_cast<int64_t>(value);
  if (Result<Decoded> d = decode(b); d.ok()) {
    // A decoded packet has the exact length of its type and framing.
    must(b.size() == packet_size(d->type(), d->framing));
  }
  (void)open_request(b, nullptr, now);
  (void)open_request(b, &k.ring, now);
  for (const SessionKey* key : {static_cast<const SessionKey*>(nullptr), &k.key}) {
    (void)open_response(b, key, value);
    (void)open_follow_up(b, key, value);
    (void)open_answer(b, key, value);
  }
  (void)verify(b, k.key);
  (void)k.ring.open_cookie(b, now);
}

// A valid packet of the kind `mode` names, mutated by `x`.
void mutated(uint8_t mode, uint64_t value, std::span<const uint8_t> x) {
  const Keys& k = keys();
  const bool sealed = (mode & 2) != 0;
  const SessionKey* key = sealed ? &k.key : nullptr;
  const Session session{k.key, k.cookie};
  const auto t = static_cast<int64_t>(value ^ 0x5555);
  Result<Datagram> d = Error::kInvalidArgument;
  const int kind = (mode >> 2) % 3;
  Response r{value, t, value + 1, value + 2, value >> 1,
             (mode & 0x20) ? Timebase::kRealtime : Timebase::kMonotonic};
  FollowUp f{value, t, value + 3, value >> 2};
  if (kind == 0) d = make_request(value, sealed ? &session : nullptr);
  if (kind == 1) d = make_response(r, key);
  if (kind == 2) d = make_follow_up(f, key);
  must(d.ok());
  bool changed = false;
  for (size_t i = 0; i < x.size() && i < d->size; ++i) {
    d->bytes[i] ^= x[i];
    changed |= x[i] != 0;
  }
  const std::span<const uint8_t> b = d->view();
  open_everything(b, value);
  if (changed) return;
  // Unchanged: it opens, and says what was put in.
  if (kind == 0) {
    Result<OpenedRequest> o = open_request(b, sealed ? &k.ring : nullptr, 0);
    must(o.ok() && o->sequence == value && o->key.has_value() == sealed);
  } else if (kind == 1) {
    Result<Response> o = open_response(b, key, value);
    must(o.ok() && o->t1_ns == t && o->epoch == r.epoch && o->instance == r.instance &&
         o->master_error_ns == r.master_error_ns && o->timebase == r.timebase);
  } else {
    Result<FollowUp> o = open_follow_up(b, key, value);
    must(o.ok() && o->t2_ns == t && o->epoch == f.epoch &&
         o->master_error_ns == f.master_error_ns);
  }
  Result<Answer> a = open_answer(b, key, value);
  must(kind == 0 ? a.error() == Error::kWrongType : a.ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + 8) {
    // Short inputs still go to the parser as they are (empty, 1..8 bytes).
    open_everything({data, size}, 0);
    return 0;
  }
  const uint8_t mode = data[0];
  uint64_t value = 0;
  std::memcpy(&value, data + 1, 8);
  const std::span<const uint8_t> rest(data + 9, size - 9);
  if ((mode & 1) == 0) {
    open_everything(rest, value);
  } else {
    mutated(mode, value, rest);
  }
  return 0;
}
