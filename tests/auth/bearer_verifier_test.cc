#include "auth/bearer_verifier.h"

#include <gtest/gtest.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::TestRequest;

BearerVerifier make_verifier() {
  return BearerVerifier(std::vector<BearerToken>{{"token-one", "ci"}, {"token-two-longer", ""}});
}

AuthOutcome run(BearerVerifier& verifier, std::string authorization) {
  return TestRequest().header("authorization", std::move(authorization)).run(verifier);
}

TEST(BearerVerifier, AcceptsAListedTokenWithItsUser) {
  BearerVerifier verifier = make_verifier();
  const AuthOutcome outcome = run(verifier, "Bearer token-one");
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_TRUE(outcome.has_user);
  EXPECT_EQ(outcome.user, "ci");
}

TEST(BearerVerifier, AcceptsATokenWithoutUserAsAnonymous) {
  BearerVerifier verifier = make_verifier();
  const AuthOutcome outcome = run(verifier, "bearer   token-two-longer ");
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_FALSE(outcome.has_user);
}

TEST(BearerVerifier, RefusesAnUnknownTokenWithInvalidTokenChallenge) {
  BearerVerifier verifier = make_verifier();
  for (const char* header : {"Bearer token-on", "Bearer token-one1", "Bearer TOKEN-ONE"}) {
    const AuthOutcome outcome = run(verifier, header);
    expect_http_error(outcome, 401, "invalid token");
    ASSERT_EQ(outcome.headers.size(), 1u);
    EXPECT_EQ(outcome.headers[0].first, "WWW-Authenticate");
    EXPECT_EQ(outcome.headers[0].second, "Bearer realm=\"inlet\", error=\"invalid_token\"");
  }
}

TEST(BearerVerifier, ChallengesMissingAndMalformedCredentials) {
  BearerVerifier verifier = make_verifier();
  AuthOutcome outcome = TestRequest().run(verifier);
  expect_http_error(outcome, 401, "missing credentials");
  ASSERT_EQ(outcome.headers.size(), 1u);
  EXPECT_EQ(outcome.headers[0].second, "Bearer realm=\"inlet\"");
  expect_http_error(run(verifier, "Basic dG9rZW4tb25l"), 401, "malformed Authorization");
  expect_http_error(run(verifier, "token-one"), 401, "malformed Authorization");
}

TEST(BearerVerifier, RefusesEmptyConfiguration) {
  EXPECT_THROW(BearerVerifier(std::vector<BearerToken>{}), std::invalid_argument);
  EXPECT_THROW(BearerVerifier(std::vector<BearerToken>{{"", "x"}}), std::invalid_argument);
}

}  // namespace
}  // namespace inlet::auth
