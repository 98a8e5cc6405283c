#include "auth/hmac_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

#include "auth/verifier_common.h"

namespace inlet::auth {

HmacOptions github_hmac_options() {
  return HmacOptions{"X-Hub-Signature-256", HmacAlgorithm::kSha256, SignatureEncoding::kHex,
                     "sha256="};
}

HmacVerifier::HmacVerifier(HmacOptions options, const std::vector<std::string>& secrets)
    : options_(std::move(options)),
      missing_detail_("missing " + options_.header),
      malformed_detail_("malformed " + options_.header) {
  if (options_.header.empty()) throw std::invalid_argument("hmac verifier needs a header name");
  if (secrets.empty()) throw std::invalid_argument("hmac verifier needs at least one secret");
  keys_.reserve(secrets.size());
  for (const std::string& secret : secrets) {
    if (secret.empty()) throw std::invalid_argument("hmac secrets must not be empty");
    keys_.emplace_back(options_.algorithm, secret);
  }
}

void HmacVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  std::string_view value = trim_ows(request.header(options_.header));
  if (value.empty()) return answer_error(callback, 401, missing_detail_);
  if (!starts_with_nocase(value, options_.prefix))
    return answer_error(callback, 403, malformed_detail_);
  value.remove_prefix(options_.prefix.size());

  unsigned char given[HmacKey::kMaxSize];
  const std::ptrdiff_t n = options_.encoding == SignatureEncoding::kHex
                               ? decode_hex(value, given, sizeof given)
                               : decode_base64(value, given, sizeof given);
  const std::size_t size = keys_.front().size();
  if (n != static_cast<std::ptrdiff_t>(size)) return answer_error(callback, 403, malformed_detail_);

  bool ok = false;
  unsigned char expected[HmacKey::kMaxSize];
  for (const HmacKey& key : keys_) {
    key.sign({request.body}, expected);
    ok |= CRYPTO_memcmp(expected, given, size) == 0;
  }
  if (!ok) return answer_error(callback, 403, "invalid signature");
  callback.on_auth_done(AuthOutcome{});
}

}  // namespace inlet::auth
