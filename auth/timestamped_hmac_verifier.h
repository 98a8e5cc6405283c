// The shape Slack, Stripe and Standard Webhooks signatures share: a Unix timestamp within a
// tolerance (so a captured request cannot be replayed later), and an HMAC-SHA256 over content that
// includes that timestamp and the decoded body (see hmac_verifier.h), compared in constant time
// with each signature the request carries, under each configured secret (rotation). A scheme says
// only where its parts are: `read` and `decode_signatures`. The timestamp is checked before any
// HMAC work. Immutable after construction; thread-safe if `now` is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "auth/hmac_key.h"
#include "auth/verifier_common.h"

namespace inlet::auth {

class TimestampedHmacVerifier : public Authenticator {
 public:
  void authenticate(const AuthRequest& request, AuthCallback& callback) final;

 protected:
  // An answer other than accept: 401 for a missing header, 403 for the rest.
  struct Refusal {
    int status;
    std::string_view detail;
  };

  // What a scheme reads from the request's headers; the views point into the request.
  struct SignedRequest {
    static constexpr std::size_t kMaxParts = 6;
    std::string_view timestamp;
    std::array<std::string_view, kMaxParts> content{};  // signed in this order, the body included
    std::size_t content_parts = 0;
    std::string_view signatures;  // the header value decode_signatures reads
    void sign(std::string_view part) noexcept { content[content_parts++] = part; }
  };

  // Decoded 32-byte MACs; a header with more than kMax is judged by its first kMax.
  struct Signatures {
    static constexpr std::size_t kMax = 16;
    std::array<std::array<unsigned char, 32>, kMax> macs{};
    std::size_t count = 0;
  };

  // `keys` are the raw HMAC keys. Throws std::invalid_argument, naming `scheme`, when there are
  // none or one is empty.
  TimestampedHmacVerifier(std::string_view scheme, const std::vector<std::string>& keys,
                          std::int64_t tolerance_seconds, SecondsClock now,
                          std::string_view malformed_timestamp);

  virtual std::optional<Refusal> read(const AuthRequest& request, SignedRequest& out) const = 0;
  // Runs after the timestamp passed. A refusal only where the scheme calls the header malformed;
  // entries of other versions are skipped.
  virtual std::optional<Refusal> decode_signatures(std::string_view header,
                                                   Signatures& out) const = 0;

 private:
  std::vector<HmacKey> keys_;
  std::int64_t tolerance_;
  SecondsClock now_;
  std::string_view malformed_timestamp_;
};

}  // namespace inlet::auth
