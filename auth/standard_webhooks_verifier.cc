#include "auth/standard_webhooks_verifier.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <stdexcept>

namespace inlet::auth {

std::optional<std::string> decode_standard_webhooks_secret(std::string_view secret) {
  if (secret.starts_with("whsec_")) secret.remove_prefix(6);
  std::string key(secret.size(), '\0');
  const std::ptrdiff_t n =
      decode_base64(secret, reinterpret_cast<unsigned char*>(key.data()), key.size());
  if (n <= 0) return std::nullopt;
  key.resize(static_cast<std::size_t>(n));
  return key;
}

namespace {

// The raw keys, each decoded secret wiped once the base class has made its HMAC states.
class DecodedKeys {
 public:
  explicit DecodedKeys(const std::vector<std::string>& secrets) {
    for (std::size_t i = 0; i < secrets.size(); ++i) {
      std::optional<std::string> key = decode_standard_webhooks_secret(secrets[i]);
      if (!key) {
        throw std::invalid_argument("standard_webhooks secret " + std::to_string(i) +
                                    " is not whsec_ followed by base64");
      }
      keys_.push_back(std::move(*key));
    }
  }
  ~DecodedKeys() {
    for (std::string& key : keys_) OPENSSL_cleanse(key.data(), key.size());
  }
  const std::vector<std::string>& keys() const noexcept { return keys_; }

 private:
  std::vector<std::string> keys_;
};

// `webhook-<name>`, else Svix's `svix-<name>`.
std::string_view header_of(const AuthRequest& request, std::string_view standard,
                           std::string_view svix) {
  const std::string_view value = trim_ows(request.header(standard));
  return value.empty() ? trim_ows(request.header(svix)) : value;
}

}  // namespace

StandardWebhooksVerifier::StandardWebhooksVerifier(const std::vector<std::string>& secrets,
                                                   std::int64_t tolerance_seconds, SecondsClock now)
    : TimestampedHmacVerifier("standard_webhooks", DecodedKeys(secrets).keys(), tolerance_seconds,
                              std::move(now), "malformed webhook-timestamp") {}

auto StandardWebhooksVerifier::read(const AuthRequest& request, SignedRequest& out) const
    -> std::optional<Refusal> {
  const std::string_view id = header_of(request, "webhook-id", "svix-id");
  if (id.empty()) return Refusal{401, "missing webhook-id"};
  out.timestamp = header_of(request, "webhook-timestamp", "svix-timestamp");
  if (out.timestamp.empty()) return Refusal{401, "missing webhook-timestamp"};
  out.signatures = header_of(request, "webhook-signature", "svix-signature");
  if (out.signatures.empty()) return Refusal{401, "missing webhook-signature"};
  for (std::string_view part : {id, std::string_view("."), out.timestamp, std::string_view("."),
                                request.body}) {
    out.sign(part);
  }
  return std::nullopt;
}

// Space-separated "v1,<base64>" entries; other versions ("v1a,...") are skipped.
auto StandardWebhooksVerifier::decode_signatures(std::string_view header, Signatures& out) const
    -> std::optional<Refusal> {
  unsigned char given[64];
  while (!header.empty() && out.count < Signatures::kMax) {
    const std::size_t space = header.find(' ');
    const std::string_view entry = header.substr(0, space);
    header = space == std::string_view::npos ? std::string_view{} : header.substr(space + 1);
    if (!entry.starts_with("v1,") || decode_base64(entry.substr(3), given, sizeof given) != 32) {
      continue;
    }
    std::copy(given, given + 32, out.macs[out.count++].begin());
  }
  return std::nullopt;
}

}  // namespace inlet::auth
