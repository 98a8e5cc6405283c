// Standard Webhooks (standardwebhooks.com, also Svix): headers webhook-id, webhook-timestamp and
// webhook-signature (or Svix's svix-id, svix-timestamp and svix-signature, each read where its
// webhook- name is absent), the last a space-separated list of "v1,<base64 HMAC-SHA256>". The signed
// content is "{webhook-id}.{webhook-timestamp}.{body}" (the decoded body; see hmac_verifier.h) and
// the key is the base64 after "whsec_" in the secret.
//
// Answers:
//   one of the three headers absent          -> 401 "missing <header>"
//   timestamp not decimal seconds            -> 403 "malformed webhook-timestamp"
//   |now - timestamp| > tolerance            -> 403 "timestamp outside tolerance"
//   no v1 entry matches any secret           -> 403 "invalid signature"
// The timestamp is checked first so a replayed request costs no HMAC work. Several secrets may be
// configured (rotation); entries with another version ("v1a,...") are ignored. Immutable after
// construction; thread-safe if `now` is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/timestamped_hmac_verifier.h"

namespace inlet::auth {

// The raw key of a "whsec_<base64>" secret (the prefix is optional, as in the reference
// libraries); nullopt when the rest is not base64 or decodes to nothing.
std::optional<std::string> decode_standard_webhooks_secret(std::string_view secret);

class StandardWebhooksVerifier final : public TimestampedHmacVerifier {
 public:
  // Throws std::invalid_argument when `secrets` is empty or one does not decode.
  StandardWebhooksVerifier(const std::vector<std::string>& secrets,
                           std::int64_t tolerance_seconds = 300,
                           SecondsClock now = system_seconds_clock());

 private:
  std::optional<Refusal> read(const AuthRequest& request, SignedRequest& out) const override;
  std::optional<Refusal> decode_signatures(std::string_view header,
                                           Signatures& out) const override;
};

}  // namespace inlet::auth
