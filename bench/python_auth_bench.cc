// Per-request cost of the Python authenticator, end to end: authenticate() on a benchmark thread,
// hand-off through the MPSC queue and eventfd to the interpreter thread, the call, the outcome and
// the callback back. "PingPong" has one request outstanding (latency, including two thread
// wake-ups); "Pipelined" keeps a window outstanding (the cost the Python thread pays per request,
// which bounds a node's throughput). For reference, a bare pybind11 call with keyword arguments
// costs about 0.8 µs on this machine (NOTES.md).
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>
#include <vector>

#include "python/python_authenticator.h"

namespace {

using inlet::auth::AuthOutcome;
using inlet::auth::AuthRequest;
using inlet::auth::Header;

constexpr const char* kTrivial =
    "def authenticator(*, context, request, **kwargs):\n    return None\n";
constexpr const char* kReadsHeader = R"(
def authenticator(*, context, request, **kwargs):
    if request.headers.get("x-token") != "secret":
        from fastapi import HTTPException
        raise HTTPException(403, "bad token")
    return None
)";
constexpr const char* kReturnsUser = R"(
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(["push"]), SimpleUser(request.headers.get("x-token"))
)";

class Counter final : public inlet::auth::AuthCallback {
 public:
  void on_auth_done(AuthOutcome&& outcome) noexcept override {
    if (outcome.verdict != inlet::auth::Verdict::kAccept)
      failed_.fetch_add(1, std::memory_order_relaxed);
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 ==
        target_.load(std::memory_order_acquire)) {
      done_.notify_one();
    }
  }
  void expect(std::uint64_t total) { target_.store(total, std::memory_order_release); }
  void wait(std::uint64_t total) {
    for (std::uint64_t seen = done_.load(std::memory_order_acquire); seen < total;
         seen = done_.load(std::memory_order_acquire)) {
      done_.wait(seen, std::memory_order_acquire);
    }
  }
  std::uint64_t failed() const { return failed_.load(); }

 private:
  std::atomic<std::uint64_t> done_{0};
  std::atomic<std::uint64_t> target_{0};
  std::atomic<std::uint64_t> failed_{0};
};

struct Fixture {
  std::vector<Header> headers{{"Content-Type", "application/json"},
                              {"User-Agent", "GitHub-Hookshot/abc"},
                              {"X-GitHub-Event", "push"},
                              {"X-Token", "secret"}};
  std::string body = R"({"ref": "refs/heads/main"})";
  AuthRequest request() const {
    AuthRequest r;
    r.method = "POST";
    r.target = "/";
    r.headers = headers;
    r.body = body;
    r.client_host = "127.0.0.1";
    r.client_port = 40000;
    return r;
  }
};

std::unique_ptr<inlet::auth::Authenticator> make(const char* source) {
  inlet::python::PythonAuthOptions options;
  options.inline_source = source;
  options.node = "bench";
  return inlet::python::make_python_authenticator(options);
}

void run_ping_pong(benchmark::State& state, const char* source) {
  auto authenticator = make(source);
  const Fixture fixture;
  const AuthRequest request = fixture.request();
  Counter counter;
  std::uint64_t issued = 0;
  for (auto _ : state) {
    counter.expect(++issued);
    authenticator->authenticate(request, counter);
    counter.wait(issued);
  }
  if (counter.failed() != 0) state.SkipWithError("authenticator did not accept");
  state.SetItemsProcessed(static_cast<std::int64_t>(issued));
  state.counters["us_per_request"] =
      benchmark::Counter(static_cast<double>(issued) * 1e-6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void run_pipelined(benchmark::State& state, const char* source) {
  auto authenticator = make(source);
  const Fixture fixture;
  const AuthRequest request = fixture.request();
  const auto window = static_cast<std::uint64_t>(state.range(0));
  Counter counter;
  std::uint64_t issued = 0;
  for (auto _ : state) {
    counter.expect(issued + window);
    for (std::uint64_t i = 0; i < window; ++i) authenticator->authenticate(request, counter);
    issued += window;
    counter.wait(issued);
  }
  if (counter.failed() != 0) state.SkipWithError("authenticator did not accept");
  state.SetItemsProcessed(static_cast<std::int64_t>(issued));
  state.counters["us_per_request"] =
      benchmark::Counter(static_cast<double>(issued) * 1e-6,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_PythonAuth_Trivial_PingPong(benchmark::State& state) { run_ping_pong(state, kTrivial); }
void BM_PythonAuth_ReadsHeader_PingPong(benchmark::State& state) {
  run_ping_pong(state, kReadsHeader);
}
void BM_PythonAuth_Trivial_Pipelined(benchmark::State& state) { run_pipelined(state, kTrivial); }
void BM_PythonAuth_ReadsHeader_Pipelined(benchmark::State& state) {
  run_pipelined(state, kReadsHeader);
}
void BM_PythonAuth_ReturnsUser_Pipelined(benchmark::State& state) {
  run_pipelined(state, kReturnsUser);
}

BENCHMARK(BM_PythonAuth_Trivial_PingPong)->UseRealTime();
BENCHMARK(BM_PythonAuth_ReadsHeader_PingPong)->UseRealTime();
BENCHMARK(BM_PythonAuth_Trivial_Pipelined)->Arg(1000)->UseRealTime();
BENCHMARK(BM_PythonAuth_ReadsHeader_Pipelined)->Arg(1000)->UseRealTime();
BENCHMARK(BM_PythonAuth_ReturnsUser_Pipelined)->Arg(1000)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
