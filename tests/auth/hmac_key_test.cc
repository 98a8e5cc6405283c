#include "auth/hmac_key.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::raw_hmac;
using testing::to_hex;

std::string sign(const HmacKey& key, std::initializer_list<std::string_view> parts) {
  unsigned char out[HmacKey::kMaxSize];
  key.sign(parts, out);
  return std::string(reinterpret_cast<const char*>(out), key.size());
}

TEST(HmacKey, MatchesRfc4231TestCase2) {
  const HmacKey key(HmacAlgorithm::kSha256, "Jefe");
  EXPECT_EQ(to_hex(sign(key, {"what do ya want ", "for nothing?"})),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacKey, MatchesOpenSslHmacForEveryKeyLengthAroundTheBlockSize) {
  const std::string message(1000, 'm');
  for (std::size_t length : {0u, 1u, 20u, 32u, 63u, 64u, 65u, 131u, 1000u}) {
    std::string secret(length, '\0');
    for (std::size_t i = 0; i < length; ++i) secret[i] = static_cast<char>(i * 7 + 3);
    const HmacKey sha256(HmacAlgorithm::kSha256, secret);
    const HmacKey sha1(HmacAlgorithm::kSha1, secret);
    EXPECT_EQ(sign(sha256, {message}), raw_hmac(EVP_sha256(), secret, message)) << length;
    EXPECT_EQ(sign(sha1, {message}), raw_hmac(EVP_sha1(), secret, message)) << length;
    EXPECT_EQ(sha1.size(), 20u);
  }
}

TEST(HmacKey, SignsTheConcatenationOfItsParts) {
  const HmacKey key(HmacAlgorithm::kSha256, "secret");
  EXPECT_EQ(sign(key, {"id", ".", "123", ".", "{}"}),
            raw_hmac(EVP_sha256(), "secret", "id.123.{}"));
  EXPECT_EQ(sign(key, {}), raw_hmac(EVP_sha256(), "secret", ""));
}

TEST(HmacKey, CopiesSignLikeTheOriginal) {
  const HmacKey key(HmacAlgorithm::kSha256, "secret");
  const HmacKey copy = key;
  EXPECT_EQ(sign(copy, {"body"}), sign(key, {"body"}));
}

}  // namespace
}  // namespace inlet::auth
