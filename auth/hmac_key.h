// An HMAC key whose inner and outer hash states are computed once, at construction. Each MAC then
// costs two state copies plus the hashing of the message: no allocation and no provider lookup,
// which the one-shot HMAC() and EVP_MAC paths of OpenSSL 3 both pay per call.
// Immutable after construction; one key may sign from many threads at once.
#pragma once

#include <openssl/sha.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

namespace inlet::auth {

enum class HmacAlgorithm : std::uint8_t { kSha1, kSha256 };

class HmacKey {
 public:
  static constexpr std::size_t kMaxSize = 32;  // bytes of the largest MAC (SHA-256)

  HmacKey(HmacAlgorithm algorithm, std::string_view key) noexcept;
  HmacKey(const HmacKey&) = default;
  HmacKey& operator=(const HmacKey&) = default;
  ~HmacKey();  // wipes the key-derived states

  HmacAlgorithm algorithm() const noexcept { return algorithm_; }
  std::size_t size() const noexcept { return algorithm_ == HmacAlgorithm::kSha1 ? 20 : 32; }

  // Writes size() bytes to `out`: the MAC of the concatenation of `parts`, so callers sign
  // "{id}.{timestamp}.{body}" without building that string.
  void sign(std::span<const std::string_view> parts, unsigned char* out) const noexcept;
  void sign(std::initializer_list<std::string_view> parts, unsigned char* out) const noexcept {
    sign(std::span(parts.begin(), parts.size()), out);
  }

 private:
  HmacAlgorithm algorithm_;
  SHA_CTX inner1_{};
  SHA_CTX outer1_{};
  SHA256_CTX inner256_{};
  SHA256_CTX outer256_{};
};

// SHA-256 of `data` into 32 bytes at `out`, without the per-call digest fetch of OpenSSL 3's
// SHA256().
void sha256(std::string_view data, unsigned char* out) noexcept;

}  // namespace inlet::auth
