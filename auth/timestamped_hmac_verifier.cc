#include "auth/timestamped_hmac_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

namespace inlet::auth {

TimestampedHmacVerifier::TimestampedHmacVerifier(std::string_view scheme,
                                                 const std::vector<std::string>& keys,
                                                 std::int64_t tolerance_seconds, SecondsClock now,
                                                 std::string_view malformed_timestamp)
    : tolerance_(tolerance_seconds), now_(std::move(now)), malformed_timestamp_(malformed_timestamp) {
  if (keys.empty()) throw std::invalid_argument(std::string(scheme) + " verifier needs at least one secret");
  for (const std::string& key : keys) {
    if (key.empty()) throw std::invalid_argument(std::string(scheme) + " secrets must not be empty");
    keys_.emplace_back(HmacAlgorithm::kSha256, key);
  }
}

void TimestampedHmacVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  SignedRequest parts;
  if (const auto refusal = read(request, parts)) {
    return answer_error(callback, refusal->status, refusal->detail);
  }
  std::int64_t seconds = 0;
  if (!parse_unix_seconds(parts.timestamp, seconds)) {
    return answer_error(callback, 403, malformed_timestamp_);
  }
  if (!within_tolerance(seconds, now_(), tolerance_)) {
    return answer_error(callback, 403, "timestamp outside tolerance");
  }
  Signatures given;
  if (const auto refusal = decode_signatures(parts.signatures, given)) {
    return answer_error(callback, refusal->status, refusal->detail);
  }
  bool ok = false;
  unsigned char expected[HmacKey::kMaxSize];
  for (const HmacKey& key : keys_) {
    key.sign(std::span(parts.content.data(), parts.content_parts), expected);
    for (std::size_t i = 0; i < given.count; ++i) {
      ok |= CRYPTO_memcmp(expected, given.macs[i].data(), 32) == 0;
    }
  }
  if (!ok) return answer_error(callback, 403, "invalid signature");
  callback.on_auth_done(AuthOutcome{});
}

}  // namespace inlet::auth
