#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>

#include "runtime/config/node_config.h"
#include "tests/auth/verifier_test_util.h"

namespace inlet::runtime {
namespace {

using auth::AuthOutcome;
using auth::Verdict;
using auth::testing::hmac_sha256_hex;
using auth::testing::TestRequest;
using auth::testing::to_base64;

std::shared_ptr<auth::Authenticator> parse(const std::string& yaml) {
  ConfigMap map(YAML::Load(yaml), "verifiers[0]");
  return parse_verifier(map);
}

// The ConfigError of parsing `yaml`, which must fail.
ConfigError parse_error(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for: " << yaml;
  return ConfigError("", "");
}

AuthOutcome github_request(auth::Authenticator& verifier, std::string_view secret) {
  TestRequest request;
  request.header("X-Hub-Signature-256", "sha256=" + hmac_sha256_hex(secret, request.body()));
  return request.run(verifier);
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    path_ =
        std::filesystem::temp_directory_path() /
        ("inlet-verifier-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(VerifierConfig, BuildsAGithubVerifierFromALiteralSecret) {
  auto verifier = parse("{type: github, secret: \"It's a Secret to Everybody\"}");
  const AuthOutcome outcome =
      TestRequest()
          .header("X-Hub-Signature-256",
                  "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
          .body("Hello, World!")
          .run(*verifier);
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
}

TEST(VerifierConfig, ReadsASecretFromTheEnvironment) {
  ::setenv("INLET_TEST_GITHUB_SECRET", "from-env", 1);
  auto verifier = parse("{type: github, secret_env: INLET_TEST_GITHUB_SECRET}");
  EXPECT_EQ(github_request(*verifier, "from-env").verdict, Verdict::kAccept);
  EXPECT_EQ(github_request(*verifier, "other").verdict, Verdict::kHttpError);
  ::unsetenv("INLET_TEST_GITHUB_SECRET");
}

TEST(VerifierConfig, NamesTheKeyWhenTheVariableIsNotSet) {
  ::unsetenv("INLET_TEST_UNSET_SECRET");
  const ConfigError e = parse_error("{type: github, secret_env: INLET_TEST_UNSET_SECRET}");
  EXPECT_EQ(e.path(), "verifiers[0].secret_env");
  EXPECT_NE(std::string(e.what()).find("INLET_TEST_UNSET_SECRET is not set"), std::string::npos)
      << e.what();
}

TEST(VerifierConfig, ReadsASecretFileWithoutItsTrailingNewline) {
  TempFile file("file-secret\r\n");
  auto verifier = parse("{type: github, secret_file: " + file.path() + "}");
  EXPECT_EQ(github_request(*verifier, "file-secret").verdict, Verdict::kAccept);
}

TEST(VerifierConfig, NamesTheKeyWhenTheFileIsUnreadable) {
  const ConfigError e = parse_error("{type: slack, secret_file: /nonexistent/inlet/secret}");
  EXPECT_EQ(e.path(), "verifiers[0].secret_file");
  EXPECT_NE(std::string(e.what()).find("/nonexistent/inlet/secret"), std::string::npos) << e.what();
  TempFile empty("\n");
  EXPECT_EQ(parse_error("{type: slack, secret_file: " + empty.path() + "}").reason(),
            "file '" + empty.path() + "' is empty");
}

TEST(VerifierConfig, RefusesUnknownKeysBeforeLoadingSecrets) {
  EXPECT_EQ(parse_error("{type: github, secret: x, secert_env: Y}").path(),
            "verifiers[0].secert_env");
  EXPECT_EQ(parse_error("{type: stripe, secrets: [{env: A, user: b}]}").path(),
            "verifiers[0].secrets[0].user");
  EXPECT_EQ(
      parse_error("{type: basic, users: [{username: a, password_sha256: x, role: admin}]}").path(),
      "verifiers[0].users[0].role");
}

TEST(VerifierConfig, RefusesAMissingOrUnknownType) {
  EXPECT_EQ(parse_error("{secret: x}").path(), "verifiers[0].type");
  const ConfigError e = parse_error("{type: jwt, secret: x}");
  EXPECT_EQ(e.path(), "verifiers[0].type");
  EXPECT_NE(e.reason().find("standard_webhooks"), std::string::npos);
}

TEST(VerifierConfig, RefusesMissingAndDoubleSecrets) {
  EXPECT_EQ(parse_error("{type: github}").path(), "verifiers[0].secret");
  EXPECT_EQ(parse_error("{type: github, secret: a, secret_env: B}").path(), "verifiers[0].secret");
  EXPECT_EQ(parse_error("{type: github, secret: a, secrets: [b]}").path(), "verifiers[0].secrets");
  EXPECT_EQ(parse_error("{type: github, secrets: []}").path(), "verifiers[0].secrets");
  EXPECT_EQ(parse_error("{type: github, secret: ''}").path(), "verifiers[0].secret");
  EXPECT_EQ(parse_error("{type: github, secrets: [{}]}").path(), "verifiers[0].secrets[0]");
}

TEST(VerifierConfig, BuildsStandardWebhooksWithRotationFromMixedSources) {
  const std::string old_key = "old key";
  const std::string new_key = "new key, 24 bytes long..";
  ::setenv("INLET_TEST_WHSEC", ("whsec_" + to_base64(new_key)).c_str(), 1);
  auto verifier = parse("{type: standard_webhooks, secrets: [whsec_" + to_base64(old_key) +
                        ", {env: INLET_TEST_WHSEC}]}");
  ::unsetenv("INLET_TEST_WHSEC");
  const std::string now = std::to_string(std::time(nullptr));
  for (const std::string& key : {old_key, new_key}) {
    TestRequest request;
    const std::string mac =
        auth::testing::raw_hmac(EVP_sha256(), key, "msg_1." + now + "." + request.body());
    request.header("webhook-id", "msg_1")
        .header("webhook-timestamp", now)
        .header("webhook-signature", "v1," + to_base64(mac));
    EXPECT_EQ(request.run(*verifier).verdict, Verdict::kAccept);
  }
}

TEST(VerifierConfig, RefusesABadWhsecSecretWithoutPrintingIt) {
  const ConfigError e =
      parse_error("{type: standard_webhooks, secrets: [whsec_AAAA, 'whsec_sup*rsecret']}");
  EXPECT_EQ(e.path(), "verifiers[0].secrets[1]");
  EXPECT_EQ(std::string(e.what()).find("sup*rsecret"), std::string::npos) << e.what();
}

TEST(VerifierConfig, BoundsTheTolerance) {
  EXPECT_EQ(parse_error("{type: stripe, secret: s, tolerance_seconds: 0}").path(),
            "verifiers[0].tolerance_seconds");
  EXPECT_EQ(parse_error("{type: slack, secret: s, tolerance_seconds: soon}").path(),
            "verifiers[0].tolerance_seconds");
}

TEST(VerifierConfig, BuildsAStripeVerifierWithItsDefaultTolerance) {
  auto verifier = parse("{type: stripe, secret: whsec_abc}");
  const std::string t = std::to_string(std::time(nullptr));
  TestRequest request;
  request.header("Stripe-Signature",
                 "t=" + t + ",v1=" + hmac_sha256_hex("whsec_abc", t + "." + request.body()));
  EXPECT_EQ(request.run(*verifier).verdict, Verdict::kAccept);
  const std::string old = std::to_string(std::time(nullptr) - 400);
  TestRequest stale;
  stale.header("Stripe-Signature",
               "t=" + old + ",v1=" + hmac_sha256_hex("whsec_abc", old + "." + stale.body()));
  EXPECT_EQ(stale.run(*verifier).detail, "timestamp outside tolerance");
}

TEST(VerifierConfig, BuildsABasicVerifierFromHashedPasswords) {
  unsigned char digest[32];
  SHA256(reinterpret_cast<const unsigned char*>("pw"), 2, digest);
  const std::string hex =
      auth::testing::to_hex(std::string_view(reinterpret_cast<const char*>(digest), 32));
  TempFile file(hex + "\n");
  auto verifier =
      parse("{type: basic, realm: orders, users: [{username: alice, password_sha256: " + hex +
            "}, {username: bob, password_sha256_file: " + file.path() + "}]}");
  const AuthOutcome alice =
      TestRequest().header("Authorization", "Basic " + to_base64("alice:pw")).run(*verifier);
  EXPECT_EQ(alice.verdict, Verdict::kAccept);
  EXPECT_EQ(alice.user, "alice");
  const AuthOutcome bob =
      TestRequest().header("Authorization", "Basic " + to_base64("bob:pw")).run(*verifier);
  EXPECT_EQ(bob.user, "bob");
  const AuthOutcome none = TestRequest().run(*verifier);
  ASSERT_EQ(none.headers.size(), 1u);
  EXPECT_EQ(none.headers[0].second, "Basic realm=\"orders\"");
}

TEST(VerifierConfig, RefusesBadBasicUsers) {
  const ConfigError e =
      parse_error("{type: basic, users: [{username: a, password_sha256: hunter2}]}");
  EXPECT_EQ(e.path(), "verifiers[0].users[0].password_sha256");
  EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  const std::string hash(64, 'a');
  EXPECT_EQ(parse_error("{type: basic, users: [{username: a, password_sha256: " + hash +
                        "}, {username: a, "
                        "password_sha256: " +
                        hash + "}]}")
                .path(),
            "verifiers[0].users[1].username");
  EXPECT_EQ(parse_error("{type: basic, users: []}").path(), "verifiers[0].users");
  EXPECT_EQ(parse_error("{type: basic, users: [{username: a}]}").path(),
            "verifiers[0].users[0].password_sha256");
}

TEST(VerifierConfig, BuildsABearerVerifierFromMixedTokenForms) {
  ::setenv("INLET_TEST_BEARER", "env-token", 1);
  auto verifier = parse(
      "{type: bearer, tokens: [plain-token, {env: INLET_TEST_BEARER, user: ci}, {value: v}]}");
  ::unsetenv("INLET_TEST_BEARER");
  const AuthOutcome ci = TestRequest().header("Authorization", "Bearer env-token").run(*verifier);
  EXPECT_EQ(ci.verdict, Verdict::kAccept);
  EXPECT_EQ(ci.user, "ci");
  EXPECT_EQ(TestRequest().header("Authorization", "Bearer plain-token").run(*verifier).verdict,
            Verdict::kAccept);
  EXPECT_EQ(TestRequest().header("Authorization", "Bearer v").run(*verifier).verdict,
            Verdict::kAccept);
  EXPECT_EQ(TestRequest().header("Authorization", "Bearer nope").run(*verifier).status, 401);
  EXPECT_EQ(parse_error("{type: bearer}").path(), "verifiers[0].tokens");
  EXPECT_EQ(parse_error("{type: bearer, tokens: [[a]]}").path(), "verifiers[0].tokens[0]");
}

TEST(VerifierConfig, BuildsAGenericHmacVerifier) {
  auto verifier = parse(
      "{type: hmac, header: X-Sig, algorithm: sha1, encoding: base64, prefix: 'sha1=', secret: k}");
  TestRequest request;
  request.header("x-sig",
                 "sha1=" + to_base64(auth::testing::raw_hmac(EVP_sha1(), "k", request.body())));
  EXPECT_EQ(request.run(*verifier).verdict, Verdict::kAccept);
  EXPECT_EQ(parse_error("{type: hmac, secret: k}").path(), "verifiers[0].header");
  EXPECT_EQ(parse_error("{type: hmac, header: X, algorithm: md5, secret: k}").path(),
            "verifiers[0].algorithm");
  EXPECT_EQ(parse_error("{type: hmac, header: X, encoding: hex64, secret: k}").path(),
            "verifiers[0].encoding");
}

}  // namespace
}  // namespace inlet::runtime
