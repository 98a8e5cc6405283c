#include "auth/signer.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>

#include "auth/standard_webhooks_verifier.h"

namespace inlet::auth {

namespace {

HmacOptions options_of(SignatureScheme scheme, HmacOptions hmac) {
  switch (scheme) {
    case SignatureScheme::kServo:
      return HmacOptions{"X-Servo-Signature", HmacAlgorithm::kSha1, SignatureEncoding::kHex, ""};
    case SignatureScheme::kGithub:
      return github_hmac_options();
    case SignatureScheme::kStandardWebhooks:
      return HmacOptions{"webhook-signature", HmacAlgorithm::kSha256, SignatureEncoding::kBase64, "v1,"};
    case SignatureScheme::kHmac:
      break;
  }
  if (hmac.header.empty()) throw std::invalid_argument("an hmac signature needs a header name");
  if (hmac.prefix.size() > Signer::kMaxPrefix) {
    throw std::invalid_argument("an hmac signature's prefix is at most 64 characters");
  }
  return hmac;
}

// The key's bytes: a standard_webhooks secret is base64 after "whsec_"; the others are as given.
std::string key_bytes(SignatureScheme scheme, std::string_view secret) {
  if (secret.empty()) throw std::invalid_argument("the signing secret is empty");
  if (scheme != SignatureScheme::kStandardWebhooks) return std::string(secret);
  std::optional<std::string> key = decode_standard_webhooks_secret(secret);
  if (!key) throw std::invalid_argument("a standard_webhooks secret is whsec_ followed by base64");
  return std::move(*key);
}

class WipedKey {
 public:
  WipedKey(SignatureScheme scheme, std::string_view secret) : bytes_(key_bytes(scheme, secret)) {}
  ~WipedKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
  const std::string& bytes() const noexcept { return bytes_; }

 private:
  std::string bytes_;
};

void set(SignatureHeaders::Header& header, std::string_view name, std::string_view value) noexcept {
  header.name = name;
  header.size = std::min(value.size(), header.value.size());
  std::copy_n(value.data(), header.size, header.value.data());
}

}  // namespace

std::size_t encode_hex(const unsigned char* in, std::size_t n, char* out) noexcept {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[in[i] >> 4];
    out[2 * i + 1] = kDigits[in[i] & 0xf];
  }
  return 2 * n;
}

std::size_t encode_base64(const unsigned char* in, std::size_t n, char* out) noexcept {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t o = 0;
  for (std::size_t i = 0; i < n; i += 3) {
    const std::uint32_t b0 = in[i];
    const std::uint32_t b1 = i + 1 < n ? in[i + 1] : 0;
    const std::uint32_t b2 = i + 2 < n ? in[i + 2] : 0;
    const std::uint32_t bits = b0 << 16 | b1 << 8 | b2;
    out[o++] = kAlphabet[bits >> 18 & 63];
    out[o++] = kAlphabet[bits >> 12 & 63];
    out[o++] = i + 1 < n ? kAlphabet[bits >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? kAlphabet[bits & 63] : '=';
  }
  return o;
}

Signer::Signer(SignatureScheme scheme, std::string_view secret, HmacOptions hmac)
    : scheme_(scheme),
      options_(options_of(scheme, std::move(hmac))),
      key_(options_.algorithm, WipedKey(scheme, secret).bytes()) {}

std::string_view Signer::scheme_name() const noexcept {
  switch (scheme_) {
    case SignatureScheme::kServo: return "servo";
    case SignatureScheme::kStandardWebhooks: return "standard_webhooks";
    case SignatureScheme::kGithub: return "github";
    case SignatureScheme::kHmac: return "hmac";
  }
  return "hmac";
}

std::string Signer::header_names() const {
  if (scheme_ == SignatureScheme::kStandardWebhooks) return "webhook-id, webhook-timestamp, webhook-signature";
  return options_.header;
}

void Signer::sign(std::string_view body, std::string_view message_id, std::int64_t timestamp,
                  SignatureHeaders& out) const noexcept {
  out.count = 0;
  unsigned char mac[HmacKey::kMaxSize];
  char text[HmacKey::kMaxSize * 2 + kMaxPrefix];
  std::size_t size = 0;
  if (scheme_ == SignatureScheme::kStandardWebhooks) {
    char seconds[24];
    const auto end = std::to_chars(seconds, seconds + sizeof seconds, timestamp).ptr;
    const std::string_view stamp(seconds, static_cast<std::size_t>(end - seconds));
    set(out.items[out.count++], "webhook-id", message_id);
    set(out.items[out.count++], "webhook-timestamp", stamp);
    key_.sign({message_id, ".", stamp, ".", body}, mac);
  } else {
    key_.sign({body}, mac);
  }
  std::copy(options_.prefix.begin(), options_.prefix.end(), text);
  size = options_.prefix.size();
  size += options_.encoding == SignatureEncoding::kHex ? encode_hex(mac, key_.size(), text + size)
                                                       : encode_base64(mac, key_.size(), text + size);
  set(out.items[out.count++], options_.header, std::string_view(text, size));
}

}  // namespace inlet::auth
