#include "auth/stripe_verifier.h"

#include <openssl/crypto.h>

#include <stdexcept>

namespace inlet::auth {

namespace {

// Calls `fn(key, value)` for each comma-separated "key=value" item of the header.
template <typename Fn>
void for_each_item(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    const std::string_view item = trim_ows(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos) fn(item.substr(0, eq), item.substr(eq + 1));
  }
}

}  // namespace

StripeVerifier::StripeVerifier(const std::vector<std::string>& secrets,
                               std::int64_t tolerance_seconds, SecondsClock now)
    : tolerance_(tolerance_seconds), now_(std::move(now)) {
  if (secrets.empty()) throw std::invalid_argument("stripe verifier needs at least one secret");
  for (const std::string& secret : secrets) {
    if (secret.empty()) throw std::invalid_argument("stripe secrets must not be empty");
    keys_.emplace_back(HmacAlgorithm::kSha256, secret);
  }
}

void StripeVerifier::authenticate(const AuthRequest& request, AuthCallback& callback) {
  const std::string_view header = trim_ows(request.header("Stripe-Signature"));
  if (header.empty()) return answer_error(callback, 401, "missing Stripe-Signature");

  std::string_view timestamp;
  bool has_v1 = false;
  for_each_item(header, [&](std::string_view key, std::string_view value) {
    if (key == "t" && timestamp.empty()) timestamp = value;
    if (key == "v1") has_v1 = true;
  });
  std::int64_t seconds = 0;
  if (!has_v1 || !parse_unix_seconds(timestamp, seconds)) {
    return answer_error(callback, 403, "malformed Stripe-Signature");
  }
  if (!within_tolerance(seconds, now_(), tolerance_)) {
    return answer_error(callback, 403, "timestamp outside tolerance");
  }

  bool ok = false;
  unsigned char expected[HmacKey::kMaxSize];
  for (const HmacKey& key : keys_) {
    key.sign({timestamp, ".", request.body}, expected);
    for_each_item(header, [&](std::string_view name, std::string_view value) {
      unsigned char given[32];
      if (name != "v1" || decode_hex(value, given, sizeof given) != 32) return;
      ok |= CRYPTO_memcmp(expected, given, 32) == 0;
    });
  }
  if (!ok) return answer_error(callback, 403, "invalid signature");
  callback.on_auth_done(AuthOutcome{});
}

}  // namespace inlet::auth
