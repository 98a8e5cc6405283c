#include "auth/signer.h"

#include <gtest/gtest.h>

#include "auth/standard_webhooks_verifier.h"
#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::kSpecBody;
using testing::kSpecId;
using testing::kSpecSecret;
using testing::kSpecSignature;
using testing::kSpecTimestamp;
using testing::raw_hmac;
using testing::TestRequest;
using testing::to_base64;
using testing::to_hex;


SignatureHeaders sign(const Signer& signer, std::string_view body, std::string_view id = kSpecId,
                      std::int64_t timestamp = kSpecTimestamp) {
  SignatureHeaders headers;
  signer.sign(body, id, timestamp, headers);
  return headers;
}

std::string header(const SignatureHeaders& headers, std::string_view name) {
  for (std::size_t i = 0; i < headers.count; ++i) {
    if (headers.items[i].name == name) return std::string(headers.items[i].text());
  }
  ADD_FAILURE() << "no " << name << " header";
  return {};
}

// A request carrying exactly what the signer set, for a verifier of this folder.
TestRequest signed_request(const SignatureHeaders& headers, std::string_view body) {
  TestRequest request;
  for (std::size_t i = 0; i < headers.count; ++i) {
    request.header(std::string(headers.items[i].name), std::string(headers.items[i].text()));
  }
  request.body(std::string(body));
  return request;
}

TEST(Signer, StandardWebhooksSignsThePublishedTestVector) {
  const Signer signer(SignatureScheme::kStandardWebhooks, kSpecSecret);
  const SignatureHeaders headers = sign(signer, kSpecBody);
  ASSERT_EQ(headers.count, 3u);
  EXPECT_EQ(header(headers, "webhook-id"), kSpecId);
  EXPECT_EQ(header(headers, "webhook-timestamp"), std::to_string(kSpecTimestamp));
  EXPECT_EQ(header(headers, "webhook-signature"), kSpecSignature);
}

TEST(Signer, TheStandardWebhooksVerifierAcceptsWhatItSignsAndNothingElse) {
  const Signer signer(SignatureScheme::kStandardWebhooks, kSpecSecret);
  const std::int64_t now = 1'790'000'000;
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, [now] { return now; });
  const std::string body = R"({"event":"push","n":[1,2,3]})";
  const SignatureHeaders headers = sign(signer, body, "0123456789abcdef0123456789abcdef", now);
  EXPECT_EQ(signed_request(headers, body).run(verifier).verdict, Verdict::kAccept);
  EXPECT_NE(signed_request(headers, body + " ").run(verifier).verdict, Verdict::kAccept);
  const SignatureHeaders other = sign(signer, body, "another-id", now);
  TestRequest mixed;  // a signature for another id does not verify this one
  mixed.header("webhook-id", "0123456789abcdef0123456789abcdef")
      .header("webhook-timestamp", std::to_string(now))
      .header("webhook-signature", header(other, "webhook-signature"))
      .body(body);
  EXPECT_NE(mixed.run(verifier).verdict, Verdict::kAccept);
}

TEST(Signer, GithubSignsSha256HexAndTheGithubVerifierAcceptsIt) {
  const Signer signer(SignatureScheme::kGithub, "It's a Secret to Everybody");
  const std::string body = "Hello, World!";
  const SignatureHeaders headers = sign(signer, body);
  ASSERT_EQ(headers.count, 1u);
  // GitHub's documented example of X-Hub-Signature-256.
  EXPECT_EQ(header(headers, "X-Hub-Signature-256"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  HmacVerifier verifier(github_hmac_options(), {"It's a Secret to Everybody"});
  EXPECT_EQ(signed_request(headers, body).run(verifier).verdict, Verdict::kAccept);
  HmacVerifier other_secret(github_hmac_options(), {"another"});
  EXPECT_NE(signed_request(headers, body).run(other_secret).verdict, Verdict::kAccept);
}

TEST(Signer, ServoIsTheHexHmacSha1OfTheBody) {
  const Signer signer(SignatureScheme::kServo, "shared");
  const std::string body = R"({"id":42})";
  const SignatureHeaders headers = sign(signer, body);
  ASSERT_EQ(headers.count, 1u);
  EXPECT_EQ(header(headers, "X-Servo-Signature"), to_hex(raw_hmac(EVP_sha1(), "shared", body)));
  HmacVerifier verifier(HmacOptions{"x-servo-signature", HmacAlgorithm::kSha1, SignatureEncoding::kHex, ""},
                        {"shared"});
  EXPECT_EQ(signed_request(headers, body).run(verifier).verdict, Verdict::kAccept);
}

TEST(Signer, GenericHmacFollowsItsOptionsAndTheHmacVerifierWithTheSameOptionsAcceptsIt) {
  for (const HmacOptions& options :
       {HmacOptions{"X-Acme-Signature", HmacAlgorithm::kSha256, SignatureEncoding::kBase64, "v0="},
        HmacOptions{"x-sig", HmacAlgorithm::kSha1, SignatureEncoding::kHex, ""}}) {
    const Signer signer(SignatureScheme::kHmac, "k3y", options);
    const std::string body = R"({"a":"b"})";
    const SignatureHeaders headers = sign(signer, body);
    const std::string mac =
        raw_hmac(options.algorithm == HmacAlgorithm::kSha1 ? EVP_sha1() : EVP_sha256(), "k3y", body);
    EXPECT_EQ(header(headers, options.header),
              options.prefix + (options.encoding == SignatureEncoding::kHex ? to_hex(mac) : to_base64(mac)));
    HmacVerifier verifier(options, {"k3y"});
    EXPECT_EQ(signed_request(headers, body).run(verifier).verdict, Verdict::kAccept);
  }
}

TEST(Signer, RefusesWhatCannotSign) {
  EXPECT_THROW(Signer(SignatureScheme::kServo, ""), std::invalid_argument);
  EXPECT_THROW(Signer(SignatureScheme::kStandardWebhooks, "not-whsec"), std::invalid_argument);
  EXPECT_THROW(Signer(SignatureScheme::kHmac, "k", HmacOptions{}), std::invalid_argument);
}

TEST(Signer, EncodesHexAndPaddedBase64) {
  const unsigned char bytes[] = {0x00, 0xff, 0x10, 0x61};
  char out[16];
  EXPECT_EQ(std::string_view(out, encode_hex(bytes, 4, out)), "00ff1061");
  EXPECT_EQ(std::string_view(out, encode_base64(bytes, 1, out)), "AA==");
  EXPECT_EQ(std::string_view(out, encode_base64(bytes, 2, out)), "AP8=");
  EXPECT_EQ(std::string_view(out, encode_base64(bytes, 4, out)), "AP8QYQ==");
}

}  // namespace
}  // namespace inlet::auth
