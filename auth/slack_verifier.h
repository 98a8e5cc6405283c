// Slack request signing: `X-Slack-Signature: v0=<hex>`, an HMAC-SHA256 of
// "v0:{X-Slack-Request-Timestamp}:{body}" (the decoded body; see hmac_verifier.h) keyed with the
// app's signing secret.
//
// Answers (ts = X-Slack-Request-Timestamp):
//   X-Slack-Signature or ts absent                -> 401 "missing <header>"
//   ts not decimal seconds                        -> 403 "malformed X-Slack-Request-Timestamp"
//   |now - ts| > tolerance                        -> 403 "timestamp outside tolerance"
//   signature not "v0=" and 64 hex digits         -> 403 "malformed X-Slack-Signature"
//   no secret gives that MAC                      -> 403 "invalid signature"
// Several secrets may be configured (rotation). Immutable after construction; thread-safe if `now`
// is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "auth/timestamped_hmac_verifier.h"

namespace inlet::auth {

class SlackVerifier final : public TimestampedHmacVerifier {
 public:
  // Throws std::invalid_argument when `secrets` is empty or a secret is empty.
  SlackVerifier(const std::vector<std::string>& secrets, std::int64_t tolerance_seconds = 300,
                SecondsClock now = system_seconds_clock());

 private:
  std::optional<Refusal> read(const AuthRequest& request, SignedRequest& out) const override;
  std::optional<Refusal> decode_signatures(std::string_view header,
                                           Signatures& out) const override;
};

}  // namespace inlet::auth
