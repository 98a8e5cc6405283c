// Signing an outbound request (CONTRACT.md section 6): the headers a delivery node adds so that
// its receiver can verify the body. The same HmacKey and presets as the verifiers of this folder,
// so that signing and verifying are one implementation, and the tests check each against the other.
// Immutable after construction; one Signer signs from many threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/hmac_key.h"
#include "auth/hmac_verifier.h"

namespace inlet::auth {

enum class SignatureScheme : std::uint8_t { kServo, kStandardWebhooks, kGithub, kHmac };

// The headers of one signed request; values live in fixed buffers, so signing does not allocate.
struct SignatureHeaders {
  struct Header {
    std::string_view name;
    std::array<char, 160> value{};
    std::size_t size = 0;
    std::string_view text() const noexcept { return {value.data(), size}; }
  };
  std::array<Header, 3> items;
  std::size_t count = 0;
};

class Signer {
 public:
  static constexpr std::size_t kMaxPrefix = 64;

  // `hmac` is read for kHmac only (header, algorithm, encoding, prefix). A standard_webhooks
  // secret is "whsec_<base64>". Throws std::invalid_argument with the reason.
  Signer(SignatureScheme scheme, std::string_view secret, HmacOptions hmac = {});

  SignatureScheme scheme() const noexcept { return scheme_; }
  // servo, standard_webhooks, github or hmac: for `inlet delivery list`.
  std::string_view scheme_name() const noexcept;
  // The header names this scheme sets, for listing.
  std::string header_names() const;

  // `message_id` and `timestamp` (Unix seconds) are signed by standard_webhooks only, which also
  // sends them as webhook-id and webhook-timestamp.
  void sign(std::string_view body, std::string_view message_id, std::int64_t timestamp,
            SignatureHeaders& out) const noexcept;

 private:
  SignatureScheme scheme_;
  HmacOptions options_;
  HmacKey key_;
};

// Lowercase hex and standard padded base64 of `in` into `out`; return the characters written.
// `out` holds 2n (hex) or 4*ceil(n/3) (base64) characters.
std::size_t encode_hex(const unsigned char* in, std::size_t n, char* out) noexcept;
std::size_t encode_base64(const unsigned char* in, std::size_t n, char* out) noexcept;

}  // namespace inlet::auth
