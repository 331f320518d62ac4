// The UDP exchange as its two ends see it: build a datagram, open a received
// one. The master's UDP service and the agent's UdpLink call these and never
// touch the layout or the cipher themselves (docs/udp-transport.md).
//
//   agent:  make_request  -> master: open_request  -> make_response, make_follow_up
//   agent:  open_answer (or open_response / open_follow_up) on what comes back
//
// Authentication is by presence: a Session (agent) or a CookieKeyRing
// (master) means sealed packets are required and produced; nullptr means
// unauthenticated ones (gRPC channel without TLS). A receiver never falls
// back: an unsealed packet where a seal is required is kUnauthenticated, a
// sealed one where none is expected kUnexpectedAuth.
//
// The checks run cheapest and most basic first, so each drop is counted by
// its first cause: malformed (decode, is_malformed()), wrong type, framing,
// cookie (master), tag, then the sequence. The sequence is judged only on an
// authentic packet, so a forgery counts as kBadTag, never as a late packet.
//
// The open_* functions have no preconditions on their bytes: any span is
// valid input and yields a value or an Error (fuzzing, issue 17). Nothing
// here allocates: datagrams are fixed-size values.
//
// Units as in packet.hpp; now_ns is the master's CLOCK_MONOTONIC_RAW.
// Thread safety: as seal.hpp: any number of threads, with a CookieKeyRing
// not rotated concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>

#include "timesync/wire/error.hpp"
#include "timesync/wire/packet.hpp"
#include "timesync/wire/seal.hpp"

namespace timesync::wire {

// What GetUdpSession gives the agent: the key and one of the cookies.
struct Session {
  SessionKey key;
  Cookie cookie;
};

// One encoded packet, ready for sendto().
struct Datagram {
  std::array<uint8_t, kMaxPacketSize> bytes{};
  size_t size = 0;

  std::span<const uint8_t> view() const { return {bytes.data(), size}; }
};

// Agent: a REQUEST for `sequence`; sealed with auth->key and carrying
// auth->cookie when auth is given.
Result<Datagram> make_request(uint64_t sequence, const Session* auth);

struct OpenedRequest {
  uint64_t sequence = 0;
  std::optional<SessionKey> key;  // from the cookie: seal the answers with it
};

// Master: checks a REQUEST. With `ring`, it must be sealed: the cookie is
// opened (kCookie*), then the tag verified under the key inside (kBadTag).
Result<OpenedRequest> open_request(std::span<const uint8_t> bytes, const CookieKeyRing* ring,
                                   int64_t now_ns);

// Master: the answers, sealed under `key` when given (the OpenedRequest's).
Result<Datagram> make_response(const Response& r, const SessionKey* key);
Result<Datagram> make_follow_up(const FollowUp& f, const SessionKey* key);

// Agent: checks an answer to the outstanding request `expected_sequence`,
// sealed under `key` when given. kWrongType if it is not the type asked for.
Result<Response> open_response(std::span<const uint8_t> bytes, const SessionKey* key,
                               uint64_t expected_sequence);
Result<FollowUp> open_follow_up(std::span<const uint8_t> bytes, const SessionKey* key,
                                uint64_t expected_sequence);

// Agent: either answer, for a socket that receives both (in either order:
// UDP may reorder them). kWrongType only for a REQUEST.
using Answer = std::variant<Response, FollowUp>;
Result<Answer> open_answer(std::span<const uint8_t> bytes, const SessionKey* key,
                           uint64_t expected_sequence);

}  // namespace timesync::wire
