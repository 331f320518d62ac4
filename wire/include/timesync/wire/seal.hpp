// Authentication of the UDP exchange with AES-256-GCM (OpenSSL 3 EVP), as in
// NTS (RFC 8915) but keyed over the mutual-TLS gRPC channel
// (docs/udp-transport.md, "Authentication").
//
//   SessionKey     K, 32 random bytes drawn by the master per GetUdpSession.
//   Cookie         K and its expiry sealed under the master's cookie key, so
//                  the master keeps nothing per agent: key_id (4, BE) | nonce
//                  (12) | AES-256-GCM(K | expiry BE i64, AD = key_id) | tag
//                  (16) = 72 bytes.
//   CookieKeyRing  the master's current and previous cookie keys.
//   seal/verify    a packet's trailer: nonce (12) | tag (16), GCM with an
//                  empty plaintext over every byte before the nonce as AD.
//
// Units: expiry and now are ns of the master's CLOCK_MONOTONIC_RAW; a cookie
// is valid while now < expiry. Randomness: keys from RAND_priv_bytes, nonces
// and key ids from RAND_bytes (OpenSSL's DRBGs, seeded by the OS); a 96-bit
// random nonce per message keeps GCM safe far beyond any session's or key
// period's message count.
//
// Thread safety: free functions and const members are safe to call from any
// number of threads at once: each thread lazily creates its own two EVP
// cipher contexts on first use (freed at thread exit), the only allocation,
// OpenSSL's; after that the per-packet path allocates nothing. rotate() must
// not run concurrently with anything else on the same ring: the master
// rotates on the thread that serves, or guards the ring (e.g. a shared_mutex,
// rotate() exclusive). No function throws; OpenSSL failures are Errors.
//
// Cost (OpenSSL 3.0.19, this project's 2-core test machine, loaded; wire/
// bench/seal_cost.cc): verify ~0.6 us, open_cookie ~0.6-0.8 us, seal ~4 us, of
// which ~3 us is RAND_bytes for the nonce (OpenSSL 3.0's DRBG costs that per
// call at any size). Buffering nonces per thread would cut it to ~1 us but
// must then be made fork-safe by hand (a child reusing the parent's buffered
// nonces under the same key breaks GCM); not worth it at a few SoMs' rates.
//
// open_cookie() and verify() have no preconditions on their bytes: any span
// is valid input (fuzzing, issue 17).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "timesync/wire/error.hpp"
#include "timesync/wire/packet.hpp"

namespace timesync::wire {

// The session key. A plain value: copying copies the secret; whoever holds
// it decides how long it lives.
struct SessionKey {
  std::array<uint8_t, kSessionKeySize> bytes{};

  static Result<SessionKey> generate();  // kRandomFailure if the RNG fails
};

// An opaque cookie: the agent stores it and puts it in its sealed requests.
struct Cookie {
  std::array<uint8_t, kCookieSize> bytes{};

  uint32_t key_id() const;  // for logs: which cookie key sealed it
};

// The master's cookie keys: a current one (seals new cookies) and the one
// before it (still opens cookies made before the last rotation). Key ids
// increase by one per rotation (mod 2^32) from a random first id, so cookies
// from a previous run of the master show up as kCookieUnknownKey, not as
// forgeries. Keys are random, in memory only, wiped on destruction.
//
// A cookie made just before a rotation stays openable for one more rotation
// period: a cookie lifetime <= the rotation period never outlives its key.
class CookieKeyRing {
 public:
  static Result<CookieKeyRing> create();                   // random first id
  static Result<CookieKeyRing> create(uint32_t first_id);  // chosen first id (tests)

  CookieKeyRing(CookieKeyRing&&) noexcept = default;
  CookieKeyRing& operator=(CookieKeyRing&&) noexcept = default;
  CookieKeyRing(const CookieKeyRing&) = delete;
  CookieKeyRing& operator=(const CookieKeyRing&) = delete;
  ~CookieKeyRing();

  // previous := current; current := a new random key with id + 1. On
  // kRandomFailure the ring is unchanged.
  Error rotate();

  uint32_t current_id() const { return current_.id; }
  std::optional<uint32_t> previous_id() const;

  // Seals `key` with expiry_ns under the current key.
  Result<Cookie> make_cookie(const SessionKey& key, int64_t expiry_ns) const;

  // The session key inside `cookie`. Errors: kCookieMalformed (not 72 bytes),
  // kCookieUnknownKey, kCookieBadTag, kCookieExpired (now_ns >= expiry; only
  // checked once the tag verifies, so an expiry is never believed unsealed).
  Result<SessionKey> open_cookie(std::span<const uint8_t> cookie, int64_t now_ns) const;

 private:
  struct Slot {
    uint32_t id = 0;
    bool present = false;
    std::array<uint8_t, 32> key{};
  };
  CookieKeyRing() = default;
  const Slot* find(uint32_t id) const;

  Slot current_;
  Slot previous_;
};

// Seals `packet` in place: its last kTrailerSize bytes are overwritten with a
// fresh random nonce and the GCM tag over every byte before them. Errors:
// kTooShort (packet shorter than the trailer), kRandomFailure, kCryptoFailure.
Error seal(std::span<uint8_t> packet, const SessionKey& key);

// kOk when `packet`'s trailer is a valid tag under `key` over the bytes
// before it; kBadTag when not (OpenSSL compares the tag in constant time);
// kTooShort, kCryptoFailure.
Error verify(std::span<const uint8_t> packet, const SessionKey& key);

}  // namespace timesync::wire
