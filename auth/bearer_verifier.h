// `Authorization: Bearer <token>` against a fixed list of tokens (RFC 6750). Answers, all 401
// with `WWW-Authenticate: Bearer realm="<realm>"`:
//   no Authorization header     -> "missing credentials"
//   not "Bearer <token>"        -> "malformed Authorization"
//   a token that is not listed  -> "invalid token", with error="invalid_token" in the header
// A token may name a user; the outcome then carries it, otherwise it has no user.
// Tokens are kept only as SHA-256 digests and every one is compared in constant time on every
// request, so neither a token's length nor a partial match shows in the timing. Immutable;
// thread-safe.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "auth/authenticator.h"

namespace inlet::auth {

struct BearerToken {
  std::string token;
  std::string user;  // empty: accepted without a user
};

class BearerVerifier final : public Authenticator {
 public:
  // Throws std::invalid_argument when `tokens` is empty or a token is empty.
  explicit BearerVerifier(const std::vector<BearerToken>& tokens, std::string realm = "inlet");
  void authenticate(const AuthRequest& request, AuthCallback& callback) override;

 private:
  struct Entry {
    std::array<unsigned char, 32> sha256;
    std::string user;
  };
  std::vector<Entry> entries_;
  std::string challenge_;
  std::string invalid_challenge_;
};

}  // namespace inlet::auth
