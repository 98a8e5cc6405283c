#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "auth/authenticator.h"
#include "auth/basic_verifier.h"
#include "auth/hmac_verifier.h"
#include "tests/auth/verifier_test_util.h"

namespace inlet::auth {
namespace {

using testing::expect_http_error;
using testing::hmac_sha256_hex;
using testing::TestRequest;
using testing::to_base64;

std::unique_ptr<Authenticator> make_basic_then_github() {
  BasicUser alice{"alice", {}};
  SHA256(reinterpret_cast<const unsigned char*>("pw"), 2, alice.password_sha256.data());
  std::vector<std::unique_ptr<Authenticator>> members;
  members.push_back(std::make_unique<BasicVerifier>(std::vector<BasicUser>{alice}));
  members.push_back(
      std::make_unique<HmacVerifier>(github_hmac_options(), std::vector<std::string>{"s"}));
  return make_chain(std::move(members));
}

TEST(VerifierChain, AcceptsWhenBothVerifiersAcceptAndKeepsTheUser) {
  auto chain = make_basic_then_github();
  TestRequest request;
  request.header("Authorization", "Basic " + to_base64("alice:pw"))
      .header("X-Hub-Signature-256", "sha256=" + hmac_sha256_hex("s", request.body()));
  const AuthOutcome outcome = request.run(*chain);
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_TRUE(outcome.has_user);
  EXPECT_EQ(outcome.user, "alice");
}

TEST(VerifierChain, StopsAtTheFirstVerifierThatRefuses) {
  auto chain = make_basic_then_github();
  TestRequest bad_password;
  bad_password.header("Authorization", "Basic " + to_base64("alice:nope"))
      .header("X-Hub-Signature-256", "sha256=" + hmac_sha256_hex("s", bad_password.body()));
  expect_http_error(bad_password.run(*chain), 401, "invalid credentials");

  TestRequest bad_signature;
  bad_signature.header("Authorization", "Basic " + to_base64("alice:pw"))
      .header("X-Hub-Signature-256", "sha256=" + hmac_sha256_hex("wrong", bad_signature.body()));
  const AuthOutcome outcome = bad_signature.run(*chain);
  expect_http_error(outcome, 403, "invalid signature");
  EXPECT_FALSE(outcome.has_user);
}

}  // namespace
}  // namespace inlet::auth
