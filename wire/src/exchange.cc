#include "timesync/wire/exchange.hpp"

#include <optional>

namespace timesync::wire {

namespace {

// Records the encoded size of `d` and seals it when a key is given. The
// encoder has already written into d (a separate statement: as an argument
// beside d, the order of evaluation would be unspecified).
Result<Datagram> finish(Datagram& d, Result<size_t> encoded, const SessionKey* key) {
  if (!encoded.ok()) return encoded.error();
  d.size = *encoded;
  if (key != nullptr) {
    if (const Error e = seal(std::span<uint8_t>(d.bytes.data(), d.size), *key); e != Error::kOk) {
      return e;
    }
  }
  return d;
}

Framing framing_for(const void* auth) { return auth != nullptr ? Framing::kSealed : Framing::kPlain; }

// The framing a receiver holding (or not) a key accepts.
Error check_framing(const Decoded& d, bool auth_expected) {
  if (auth_expected && d.framing == Framing::kPlain) return Error::kUnauthenticated;
  if (!auth_expected && d.framing == Framing::kSealed) return Error::kUnexpectedAuth;
  return Error::kOk;
}

uint64_t sequence_of(const Answer& a) {
  return std::visit([](const auto& p) { return p.sequence; }, a);
}

}  // namespace

Result<Datagram> make_request(uint64_t sequence, const Session* auth) {
  Datagram d;
  const Request r{sequence};
  if (auth == nullptr) {
    const Result<size_t> n = encode_request(r, d.bytes);
    return finish(d, n, nullptr);
  }
  const Result<size_t> n = encode_sealed_request(r, auth->cookie.bytes, d.bytes);
  return finish(d, n, &auth->key);
}

Result<Datagram> make_response(const Response& r, const SessionKey* key) {
  Datagram d;
  const Result<size_t> n = encode_response(r, framing_for(key), d.bytes);
  return finish(d, n, key);
}

Result<Datagram> make_follow_up(const FollowUp& f, const SessionKey* key) {
  Datagram d;
  const Result<size_t> n = encode_follow_up(f, framing_for(key), d.bytes);
  return finish(d, n, key);
}

Result<OpenedRequest> open_request(std::span<const uint8_t> bytes, const CookieKeyRing* ring,
                                   int64_t now_ns) {
  const Result<Decoded> d = decode(bytes);
  if (!d.ok()) return d.error();
  const Request* req = std::get_if<Request>(&d->packet);
  if (req == nullptr) return Error::kWrongType;
  if (const Error e = check_framing(*d, ring != nullptr); e != Error::kOk) return e;
  OpenedRequest out;
  out.sequence = req->sequence;
  if (ring != nullptr) {
    Result<SessionKey> key = ring->open_cookie(d->cookie, now_ns);
    if (!key.ok()) return key.error();
    if (const Error e = verify(bytes, *key); e != Error::kOk) return e;
    out.key = *key;
  }
  return out;
}

namespace {

// Both answers' checks; `want` narrows the type (kWrongType before anything
// else is judged, as for a REQUEST).
Result<Answer> open_answer_of(std::span<const uint8_t> bytes, const SessionKey* key,
                              uint64_t expected_sequence, std::optional<PacketType> want) {
  const Result<Decoded> d = decode(bytes);
  if (!d.ok()) return d.error();
  Answer answer;
  if (const auto* r = std::get_if<Response>(&d->packet)) {
    answer = *r;
  } else if (const auto* f = std::get_if<FollowUp>(&d->packet)) {
    answer = *f;
  } else {
    return Error::kWrongType;
  }
  if (want.has_value() && d->type() != *want) return Error::kWrongType;
  if (const Error e = check_framing(*d, key != nullptr); e != Error::kOk) return e;
  if (key != nullptr) {
    if (const Error e = verify(bytes, *key); e != Error::kOk) return e;
  }
  if (sequence_of(answer) != expected_sequence) return Error::kWrongSequence;
  return answer;
}

}  // namespace

Result<Answer> open_answer(std::span<const uint8_t> bytes, const SessionKey* key,
                           uint64_t expected_sequence) {
  return open_answer_of(bytes, key, expected_sequence, std::nullopt);
}

Result<Response> open_response(std::span<const uint8_t> bytes, const SessionKey* key,
                               uint64_t expected_sequence) {
  Result<Answer> a = open_answer_of(bytes, key, expected_sequence, PacketType::kResponse);
  if (!a.ok()) return a.error();
  return *std::get_if<Response>(&*a);  // the type was checked
}

Result<FollowUp> open_follow_up(std::span<const uint8_t> bytes, const SessionKey* key,
                                uint64_t expected_sequence) {
  Result<Answer> a = open_answer_of(bytes, key, expected_sequence, PacketType::kFollowUp);
  if (!a.ok()) return a.error();
  return *std::get_if<FollowUp>(&*a);
}

}  // namespace timesync::wire
