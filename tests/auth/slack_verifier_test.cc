#include "auth/slack_verifier.h"

#include <gtest/gtest.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::hmac_sha256_hex;
using testing::TestRequest;

// Slack's worked example, "Verifying requests from Slack".
constexpr std::string_view kDocSecret = "8f742231b10e8888abcd99yyyzzz85a5";
constexpr std::int64_t kDocTimestamp = 1531420618;
constexpr std::string_view kDocBody =
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%"
    "2F96rGlfmibIGlgcZRskXaIFfN&"
    "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
constexpr std::string_view kDocSignature =
    "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

SlackVerifier make_verifier(std::vector<std::string> secrets = {std::string(kDocSecret)},
                            std::int64_t now = kDocTimestamp + 60) {
  return SlackVerifier(secrets, 300, [now] { return now; });
}

AuthOutcome run(SlackVerifier& verifier, std::string signature, std::int64_t ts = kDocTimestamp,
                std::string body = std::string(kDocBody)) {
  return TestRequest()
      .header("X-Slack-Signature", std::move(signature))
      .header("X-Slack-Request-Timestamp", std::to_string(ts))
      .body(std::move(body))
      .run(verifier);
}

std::string sign(std::string_view secret, std::int64_t ts, std::string_view body = kDocBody) {
  return "v0=" + hmac_sha256_hex(secret, "v0:" + std::to_string(ts) + ":" + std::string(body));
}

TEST(SlackVerifier, AcceptsSlacksPublishedExample) {
  SlackVerifier verifier = make_verifier();
  EXPECT_EQ(run(verifier, std::string(kDocSignature)).verdict, Verdict::kAccept);
  EXPECT_EQ(sign(kDocSecret, kDocTimestamp), kDocSignature);
}

TEST(SlackVerifier, RefusesAWrongSignatureAndATamperedBody) {
  SlackVerifier verifier = make_verifier();
  expect_http_error(run(verifier, sign("other-secret", kDocTimestamp)), 403, "invalid signature");
  expect_http_error(
      run(verifier, std::string(kDocSignature), kDocTimestamp, R"({"tampered":true})"), 403,
      "invalid signature");
}

TEST(SlackVerifier, RefusesTimestampsOutsideTheTolerance) {
  SlackVerifier verifier = make_verifier({std::string(kDocSecret)}, kDocTimestamp + 301);
  expect_http_error(run(verifier, std::string(kDocSignature)), 403, "timestamp outside tolerance");
  SlackVerifier real_clock({std::string(kDocSecret)});
  expect_http_error(run(real_clock, std::string(kDocSignature)), 403,
                    "timestamp outside tolerance");
}

TEST(SlackVerifier, AcceptsTheSecondSecretDuringRotation) {
  SlackVerifier verifier = make_verifier({"previous-secret", std::string(kDocSecret)});
  EXPECT_EQ(run(verifier, std::string(kDocSignature)).verdict, Verdict::kAccept);
  EXPECT_EQ(run(verifier, sign("previous-secret", kDocTimestamp)).verdict, Verdict::kAccept);
}

TEST(SlackVerifier, AnswersMissingHeadersWith401) {
  SlackVerifier verifier = make_verifier();
  expect_http_error(TestRequest().header("X-Slack-Request-Timestamp", "1").run(verifier), 401,
                    "missing X-Slack-Signature");
  expect_http_error(
      TestRequest().header("X-Slack-Signature", std::string(kDocSignature)).run(verifier), 401,
      "missing X-Slack-Request-Timestamp");
}

TEST(SlackVerifier, RefusesMalformedHeaders) {
  SlackVerifier verifier = make_verifier();
  const std::string hex(kDocSignature.substr(3));
  expect_http_error(run(verifier, hex), 403, "malformed X-Slack-Signature");
  expect_http_error(run(verifier, "v1=" + hex), 403, "malformed X-Slack-Signature");
  expect_http_error(run(verifier, "v0=" + hex.substr(1)), 403, "malformed X-Slack-Signature");
  const AuthOutcome outcome = TestRequest()
                                  .header("X-Slack-Signature", std::string(kDocSignature))
                                  .header("X-Slack-Request-Timestamp", "1531420618.5")
                                  .run(verifier);
  expect_http_error(outcome, 403, "malformed X-Slack-Request-Timestamp");
}

}  // namespace
}  // namespace inlet::auth
