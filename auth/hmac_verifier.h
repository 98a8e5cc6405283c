// A signature of the body in one header: `<prefix><hex or base64 of HMAC(secret, body)>`. The
// `github` verifier is this with X-Hub-Signature-256, SHA-256, hex and the prefix "sha256=".
//
// The MAC is taken over AuthRequest::body, the DECODED body. Senders sign the bytes of the payload
// they send; GitHub, Stripe, Slack and Standard Webhooks senders do not compress, so the two are
// the same. A sender that compresses must sign the uncompressed payload for this check to pass.
//
// Answers:
//   header absent                              -> 401 "missing <header>"
//   prefix absent, not hex/base64, wrong size  -> 403 "malformed <header>"
//   no secret gives that MAC                   -> 403 "invalid signature"
// Several secrets may be configured (rotation): any one matching accepts. MACs are compared with
// CRYPTO_memcmp. Immutable after construction; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/hmac_key.h"

namespace inlet::auth {

enum class SignatureEncoding : std::uint8_t { kHex, kBase64 };

struct HmacOptions {
  std::string header;  // looked up case-insensitively
  HmacAlgorithm algorithm = HmacAlgorithm::kSha256;
  SignatureEncoding encoding = SignatureEncoding::kHex;
  std::string prefix;  // e.g. "sha256="; matched case-insensitively, may be empty
};

// The preset of the `github` verifier.
HmacOptions github_hmac_options();

class HmacVerifier final : public Authenticator {
 public:
  // Throws std::invalid_argument when `options.header` or `secrets` is empty, or a secret is empty.
  HmacVerifier(HmacOptions options, const std::vector<std::string>& secrets);
  void authenticate(const AuthRequest& request, AuthCallback& callback) override;

 private:
  HmacOptions options_;
  std::vector<HmacKey> keys_;
  std::string missing_detail_;
  std::string malformed_detail_;
};

}  // namespace inlet::auth
