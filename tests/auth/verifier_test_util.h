// Helpers for the verifier tests: a request builder that owns its strings, a callback that records
// the one outcome, and signatures computed with OpenSSL's own HMAC(), independent of HmacKey.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/authenticator.h"

namespace inlet::auth::testing {

// The Standard Webhooks / Svix reference test vector, for the verifier and the signer.
constexpr std::string_view kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t kSpecTimestamp = 1614265330;
constexpr std::string_view kSpecBody = R"({"test": 2432232314})";
constexpr std::string_view kSpecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

class Recorder final : public AuthCallback {
 public:
  void on_auth_done(AuthOutcome&& outcome) noexcept override {
    ++calls;
    last = std::move(outcome);
  }
  int calls = 0;
  AuthOutcome last;
};

class TestRequest {
 public:
  TestRequest& header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  TestRequest& body(std::string body) {
    body_ = std::move(body);
    return *this;
  }
  const std::string& body() const { return body_; }

  // Runs `auth` and checks that it answered exactly once, before returning (built-ins are inline).
  AuthOutcome run(Authenticator& auth) const {
    std::vector<Header> views;
    for (const auto& [name, value] : headers_) views.push_back(Header{name, value});
    AuthRequest request;
    request.method = "POST";
    request.target = "/";
    request.headers = views;
    request.body = body_;
    Recorder recorder;
    auth.authenticate(request, recorder);
    EXPECT_EQ(recorder.calls, 1);
    return std::move(recorder.last);
  }

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_ = R"({"hello":"world"})";
};

inline std::string raw_hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

inline std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return to_hex(raw_hmac(EVP_sha256(), key, data));
}

inline void expect_http_error(const AuthOutcome& outcome, int status, std::string_view detail) {
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.status, status);
  EXPECT_EQ(outcome.detail, detail);
}

}  // namespace inlet::auth::testing
