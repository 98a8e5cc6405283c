#include "auth/slack_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

namespace inlet::auth {

SlackVerifier::SlackVerifier(const std::vector<std::string>& secrets,
                             std::int64_t tolerance_seconds, SecondsClock now)
    : tolerance_(tolerance_seconds), now_(std::move(now)) {
  if (secrets.empty()) throw std::invalid_argument("slack verifier needs at least one secret");
  for (const std::string& secret : secrets) {
    if (secret.empty()) throw std::invalid_argument("slack secrets must not be empty");
    keys_.emplace_back(HmacAlgorithm::kSha256, secret);
  }
}

void SlackVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  std::string_view signature = trim_ows(request.header("X-Slack-Signature"));
  if (signature.empty()) return answer_error(callback, 401, "missing X-Slack-Signature");
  const std::string_view timestamp = trim_ows(request.header("X-Slack-Request-Timestamp"));
  if (timestamp.empty()) return answer_error(callback, 401, "missing X-Slack-Request-Timestamp");

  std::int64_t seconds = 0;
  if (!parse_unix_seconds(timestamp, seconds)) {
    return answer_error(callback, 403, "malformed X-Slack-Request-Timestamp");
  }
  if (!within_tolerance(seconds, now_(), tolerance_)) {
    return answer_error(callback, 403, "timestamp outside tolerance");
  }
  unsigned char given[32];
  if (!signature.starts_with("v0=") || decode_hex(signature.substr(3), given, sizeof given) != 32) {
    return answer_error(callback, 403, "malformed X-Slack-Signature");
  }

  bool ok = false;
  unsigned char expected[HmacKey::kMaxSize];
  for (const HmacKey& key : keys_) {
    key.sign({"v0:", timestamp, ":", request.body}, expected);
    ok |= CRYPTO_memcmp(expected, given, 32) == 0;
  }
  if (!ok) return answer_error(callback, 403, "invalid signature");
  callback.on_auth_done(AuthOutcome{});
}

}  // namespace inlet::auth
