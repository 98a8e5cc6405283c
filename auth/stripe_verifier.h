// Stripe webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each v1
// an HMAC-SHA256 of "{t}.{body}" (the decoded body; see hmac_verifier.h) keyed with the endpoint
// secret as written ("whsec_..." bytes, not base64-decoded, as Stripe does).
//
// Answers:
//   header absent                          -> 401 "missing Stripe-Signature"
//   no t=, t not decimal seconds, no v1=   -> 403 "malformed Stripe-Signature"
//   |now - t| > tolerance                  -> 403 "timestamp outside tolerance"
//   no v1 matches any secret               -> 403 "invalid signature"
// Stripe's libraries refuse only old timestamps; this also refuses ones too far in the future.
// Several secrets may be configured (rotation); other schemes (v0=) are ignored. Immutable after
// construction; thread-safe if `now` is.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "auth/timestamped_hmac_verifier.h"

namespace inlet::auth {

class StripeVerifier final : public TimestampedHmacVerifier {
 public:
  // Throws std::invalid_argument when `secrets` is empty or a secret is empty.
  StripeVerifier(const std::vector<std::string>& secrets, std::int64_t tolerance_seconds = 300,
                 SecondsClock now = system_seconds_clock());

 private:
  std::optional<Refusal> read(const AuthRequest& request, SignedRequest& out) const override;
  std::optional<Refusal> decode_signatures(std::string_view header,
                                           Signatures& out) const override;
};

}  // namespace inlet::auth
