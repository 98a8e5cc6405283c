#include "auth/basic_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

#include "auth/hmac_key.h"
#include "auth/verifier_common.h"

namespace inlet::auth {

namespace {

// Longer headers are refused as malformed, so decoding needs no heap.
constexpr std::size_t kMaxCredentials = 1024;

}  // namespace

BasicVerifier::BasicVerifier(std::vector<BasicUser> users, std::string realm)
    : users_(std::move(users)), challenge_("Basic realm=\"" + realm + "\"") {
  if (users_.empty()) throw std::invalid_argument("basic verifier needs at least one user");
}

void BasicVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  const std::string_view header = trim_ows(request.header("Authorization"));
  if (header.empty()) return answer_error(callback, 401, "missing credentials", challenge_);
  if (!starts_with_nocase(header, "basic ")) {
    return answer_error(callback, 401, "malformed Authorization", challenge_);
  }
  unsigned char decoded[kMaxCredentials];
  const std::ptrdiff_t n = decode_base64(trim_ows(header.substr(6)), decoded, sizeof decoded);
  if (n <= 0) return answer_error(callback, 401, "malformed Authorization", challenge_);
  const std::string_view credentials(reinterpret_cast<const char*>(decoded),
                                     static_cast<std::size_t>(n));
  const std::size_t colon = credentials.find(':');
  if (colon == std::string_view::npos) {
    OPENSSL_cleanse(decoded, sizeof decoded);
    return answer_error(callback, 401, "malformed Authorization", challenge_);
  }
  const std::string_view username = credentials.substr(0, colon);
  const std::string_view password = credentials.substr(colon + 1);
  unsigned char digest[32];
  sha256(password, digest);

  const BasicUser* match = nullptr;
  for (const BasicUser& user : users_) {
    // Usernames are not secret, but a length-dependent early exit would still reveal which exist.
    const bool same_name =
        user.username.size() == username.size() &&
        CRYPTO_memcmp(user.username.data(), username.data(), username.size()) == 0;
    const bool same_password =
        CRYPTO_memcmp(user.password_sha256.data(), digest, sizeof digest) == 0;
    if (same_name & same_password) match = &user;
  }
  OPENSSL_cleanse(decoded, sizeof decoded);
  OPENSSL_cleanse(digest, sizeof digest);
  if (match == nullptr) return answer_error(callback, 401, "invalid credentials", challenge_);
  AuthOutcome outcome;
  outcome.has_user = true;
  outcome.user = match->username;
  callback.on_auth_done(std::move(outcome));
}

}  // namespace inlet::auth
