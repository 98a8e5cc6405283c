#include "auth/hmac_verifier.h"

#include <gtest/gtest.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::hmac_sha256_hex;
using testing::raw_hmac;
using testing::TestRequest;
using testing::to_base64;
using testing::to_hex;

constexpr std::string_view kBody = R"({"action":"opened","number":1})";

AuthOutcome run_github(HmacVerifier& verifier, std::string signature,
                       std::string body = std::string(kBody)) {
  return TestRequest()
      .header("x-hub-signature-256", std::move(signature))
      .body(std::move(body))
      .run(verifier);
}

TEST(GithubVerifier, AcceptsGithubsPublishedExample) {
  // docs.github.com, "Validating webhook deliveries".
  HmacVerifier verifier(github_hmac_options(), {"It's a Secret to Everybody"});
  const AuthOutcome outcome = run_github(
      verifier, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "Hello, World!");
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_FALSE(outcome.has_user);
}

TEST(GithubVerifier, AcceptsASignatureComputedByOpenSsl) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  EXPECT_EQ(run_github(verifier, "sha256=" + hmac_sha256_hex("s3cret", kBody)).verdict,
            Verdict::kAccept);
}

TEST(GithubVerifier, TakesUppercaseHex) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  std::string hex = hmac_sha256_hex("s3cret", kBody);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(run_github(verifier, "sha256=" + hex).verdict, Verdict::kAccept);
}

TEST(GithubVerifier, RefusesAWrongSignature) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  expect_http_error(run_github(verifier, "sha256=" + hmac_sha256_hex("other", kBody)), 403,
                    "invalid signature");
}

TEST(GithubVerifier, RefusesATamperedBody) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  expect_http_error(run_github(verifier, "sha256=" + hmac_sha256_hex("s3cret", kBody),
                               R"({"action":"closed","number":1})"),
                    403, "invalid signature");
}

TEST(GithubVerifier, AnswersMissingHeaderWith401) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  expect_http_error(TestRequest().header("X-Hub-Signature", "sha1=00").run(verifier), 401,
                    "missing X-Hub-Signature-256");
}

TEST(GithubVerifier, RefusesMalformedSignatures) {
  HmacVerifier verifier(github_hmac_options(), {"s3cret"});
  const std::string good = hmac_sha256_hex("s3cret", kBody);
  expect_http_error(run_github(verifier, good), 403, "malformed X-Hub-Signature-256");
  expect_http_error(run_github(verifier, "sha1=" + good), 403, "malformed X-Hub-Signature-256");
  expect_http_error(run_github(verifier, "sha256=" + good.substr(2)), 403,
                    "malformed X-Hub-Signature-256");
  expect_http_error(run_github(verifier, "sha256=" + good + "00"), 403,
                    "malformed X-Hub-Signature-256");
  expect_http_error(run_github(verifier, "sha256=" + std::string(64, 'g')), 403,
                    "malformed X-Hub-Signature-256");
}

TEST(GithubVerifier, AcceptsTheSecondSecretDuringRotation) {
  HmacVerifier verifier(github_hmac_options(), {"old-secret", "new-secret"});
  EXPECT_EQ(run_github(verifier, "sha256=" + hmac_sha256_hex("new-secret", kBody)).verdict,
            Verdict::kAccept);
  EXPECT_EQ(run_github(verifier, "sha256=" + hmac_sha256_hex("old-secret", kBody)).verdict,
            Verdict::kAccept);
  expect_http_error(run_github(verifier, "sha256=" + hmac_sha256_hex("gone-secret", kBody)), 403,
                    "invalid signature");
}

TEST(HmacVerifier, VerifiesBase64Sha256WithoutPrefix) {
  // Shopify's shape: X-Shopify-Hmac-Sha256 is the base64 of HMAC-SHA256, no prefix.
  HmacVerifier verifier(
      {"X-Shopify-Hmac-Sha256", HmacAlgorithm::kSha256, SignatureEncoding::kBase64, ""},
      {"shop-secret"});
  const std::string mac = raw_hmac(EVP_sha256(), "shop-secret", kBody);
  auto run = [&](std::string value) {
    return TestRequest()
        .header("X-Shopify-Hmac-Sha256", std::move(value))
        .body(std::string(kBody))
        .run(verifier);
  };
  EXPECT_EQ(run(to_base64(mac)).verdict, Verdict::kAccept);
  std::string unpadded = to_base64(mac);
  while (unpadded.back() == '=') unpadded.pop_back();
  EXPECT_EQ(run(unpadded).verdict, Verdict::kAccept);
  expect_http_error(run(to_hex(mac)), 403, "malformed X-Shopify-Hmac-Sha256");
  expect_http_error(run(to_base64(raw_hmac(EVP_sha256(), "nope", kBody))), 403,
                    "invalid signature");
}

TEST(HmacVerifier, VerifiesSha1HexWithAPrefix) {
  HmacVerifier verifier({"X-Signature", HmacAlgorithm::kSha1, SignatureEncoding::kHex, "sha1="},
                        {"k"});
  const std::string mac = to_hex(raw_hmac(EVP_sha1(), "k", kBody));
  auto run = [&](std::string value) {
    return TestRequest()
        .header("X-Signature", std::move(value))
        .body(std::string(kBody))
        .run(verifier);
  };
  EXPECT_EQ(run("sha1=" + mac).verdict, Verdict::kAccept);
  EXPECT_EQ(run("SHA1=" + mac).verdict, Verdict::kAccept);  // the prefix is case-insensitive
  expect_http_error(run(mac), 403, "malformed X-Signature");
  // A SHA-256 MAC has the wrong length for a SHA-1 verifier.
  expect_http_error(run("sha1=" + hmac_sha256_hex("k", kBody)), 403, "malformed X-Signature");
}

TEST(HmacVerifier, RefusesEmptyConfiguration) {
  EXPECT_THROW(HmacVerifier(github_hmac_options(), {}), std::invalid_argument);
  EXPECT_THROW(HmacVerifier(github_hmac_options(), {""}), std::invalid_argument);
  EXPECT_THROW(HmacVerifier(HmacOptions{}, {"x"}), std::invalid_argument);
}

}  // namespace
}  // namespace inlet::auth
