#include "auth/bearer_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

#include "auth/hmac_key.h"
#include "auth/verifier_common.h"

namespace inlet::auth {

BearerVerifier::BearerVerifier(const std::vector<BearerToken>& tokens, std::string realm)
    : challenge_("Bearer realm=\"" + realm + "\""),
      invalid_challenge_(challenge_ + ", error=\"invalid_token\"") {
  if (tokens.empty()) throw std::invalid_argument("bearer verifier needs at least one token");
  for (const BearerToken& t : tokens) {
    if (t.token.empty()) throw std::invalid_argument("bearer tokens must not be empty");
    Entry entry{{}, t.user};
    sha256(t.token, entry.sha256.data());
    entries_.push_back(std::move(entry));
  }
}

void BearerVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  const std::string_view header = trim_ows(request.header("Authorization"));
  if (header.empty()) return answer_error(callback, 401, "missing credentials", challenge_);
  if (!starts_with_nocase(header, "bearer ")) {
    return answer_error(callback, 401, "malformed Authorization", challenge_);
  }
  const std::string_view token = trim_ows(header.substr(7));
  if (token.empty()) return answer_error(callback, 401, "malformed Authorization", challenge_);
  unsigned char digest[32];
  sha256(token, digest);
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    if (CRYPTO_memcmp(entry.sha256.data(), digest, sizeof digest) == 0) match = &entry;
  }
  if (match == nullptr) return answer_error(callback, 401, "invalid token", invalid_challenge_);
  AuthOutcome outcome;
  if (!match->user.empty()) {
    outcome.has_user = true;
    outcome.user = match->user;
  }
  callback.on_auth_done(std::move(outcome));
}

}  // namespace inlet::auth
