#include "auth/stripe_verifier.h"

#include <gtest/gtest.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::hmac_sha256_hex;
using testing::TestRequest;

constexpr std::int64_t kNow = 1700000000;
constexpr std::string_view kSecret = "whsec_test_secret_abc123";
constexpr std::string_view kBody =
    R"({"id":"evt_1","object":"event","type":"payment_intent.succeeded"})";

std::string v1(std::string_view secret, std::int64_t t, std::string_view body = kBody) {
  return hmac_sha256_hex(secret, std::to_string(t) + "." + std::string(body));
}

StripeVerifier make_verifier(std::vector<std::string> secrets = {std::string(kSecret)}) {
  return StripeVerifier(secrets, 300, [] { return kNow; });
}

AuthOutcome run(StripeVerifier& verifier, std::string header,
                std::string body = std::string(kBody)) {
  return TestRequest()
      .header("stripe-signature", std::move(header))
      .body(std::move(body))
      .run(verifier);
}

TEST(StripeVerifier, AcceptsASignatureComputedByOpenSsl) {
  StripeVerifier verifier = make_verifier();
  const std::string t = std::to_string(kNow);
  EXPECT_EQ(run(verifier, "t=" + t + ",v1=" + v1(kSecret, kNow)).verdict, Verdict::kAccept);
  // Stripe's test-mode header also carries a v0 entry; order and spaces do not matter.
  EXPECT_EQ(run(verifier, "v0=deadbeef, v1=" + v1(kSecret, kNow) + ", t=" + t).verdict,
            Verdict::kAccept);
}

TEST(StripeVerifier, AcceptsAnyOfSeveralV1Signatures) {
  StripeVerifier verifier = make_verifier();
  const std::string header =
      "t=" + std::to_string(kNow) + ",v1=" + v1("rolled", kNow) + ",v1=" + v1(kSecret, kNow);
  EXPECT_EQ(run(verifier, header).verdict, Verdict::kAccept);
}

TEST(StripeVerifier, AcceptsTheSecondSecretDuringRotation) {
  StripeVerifier verifier = make_verifier({"whsec_old", std::string(kSecret)});
  EXPECT_EQ(run(verifier, "t=" + std::to_string(kNow) + ",v1=" + v1(kSecret, kNow)).verdict,
            Verdict::kAccept);
  EXPECT_EQ(run(verifier, "t=" + std::to_string(kNow) + ",v1=" + v1("whsec_old", kNow)).verdict,
            Verdict::kAccept);
}

TEST(StripeVerifier, RefusesAWrongSignatureAndATamperedBody) {
  StripeVerifier verifier = make_verifier();
  const std::string t = std::to_string(kNow);
  expect_http_error(run(verifier, "t=" + t + ",v1=" + v1("whsec_other", kNow)), 403,
                    "invalid signature");
  expect_http_error(run(verifier, "t=" + t + ",v1=" + v1(kSecret, kNow), R"({"id":"evt_2"})"), 403,
                    "invalid signature");
  // The timestamp is part of what is signed.
  expect_http_error(run(verifier, "t=" + std::to_string(kNow + 1) + ",v1=" + v1(kSecret, kNow)),
                    403, "invalid signature");
}

TEST(StripeVerifier, RefusesTimestampsOutsideTheTolerance) {
  StripeVerifier verifier = make_verifier();
  for (std::int64_t t : {kNow - 301, kNow + 301}) {
    expect_http_error(run(verifier, "t=" + std::to_string(t) + ",v1=" + v1(kSecret, t)), 403,
                      "timestamp outside tolerance");
  }
  EXPECT_EQ(
      run(verifier, "t=" + std::to_string(kNow - 300) + ",v1=" + v1(kSecret, kNow - 300)).verdict,
      Verdict::kAccept);
}

TEST(StripeVerifier, AnswersAMissingHeaderWith401) {
  StripeVerifier verifier = make_verifier();
  expect_http_error(TestRequest().run(verifier), 401, "missing Stripe-Signature");
}

TEST(StripeVerifier, RefusesMalformedHeaders) {
  StripeVerifier verifier = make_verifier();
  const std::string sig = v1(kSecret, kNow);
  expect_http_error(run(verifier, "v1=" + sig), 403, "malformed Stripe-Signature");
  expect_http_error(run(verifier, "t=" + std::to_string(kNow)), 403, "malformed Stripe-Signature");
  expect_http_error(run(verifier, "t=soon,v1=" + sig), 403, "malformed Stripe-Signature");
  expect_http_error(run(verifier, "t=" + std::to_string(kNow) + ",v1=xyz"), 403,
                    "invalid signature");
}

}  // namespace
}  // namespace inlet::auth
