#include "auth/basic_verifier.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::TestRequest;
using testing::to_base64;

BasicUser user(std::string name, std::string_view password) {
  BasicUser u{std::move(name), {}};
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(),
         u.password_sha256.data());
  return u;
}

BasicVerifier make_verifier() {
  return BasicVerifier({user("alice", "wonderland"), user("bob", "b:u:i:l:d")});
}

AuthOutcome run(BasicVerifier& verifier, std::string authorization) {
  return TestRequest().header("Authorization", std::move(authorization)).run(verifier);
}

void expect_challenge(const AuthOutcome& outcome, std::string_view detail) {
  expect_http_error(outcome, 401, detail);
  ASSERT_EQ(outcome.headers.size(), 1u);
  EXPECT_EQ(outcome.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(outcome.headers[0].second, "Basic realm=\"inlet\"");
}

TEST(BasicVerifier, AcceptsAGoodPasswordAndNamesTheUser) {
  BasicVerifier verifier = make_verifier();
  const AuthOutcome outcome = run(verifier, "Basic " + to_base64("alice:wonderland"));
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_TRUE(outcome.has_user);
  EXPECT_EQ(outcome.user, "alice");
}

TEST(BasicVerifier, SplitsAtTheFirstColonSoPasswordsMayHoldColons) {
  BasicVerifier verifier = make_verifier();
  const AuthOutcome outcome = run(verifier, "basic " + to_base64("bob:b:u:i:l:d"));
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_EQ(outcome.user, "bob");
}

TEST(BasicVerifier, RefusesAWrongPassword) {
  BasicVerifier verifier = make_verifier();
  expect_challenge(run(verifier, "Basic " + to_base64("alice:looking-glass")),
                   "invalid credentials");
}

TEST(BasicVerifier, RefusesAnotherUsersPassword) {
  BasicVerifier verifier = make_verifier();
  expect_challenge(run(verifier, "Basic " + to_base64("alice:b:u:i:l:d")), "invalid credentials");
  expect_challenge(run(verifier, "Basic " + to_base64("carol:wonderland")), "invalid credentials");
}

TEST(BasicVerifier, ChallengesARequestWithoutAuthorization) {
  BasicVerifier verifier = make_verifier();
  expect_challenge(TestRequest().run(verifier), "missing credentials");
}

TEST(BasicVerifier, RefusesMalformedHeaders) {
  BasicVerifier verifier = make_verifier();
  expect_challenge(run(verifier, "Bearer " + to_base64("alice:wonderland")),
                   "malformed Authorization");
  expect_challenge(run(verifier, "Basic !!!notbase64"), "malformed Authorization");
  expect_challenge(run(verifier, "Basic " + to_base64("alice-without-colon")),
                   "malformed Authorization");
  expect_challenge(run(verifier, "Basic "), "malformed Authorization");
  expect_challenge(run(verifier, "Basic " + std::string(4000, 'A')), "malformed Authorization");
}

TEST(BasicVerifier, UsesTheConfiguredRealm) {
  BasicVerifier verifier({user("alice", "x")}, "orders");
  const AuthOutcome outcome = TestRequest().run(verifier);
  ASSERT_EQ(outcome.headers.size(), 1u);
  EXPECT_EQ(outcome.headers[0].second, "Basic realm=\"orders\"");
}

TEST(BasicVerifier, RefusesAnEmptyUserList) {
  EXPECT_THROW(BasicVerifier({}), std::invalid_argument);
}

}  // namespace
}  // namespace inlet::auth
