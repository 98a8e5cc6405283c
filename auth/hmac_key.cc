// The low-level SHA1_*/SHA256_* calls are deprecated in OpenSSL 3 in favour of EVP, but they are
// the only OpenSSL API whose hash state is a plain struct that can be copied without allocating.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "auth/hmac_key.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>

namespace inlet::auth {

namespace {

constexpr std::size_t kBlockSize = 64;  // SHA-1 and SHA-256 alike

template <typename Ctx, typename Init, typename Update>
void pad_states(Ctx& inner, Ctx& outer, Init init, Update update,
                std::array<unsigned char, kBlockSize>& block) {
  std::array<unsigned char, kBlockSize> pad{};
  for (std::size_t i = 0; i < kBlockSize; ++i) pad[i] = block[i] ^ 0x36;
  init(&inner);
  update(&inner, pad.data(), pad.size());
  for (std::size_t i = 0; i < kBlockSize; ++i) pad[i] = block[i] ^ 0x5c;
  init(&outer);
  update(&outer, pad.data(), pad.size());
  OPENSSL_cleanse(pad.data(), pad.size());
}

}  // namespace

HmacKey::HmacKey(HmacAlgorithm algorithm, std::string_view key) noexcept : algorithm_(algorithm) {
  // RFC 2104: keys longer than a block are hashed first, shorter ones are zero-padded.
  std::array<unsigned char, kBlockSize> block{};
  const auto* bytes = reinterpret_cast<const unsigned char*>(key.data());
  if (algorithm_ == HmacAlgorithm::kSha1) {
    if (key.size() > kBlockSize) {
      SHA1(bytes, key.size(), block.data());
    } else {
      std::copy(bytes, bytes + key.size(), block.begin());
    }
    pad_states(inner1_, outer1_, SHA1_Init, SHA1_Update, block);
  } else {
    if (key.size() > kBlockSize) {
      SHA256(bytes, key.size(), block.data());
    } else {
      std::copy(bytes, bytes + key.size(), block.begin());
    }
    pad_states(inner256_, outer256_, SHA256_Init, SHA256_Update, block);
  }
  OPENSSL_cleanse(block.data(), block.size());
}

HmacKey::~HmacKey() {
  OPENSSL_cleanse(&inner1_, sizeof inner1_);
  OPENSSL_cleanse(&outer1_, sizeof outer1_);
  OPENSSL_cleanse(&inner256_, sizeof inner256_);
  OPENSSL_cleanse(&outer256_, sizeof outer256_);
}

namespace {

// HMAC from precomputed states: hash(outer || hash(inner || message)). Ctx is SHA_CTX or
// SHA256_CTX, with its OpenSSL functions.
template <typename Ctx, std::size_t kDigest>
void sign_with(const Ctx& inner, const Ctx& outer, std::span<const std::string_view> parts,
               unsigned char* out, int (*update)(Ctx*, const void*, std::size_t),
               int (*final)(unsigned char*, Ctx*)) noexcept {
  Ctx ctx = inner;
  for (std::string_view part : parts) update(&ctx, part.data(), part.size());
  unsigned char inner_digest[kDigest];
  final(inner_digest, &ctx);
  ctx = outer;
  update(&ctx, inner_digest, sizeof inner_digest);
  final(out, &ctx);
}

}  // namespace

void HmacKey::sign(std::span<const std::string_view> parts, unsigned char* out) const noexcept {
  if (algorithm_ == HmacAlgorithm::kSha1) {
    sign_with<SHA_CTX, SHA_DIGEST_LENGTH>(inner1_, outer1_, parts, out, SHA1_Update, SHA1_Final);
  } else {
    sign_with<SHA256_CTX, SHA256_DIGEST_LENGTH>(inner256_, outer256_, parts, out, SHA256_Update,
                                               SHA256_Final);
  }
}

void sha256(std::string_view data, unsigned char* out) noexcept {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(out, &ctx);
}

}  // namespace inlet::auth
