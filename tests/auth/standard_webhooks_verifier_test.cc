#include "auth/standard_webhooks_verifier.h"

#include <gtest/gtest.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::kSpecBody;
using testing::kSpecId;
using testing::kSpecSecret;
using testing::kSpecSignature;
using testing::kSpecTimestamp;
using testing::raw_hmac;
using testing::TestRequest;
using testing::to_base64;


SecondsClock fixed_clock(std::int64_t now) {
  return [now] { return now; };
}

std::string sign(std::string_view whsec, std::string_view id, std::int64_t ts,
                 std::string_view body) {
  const std::string key = *decode_standard_webhooks_secret(whsec);
  return "v1," +
         to_base64(raw_hmac(EVP_sha256(), key,
                            std::string(id) + "." + std::to_string(ts) + "." + std::string(body)));
}

AuthOutcome run(StandardWebhooksVerifier& verifier, std::string signature,
                std::int64_t ts = kSpecTimestamp, std::string body = std::string(kSpecBody)) {
  return TestRequest()
      .header("webhook-id", std::string(kSpecId))
      .header("Webhook-Timestamp", std::to_string(ts))
      .header("webhook-signature", std::move(signature))
      .body(std::move(body))
      .run(verifier);
}

TEST(StandardWebhooksVerifier, AcceptsThePublishedTestVector) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300,
                                    fixed_clock(kSpecTimestamp + 10));
  EXPECT_EQ(run(verifier, std::string(kSpecSignature)).verdict, Verdict::kAccept);
  EXPECT_EQ(sign(kSpecSecret, kSpecId, kSpecTimestamp, kSpecBody), kSpecSignature);
}

TEST(StandardWebhooksVerifier, ReadsSvixHeaderNames) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  const auto svix = [&](std::string signature) {
    return TestRequest()
        .header("svix-id", std::string(kSpecId))
        .header("Svix-Timestamp", std::to_string(kSpecTimestamp))
        .header("svix-signature", std::move(signature))
        .body(std::string(kSpecBody))
        .run(verifier);
  };
  EXPECT_EQ(svix(std::string(kSpecSignature)).verdict, Verdict::kAccept);
  expect_http_error(svix("v1,bm9wZQ=="), 403, "invalid signature");
  expect_http_error(TestRequest().header("svix-id", "x").run(verifier), 401,
                    "missing webhook-timestamp");
}

TEST(StandardWebhooksVerifier, AcceptsASecretWithoutTheWhsecPrefix) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret.substr(6))}, 300,
                                    fixed_clock(kSpecTimestamp));
  EXPECT_EQ(run(verifier, std::string(kSpecSignature)).verdict, Verdict::kAccept);
}

TEST(StandardWebhooksVerifier, FindsTheMatchingEntryInASignatureList) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  const std::string list = "v1,bm9wZQ== v1a,AAAA v2,zzz garbage " + std::string(kSpecSignature);
  EXPECT_EQ(run(verifier, list).verdict, Verdict::kAccept);
}

TEST(StandardWebhooksVerifier, RefusesAWrongSignature) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  const std::string other = "whsec_" + to_base64("another key of some length");
  expect_http_error(run(verifier, sign(other, kSpecId, kSpecTimestamp, kSpecBody)), 403,
                    "invalid signature");
  expect_http_error(run(verifier, "v1,bm9wZQ=="), 403, "invalid signature");
  // The right MAC under a version this verifier does not know.
  expect_http_error(run(verifier, "v2," + std::string(kSpecSignature.substr(3))), 403,
                    "invalid signature");
}

TEST(StandardWebhooksVerifier, RefusesATamperedBody) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  expect_http_error(
      run(verifier, std::string(kSpecSignature), kSpecTimestamp, R"({"test": 2432232315})"), 403,
      "invalid signature");
}

TEST(StandardWebhooksVerifier, RefusesTimestampsOutsideTheTolerance) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  for (std::int64_t ts : {kSpecTimestamp - 301, kSpecTimestamp + 301}) {
    expect_http_error(run(verifier, sign(kSpecSecret, kSpecId, ts, kSpecBody), ts), 403,
                      "timestamp outside tolerance");
  }
  for (std::int64_t ts : {kSpecTimestamp - 300, kSpecTimestamp + 300}) {
    EXPECT_EQ(run(verifier, sign(kSpecSecret, kSpecId, ts, kSpecBody), ts).verdict,
              Verdict::kAccept);
  }
}

TEST(StandardWebhooksVerifier, RefusesTheSpecVectorAgainstTheRealClock) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)});
  expect_http_error(run(verifier, std::string(kSpecSignature)), 403, "timestamp outside tolerance");
}

TEST(StandardWebhooksVerifier, AcceptsTheSecondSecretDuringRotation) {
  const std::string old_secret = "whsec_" + to_base64("the old key, 32 bytes long......");
  StandardWebhooksVerifier verifier({old_secret, std::string(kSpecSecret)}, 300,
                                    fixed_clock(kSpecTimestamp));
  EXPECT_EQ(run(verifier, std::string(kSpecSignature)).verdict, Verdict::kAccept);
  EXPECT_EQ(run(verifier, sign(old_secret, kSpecId, kSpecTimestamp, kSpecBody)).verdict,
            Verdict::kAccept);
}

TEST(StandardWebhooksVerifier, AnswersEachMissingHeaderWith401) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  const std::string ts = std::to_string(kSpecTimestamp);
  const std::string sig(kSpecSignature);
  expect_http_error(
      TestRequest().header("webhook-timestamp", ts).header("webhook-signature", sig).run(verifier),
      401, "missing webhook-id");
  expect_http_error(
      TestRequest().header("webhook-id", "x").header("webhook-signature", sig).run(verifier), 401,
      "missing webhook-timestamp");
  expect_http_error(
      TestRequest().header("webhook-id", "x").header("webhook-timestamp", ts).run(verifier), 401,
      "missing webhook-signature");
}

TEST(StandardWebhooksVerifier, RefusesAMalformedTimestamp) {
  StandardWebhooksVerifier verifier({std::string(kSpecSecret)}, 300, fixed_clock(kSpecTimestamp));
  const AuthOutcome outcome = TestRequest()
                                  .header("webhook-id", std::string(kSpecId))
                                  .header("webhook-timestamp", "2021-02-25T15:02:10Z")
                                  .header("webhook-signature", std::string(kSpecSignature))
                                  .run(verifier);
  expect_http_error(outcome, 403, "malformed webhook-timestamp");
}

TEST(StandardWebhooksVerifier, RefusesSecretsThatAreNotBase64) {
  EXPECT_FALSE(decode_standard_webhooks_secret("whsec_not*base64"));
  EXPECT_FALSE(decode_standard_webhooks_secret("whsec_"));
  EXPECT_THROW(StandardWebhooksVerifier({"whsec_!!"}), std::invalid_argument);
  EXPECT_THROW(StandardWebhooksVerifier(std::vector<std::string>{}), std::invalid_argument);
}

}  // namespace
}  // namespace inlet::auth
