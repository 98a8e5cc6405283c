// HTTP Basic authentication against a fixed list of users whose passwords are stored as SHA-256
// digests. Answers (all 401 with `WWW-Authenticate: Basic realm="<realm>"`, RFC 7617):
//   no Authorization header               -> 401 "missing credentials"
//   not "Basic <base64 of user:password>" -> 401 "malformed Authorization"
//   unknown user or wrong password        -> 401 "invalid credentials"
// On success the outcome carries user = the username.
// Every configured user is compared, in constant time, on every request, so the timing tells
// neither which users exist nor how much of a password matched. Immutable; thread-safe.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "auth/authenticator.h"

namespace inlet::auth {

struct BasicUser {
  std::string username;
  std::array<unsigned char, 32> password_sha256{};
};

class BasicVerifier final : public Authenticator {
 public:
  // Throws std::invalid_argument when `users` is empty.
  explicit BasicVerifier(std::vector<BasicUser> users, std::string realm = "inlet");
  void authenticate(const AuthRequest& request, AuthCallback& callback) override;

 private:
  std::vector<BasicUser> users_;
  std::string challenge_;  // the WWW-Authenticate value
};

}  // namespace inlet::auth
