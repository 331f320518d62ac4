// What sealing and verifying cost per packet, and the whole make/open of a
// sealed RESPONSE: a figure for docs and reviews, never a pass/fail check.
// Prints ns per operation over `n` iterations (default 100000).
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "timesync/wire/exchange.hpp"
#include "timesync/wire/seal.hpp"

namespace {

template <class F>
double ns_per_op(long n, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) f(i);
  const std::chrono::duration<double, std::nano> took = std::chrono::steady_clock::now() - start;
  return took.count() / static_cast<double>(n);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace timesync::wire;
  const long n = argc > 1 ? std::atol(argv[1]) : 100'000;
  auto key = SessionKey::generate();
  auto ring = CookieKeyRing::create();
  if (!key.ok() || !ring.ok()) return 1;
  auto cookie = ring->make_cookie(*key, INT64_MAX);
  if (!cookie.ok()) return 1;
  const Session session{*key, *cookie};

  Datagram d;
  d.size = *encode_response(Response{}, Framing::kSealed, d.bytes);
  std::span<uint8_t> packet(d.bytes.data(), d.size);
  long failures = 0;
  const double seal_ns = ns_per_op(n, [&](long) { failures += seal(packet, *key) != Error::kOk; });
  const double verify_ns = ns_per_op(n, [&](long) { failures += verify(packet, *key) != Error::kOk; });
  const double cookie_ns = ns_per_op(n, [&](long) {
    failures += !ring->open_cookie(cookie->bytes, 0).ok();
  });
  const double request_ns = ns_per_op(n, [&](long i) {
    auto req = make_request(static_cast<uint64_t>(i), &session);
    failures += !req.ok() || !open_request(req->view(), &*ring, 0).ok();
  });
  const double answer_ns = ns_per_op(n, [&](long i) {
    Response r;
    r.sequence = static_cast<uint64_t>(i);
    auto resp = make_response(r, &*key);
    failures += !resp.ok() || !open_response(resp->view(), &*key, r.sequence).ok();
  });
  std::printf("iterations            %ld\n", n);
  std::printf("seal (92 B RESPONSE)  %.0f ns\n", seal_ns);
  std::printf("verify                %.0f ns\n", verify_ns);
  std::printf("open_cookie           %.0f ns\n", cookie_ns);
  std::printf("make+open request     %.0f ns  (seal; cookie + verify)\n", request_ns);
  std::printf("make+open response    %.0f ns  (encode + seal; decode + verify)\n", answer_ns);
  if (failures != 0) std::printf("FAILURES: %ld\n", failures);
  return failures == 0 ? 0 : 1;
}
