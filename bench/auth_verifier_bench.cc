// Per-request cost of the github and standard_webhooks verifiers on 1 KB and 10 KB bodies, next to
// the raw OpenSSL HMAC-SHA256 of the same bytes (one-shot HMAC(), which is what a naive verifier
// would call) and to the precomputed-key HmacKey the verifiers use.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>
#include <vector>

#include "auth/hmac_key.h"
#include "auth/hmac_verifier.h"
#include "auth/standard_webhooks_verifier.h"

namespace {

using namespace inlet::auth;

constexpr std::string_view kSecret = "It's a Secret to Everybody";
constexpr std::string_view kWhsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::int64_t kNow = 1614265330;

std::string make_body(std::size_t size) {
  std::string body = R"({"action":"opened","padding":")";
  while (body.size() + 2 < size) body += static_cast<char>('a' + body.size() % 26);
  body += "\"}";
  return body;
}

std::string hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

std::string base64(const unsigned char* bytes, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  out.resize(static_cast<std::size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(n))));
  return out;
}

class CountingCallback final : public AuthCallback {
 public:
  void on_auth_done(AuthOutcome&& outcome) noexcept override {
    accepted += outcome.verdict == Verdict::kAccept;
  }
  std::int64_t accepted = 0;
};

void run_verifier(benchmark::State& state, Authenticator& verifier,
                  const std::vector<Header>& headers, const std::string& body) {
  AuthRequest request;
  request.method = "POST";
  request.target = "/";
  request.headers = headers;
  request.body = body;
  CountingCallback callback;
  for (auto _ : state) {
    verifier.authenticate(request, callback);
    benchmark::DoNotOptimize(callback.accepted);
  }
  if (callback.accepted != static_cast<std::int64_t>(state.iterations()))
    state.SkipWithError("signature refused");
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

void BM_RawHmacSha256OneShot(benchmark::State& state) {
  const std::string body = make_body(static_cast<std::size_t>(state.range(0)));
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  for (auto _ : state) {
    HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &size);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

void BM_HmacKeySha256(benchmark::State& state) {
  const std::string body = make_body(static_cast<std::size_t>(state.range(0)));
  const HmacKey key(HmacAlgorithm::kSha256, kSecret);
  unsigned char out[HmacKey::kMaxSize];
  for (auto _ : state) {
    key.sign({body}, out);
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

void BM_GithubVerify(benchmark::State& state) {
  const std::string body = make_body(static_cast<std::size_t>(state.range(0)));
  HmacVerifier verifier(github_hmac_options(), {std::string(kSecret)});
  unsigned char mac[HmacKey::kMaxSize];
  HmacKey(HmacAlgorithm::kSha256, kSecret).sign({body}, mac);
  const std::string signature = "sha256=" + hex(mac, 32);
  const std::vector<Header> headers = {{"Content-Type", "application/json"},
                                       {"User-Agent", "GitHub-Hookshot/abc"},
                                       {"X-GitHub-Event", "pull_request"},
                                       {"X-Hub-Signature-256", signature}};
  run_verifier(state, verifier, headers, body);
}

void BM_StandardWebhooksVerify(benchmark::State& state) {
  const std::string body = make_body(static_cast<std::size_t>(state.range(0)));
  StandardWebhooksVerifier verifier({std::string(kWhsec)}, 300, [] { return kNow; });
  const std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const std::string timestamp = std::to_string(kNow);
  unsigned char mac[HmacKey::kMaxSize];
  HmacKey(HmacAlgorithm::kSha256, *decode_standard_webhooks_secret(kWhsec))
      .sign({id, ".", timestamp, ".", body}, mac);
  const std::string signature = "v1," + base64(mac, 32);
  const std::vector<Header> headers = {{"Content-Type", "application/json"},
                                       {"webhook-id", id},
                                       {"webhook-timestamp", timestamp},
                                       {"webhook-signature", signature}};
  run_verifier(state, verifier, headers, body);
}

BENCHMARK(BM_RawHmacSha256OneShot)->Arg(1024)->Arg(10240);
BENCHMARK(BM_HmacKeySha256)->Arg(1024)->Arg(10240);
BENCHMARK(BM_GithubVerify)->Arg(1024)->Arg(10240);
BENCHMARK(BM_StandardWebhooksVerify)->Arg(1024)->Arg(10240);

}  // namespace

BENCHMARK_MAIN();
