#include "auth/standard_webhooks_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

namespace inlet::auth {

std::optional<std::string> decode_standard_webhooks_secret(std::string_view secret) {
  if (secret.starts_with("whsec_")) secret.remove_prefix(6);
  std::string key(secret.size(), '\0');
  const std::ptrdiff_t n =
      decode_base64(secret, reinterpret_cast<unsigned char*>(key.data()), key.size());
  if (n <= 0) return std::nullopt;
  key.resize(static_cast<std::size_t>(n));
  return key;
}

StandardWebhooksVerifier::StandardWebhooksVerifier(const std::vector<std::string>& secrets,
                                                   std::int64_t tolerance_seconds, SecondsClock now)
    : tolerance_(tolerance_seconds), now_(std::move(now)) {
  if (secrets.empty())
    throw std::invalid_argument("standard_webhooks verifier needs at least one secret");
  for (std::size_t i = 0; i < secrets.size(); ++i) {
    std::optional<std::string> key = decode_standard_webhooks_secret(secrets[i]);
    if (!key) {
      throw std::invalid_argument("standard_webhooks secret " + std::to_string(i) +
                                  " is not whsec_ followed by base64");
    }
    keys_.emplace_back(HmacAlgorithm::kSha256, *key);
    OPENSSL_cleanse(key->data(), key->size());
  }
}

void StandardWebhooksVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  const std::string_view id = trim_ows(request.header("webhook-id"));
  if (id.empty()) return answer_error(callback, 401, "missing webhook-id");
  const std::string_view timestamp = trim_ows(request.header("webhook-timestamp"));
  if (timestamp.empty()) return answer_error(callback, 401, "missing webhook-timestamp");
  const std::string_view signatures = trim_ows(request.header("webhook-signature"));
  if (signatures.empty()) return answer_error(callback, 401, "missing webhook-signature");

  std::int64_t seconds = 0;
  if (!parse_unix_seconds(timestamp, seconds)) {
    return answer_error(callback, 403, "malformed webhook-timestamp");
  }
  if (!within_tolerance(seconds, now_(), tolerance_)) {
    return answer_error(callback, 403, "timestamp outside tolerance");
  }

  bool ok = false;
  unsigned char expected[HmacKey::kMaxSize];
  unsigned char given[64];
  for (const HmacKey& key : keys_) {
    key.sign({id, ".", timestamp, ".", request.body}, expected);
    std::string_view rest = signatures;
    while (!rest.empty()) {
      const std::size_t space = rest.find(' ');
      const std::string_view entry = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
      if (!entry.starts_with("v1,")) continue;
      if (decode_base64(entry.substr(3), given, sizeof given) != 32) continue;
      ok |= CRYPTO_memcmp(expected, given, 32) == 0;
    }
  }
  if (!ok) return answer_error(callback, 403, "invalid signature");
  callback.on_auth_done(AuthOutcome{});
}

}  // namespace inlet::auth
