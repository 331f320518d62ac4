#include "timesync/wire/seal.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>

#include "bytes.hpp"

namespace timesync::wire {

using namespace detail;

namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// A context per thread and direction, bound to AES-256-GCM once (the
// provider fetch and the context allocation happen here, not per packet);
// each use only sets key and nonce. nullptr if OpenSSL cannot provide it.
EVP_CIPHER_CTX* thread_ctx(bool encrypt) {
  thread_local CtxPtr enc, dec;
  CtxPtr& c = encrypt ? enc : dec;
  if (!c) {
    CtxPtr fresh(EVP_CIPHER_CTX_new());
    if (!fresh || EVP_CipherInit_ex2(fresh.get(), EVP_aes_256_gcm(), nullptr, nullptr,
                                     encrypt ? 1 : 0, nullptr) != 1) {
      return nullptr;
    }
    c = std::move(fresh);
  }
  return c.get();
}

int len(size_t n) { return static_cast<int>(n); }  // every size here is < 200

// GCM encryption of `plain` into `cipher_out` (same size) with `ad`; writes
// the tag. False if OpenSSL fails.
bool gcm_seal(std::span<const uint8_t, 32> key, std::span<const uint8_t, kNonceSize> nonce,
              std::span<const uint8_t> ad, std::span<const uint8_t> plain,
              std::span<uint8_t> cipher_out, std::span<uint8_t, kTagSize> tag) {
  EVP_CIPHER_CTX* ctx = thread_ctx(true);
  if (ctx == nullptr) return false;
  int outl = 0;
  if (EVP_EncryptInit_ex2(ctx, nullptr, key.data(), nonce.data(), nullptr) != 1) return false;
  if (!ad.empty() && EVP_EncryptUpdate(ctx, nullptr, &outl, ad.data(), len(ad.size())) != 1) {
    return false;
  }
  int written = 0;
  if (!plain.empty()) {
    if (EVP_EncryptUpdate(ctx, cipher_out.data(), &outl, plain.data(), len(plain.size())) != 1) {
      return false;
    }
    written = outl;
  }
  // GCM's final step writes nothing; the buffer is only named for the API.
  uint8_t none[1];
  if (EVP_EncryptFinal_ex(ctx, none, &outl) != 1 || written + outl != len(plain.size())) {
    return false;
  }
  return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, len(kTagSize), tag.data()) == 1;
}

enum class Opened { kOk, kBadTag, kFailure };

// GCM decryption of `cipher_in` into `plain_out` (same size) with `ad`,
// checking `tag`. plain_out is meaningful only on kOk.
Opened gcm_open(std::span<const uint8_t, 32> key, std::span<const uint8_t> nonce,
                std::span<const uint8_t> ad, std::span<const uint8_t> cipher_in,
                std::span<uint8_t> plain_out, std::span<const uint8_t> tag) {
  EVP_CIPHER_CTX* ctx = thread_ctx(false);
  if (ctx == nullptr) return Opened::kFailure;
  // EVP_CTRL_AEAD_SET_TAG takes a non-const pointer; hand it a copy.
  std::array<uint8_t, kTagSize> tag_copy;
  std::copy(tag.begin(), tag.end(), tag_copy.begin());
  int outl = 0;
  if (EVP_DecryptInit_ex2(ctx, nullptr, key.data(), nonce.data(), nullptr) != 1) {
    return Opened::kFailure;
  }
  if (!ad.empty() && EVP_DecryptUpdate(ctx, nullptr, &outl, ad.data(), len(ad.size())) != 1) {
    return Opened::kFailure;
  }
  if (!cipher_in.empty() && EVP_DecryptUpdate(ctx, plain_out.data(), &outl, cipher_in.data(),
                                               len(cipher_in.size())) != 1) {
    return Opened::kFailure;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, len(kTagSize), tag_copy.data()) != 1) {
    return Opened::kFailure;
  }
  uint8_t none[1];
  // The only failure of the final step once the context is set up is a tag
  // mismatch (compared with CRYPTO_memcmp inside OpenSSL).
  return EVP_DecryptFinal_ex(ctx, none, &outl) == 1 ? Opened::kOk : Opened::kBadTag;
}

bool random_bytes(std::span<uint8_t> out) {
  return RAND_bytes(out.data(), len(out.size())) == 1;
}
bool private_random_bytes(std::span<uint8_t> out) {
  return RAND_priv_bytes(out.data(), len(out.size())) == 1;
}

// Cookie offsets.
constexpr size_t kCookieOffNonce = 4;
constexpr size_t kCookieOffCipher = kCookieOffNonce + kNonceSize;
constexpr size_t kCookieOffTag = kCookieOffCipher + kCookiePlaintextSize;
static_assert(kCookieOffTag + kTagSize == kCookieSize);

}  // namespace

Result<SessionKey> SessionKey::generate() {
  SessionKey k;
  if (!private_random_bytes(k.bytes)) return Error::kRandomFailure;
  return k;
}

uint32_t Cookie::key_id() const { return load_u32(bytes, 0); }

Result<CookieKeyRing> CookieKeyRing::create() {
  std::array<uint8_t, 4> id;
  if (!random_bytes(id)) return Error::kRandomFailure;
  return create(load_u32(id, 0));
}

Result<CookieKeyRing> CookieKeyRing::create(uint32_t first_id) {
  CookieKeyRing ring;
  ring.current_.id = first_id;
  ring.current_.present = true;
  if (!private_random_bytes(ring.current_.key)) return Error::kRandomFailure;
  return ring;
}

CookieKeyRing::~CookieKeyRing() {
  OPENSSL_cleanse(current_.key.data(), current_.key.size());
  OPENSSL_cleanse(previous_.key.data(), previous_.key.size());
}

Error CookieKeyRing::rotate() {
  Slot next;
  next.id = current_.id + 1;  // wraps after 2^32 rotations: centuries at any sane period
  next.present = true;
  if (!private_random_bytes(next.key)) return Error::kRandomFailure;
  previous_ = current_;
  current_ = next;
  OPENSSL_cleanse(next.key.data(), next.key.size());
  return Error::kOk;
}

std::optional<uint32_t> CookieKeyRing::previous_id() const {
  if (!previous_.present) return std::nullopt;
  return previous_.id;
}

const CookieKeyRing::Slot* CookieKeyRing::find(uint32_t id) const {
  if (current_.present && current_.id == id) return &current_;
  if (previous_.present && previous_.id == id) return &previous_;
  return nullptr;
}

Result<Cookie> CookieKeyRing::make_cookie(const SessionKey& key, int64_t expiry_ns) const {
  Cookie c;
  std::span<uint8_t> out(c.bytes);
  store_u32(out, 0, current_.id);
  if (!random_bytes(out.subspan(kCookieOffNonce, kNonceSize))) return Error::kRandomFailure;
  std::array<uint8_t, kCookiePlaintextSize> plain;
  std::copy(key.bytes.begin(), key.bytes.end(), plain.begin());
  store_i64(plain, kSessionKeySize, expiry_ns);
  const bool ok = gcm_seal(current_.key, out.subspan<kCookieOffNonce, kNonceSize>(),
                           out.first(4), plain, out.subspan(kCookieOffCipher, plain.size()),
                           out.subspan<kCookieOffTag, kTagSize>());
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!ok) return Error::kCryptoFailure;
  return c;
}

Result<SessionKey> CookieKeyRing::open_cookie(std::span<const uint8_t> cookie,
                                              int64_t now_ns) const {
  if (cookie.size() != kCookieSize) return Error::kCookieMalformed;
  const Slot* slot = find(load_u32(cookie, 0));
  if (slot == nullptr) return Error::kCookieUnknownKey;
  std::array<uint8_t, kCookiePlaintextSize> plain;
  const Opened opened =
      gcm_open(slot->key, cookie.subspan(kCookieOffNonce, kNonceSize), cookie.first(4),
               cookie.subspan(kCookieOffCipher, kCookiePlaintextSize), plain,
               cookie.subspan(kCookieOffTag, kTagSize));
  Result<SessionKey> result = Error::kCryptoFailure;
  if (opened == Opened::kBadTag) {
    result = Error::kCookieBadTag;
  } else if (opened == Opened::kOk) {
    if (now_ns >= load_i64(plain, kSessionKeySize)) {
      result = Error::kCookieExpired;
    } else {
      SessionKey k;
      std::copy_n(plain.begin(), kSessionKeySize, k.bytes.begin());
      result = k;
    }
  }
  OPENSSL_cleanse(plain.data(), plain.size());
  return result;
}

Error seal(std::span<uint8_t> packet, const SessionKey& key) {
  if (packet.size() < kTrailerSize) return Error::kTooShort;
  const size_t ad_size = packet.size() - kTrailerSize;
  std::span<uint8_t, kTrailerSize> trailer = packet.last<kTrailerSize>();
  if (!random_bytes(trailer.first<kNonceSize>())) return Error::kRandomFailure;
  if (!gcm_seal(key.bytes, trailer.first<kNonceSize>(), packet.first(ad_size), {}, {},
                trailer.last<kTagSize>())) {
    return Error::kCryptoFailure;
  }
  return Error::kOk;
}

Error verify(std::span<const uint8_t> packet, const SessionKey& key) {
  if (packet.size() < kTrailerSize) return Error::kTooShort;
  const size_t ad_size = packet.size() - kTrailerSize;
  switch (gcm_open(key.bytes, packet.subspan(ad_size, kNonceSize), packet.first(ad_size), {}, {},
                   packet.last(kTagSize))) {
    case Opened::kOk: return Error::kOk;
    case Opened::kBadTag: return Error::kBadTag;
    case Opened::kFailure: return Error::kCryptoFailure;
  }
  return Error::kCryptoFailure;
}

}  // namespace timesync::wire
