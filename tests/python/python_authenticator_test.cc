#include "python/python_authenticator.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace inlet::python {
namespace {

using auth::AuthOutcome;
using auth::Verdict;
using namespace std::chrono_literals;

class Recorder final : public auth::AuthCallback {
 public:
  void on_auth_done(AuthOutcome&& outcome) noexcept override {
    promise_.set_value(std::move(outcome));
  }
  AuthOutcome wait() {
    auto future = promise_.get_future();
    if (future.wait_for(10s) != std::future_status::ready)
      throw std::runtime_error("no callback in 10 s");
    return future.get();
  }
  std::future<AuthOutcome> future() { return promise_.get_future(); }

 private:
  std::promise<AuthOutcome> promise_;
};

struct TestRequest {
  std::string target = "/?source=github&tag=a&tag=b";
  std::vector<auth::Header> headers{{"Content-Type", "application/json"},
                                    {"X-Token", "secret"},
                                    {"X-Multi", "one"},
                                    {"x-multi", "two"},
                                    {"Cookie", "session=abc; theme=dark"},
                                    {"Host", "hooks.example.com"}};
  std::string body = R"({"action": "opened", "n": 3})";
  auth::AuthRequest view() const {
    auth::AuthRequest r;
    r.method = "POST";
    r.target = target;
    r.headers = headers;
    r.body = body;
    r.client_host = "203.0.113.7";
    r.client_port = 54321;
    return r;
  }
};

class LogSink {
 public:
  std::function<void(int, const std::string&)> sink() {
    return [this](int level, const std::string& message) {
      std::lock_guard lock(mu_);
      records_.emplace_back(level, message);
    };
  }
  std::string joined() {
    std::lock_guard lock(mu_);
    std::string all;
    for (const auto& [level, message] : records_)
      all += std::to_string(level) + " " + message + "\n";
    return all;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<int, std::string>> records_;
};

PythonAuthOptions inline_options(std::string source) {
  PythonAuthOptions options;
  options.inline_source = std::move(source);
  options.node = "orders-webhook";
  options.tenant = "acme";
  return options;
}

AuthOutcome authenticate_once(auth::Authenticator& authenticator, const TestRequest& request = {}) {
  const auth::AuthRequest view = request.view();
  Recorder recorder;
  authenticator.authenticate(view, recorder);
  return recorder.wait();
}

std::string start_error(const PythonAuthOptions& options) {
  try {
    make_python_authenticator(options);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PythonAuthenticator, RunsThePlatformTemplateUnchanged) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(), SimpleUser("foobar")
)"));
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_TRUE(outcome.has_user);
  EXPECT_EQ(outcome.user, "foobar");
  EXPECT_TRUE(outcome.identity.empty());
  EXPECT_TRUE(outcome.scopes.empty());
}

TEST(PythonAuthenticator, CarriesScopesAndIdentity) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, BaseUser
    class User(BaseUser):
        is_authenticated = True
        display_name = "Ada"
        identity = "user-42"
    return AuthCredentials(["read", "write"]), User()
)"));
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_EQ(outcome.user, "Ada");
  EXPECT_EQ(outcome.identity, "user-42");
  EXPECT_EQ(outcome.scopes, (std::vector<std::string>{"read", "write"}));
}

TEST(PythonAuthenticator, NoneAcceptsWithoutUserOrRejectsWhenConfigured) {
  const char* source = "def authenticator(*, context, request, **kwargs):\n    return None\n";
  auto accepting = make_python_authenticator(inline_options(source));
  AuthOutcome outcome = authenticate_once(*accepting);
  EXPECT_EQ(outcome.verdict, Verdict::kAccept);
  EXPECT_FALSE(outcome.has_user);

  PythonAuthOptions options = inline_options(source);
  options.none_means_reject = true;
  auto rejecting = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*rejecting).verdict, Verdict::kReject);
}

TEST(PythonAuthenticator, UnauthenticatedUserIsRejected) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, UnauthenticatedUser
    return AuthCredentials(), UnauthenticatedUser()
)"));
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kReject);
}

constexpr const char* kBasicAuth = R"(
"""Basic auth against context.config, caching decoded credentials on the context."""
def authenticator(*, context, request, **kwargs):
    import base64
    from fastapi import HTTPException
    from starlette.authentication import AuthCredentials, SimpleUser
    header = request.headers.get("authorization")
    if not header or not header.startswith("Basic "):
        raise HTTPException(status_code=400, detail="missing credentials",
                            headers={"WWW-Authenticate": "Basic"})
    with context:
        cache = getattr(context, "seen", None)
        if cache is None:
            cache = context.seen = {}
        if header not in cache:
            cache[header] = base64.b64decode(header[6:]).decode().split(":", 1)
        context.hits = getattr(context, "hits", 0) + 1
    user, password = cache[header]
    if context.config["users"].get(user) != password:
        raise HTTPException(status_code=403, detail="bad password")
    return AuthCredentials(["push"]), SimpleUser(user)
)";

TEST(PythonAuthenticator, BasicAuthRaisesHttpExceptionsAndCachesOnContext) {
  PythonAuthOptions options = inline_options(kBasicAuth);
  options.config_json = R"({"users": {"alice": "wonderland"}})";
  auto authenticator = make_python_authenticator(options);

  TestRequest missing;
  AuthOutcome outcome = authenticate_once(*authenticator, missing);
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.status, 400);
  EXPECT_EQ(outcome.detail, "missing credentials");
  ASSERT_EQ(outcome.headers.size(), 1u);
  EXPECT_EQ(outcome.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(outcome.headers[0].second, "Basic");

  TestRequest wrong;
  wrong.headers.push_back({"Authorization", "Basic YWxpY2U6bm9wZQ=="});  // alice:nope
  outcome = authenticate_once(*authenticator, wrong);
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.status, 403);
  EXPECT_EQ(outcome.detail, "bad password");

  TestRequest good;
  good.headers.push_back({"authorization", "Basic YWxpY2U6d29uZGVybGFuZA=="});  // alice:wonderland
  for (int i = 0; i < 3; ++i) {
    outcome = authenticate_once(*authenticator, good);
    EXPECT_EQ(outcome.verdict, Verdict::kAccept);
    EXPECT_EQ(outcome.user, "alice");
    EXPECT_EQ(outcome.scopes, std::vector<std::string>{"push"});
  }
}

TEST(PythonAuthenticator, ContextKeepsStateAcrossCallsAndIsALock) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    assert not context.locked()
    with context:
        assert context.locked()
        context.calls = getattr(context, "calls", 0) + 1
    assert context.acquire(blocking=False)
    context.release()
    if context.node != "orders-webhook" or context.tenant != "acme":
        raise HTTPException(500, "bad context")
    raise HTTPException(status_code=418, detail=str(context.calls))
)"));
  EXPECT_EQ(authenticate_once(*authenticator).detail, "1");
  EXPECT_EQ(authenticate_once(*authenticator).detail, "2");
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.status, 418);
  EXPECT_EQ(outcome.detail, "3");
}

TEST(PythonAuthenticator, AnyExceptionWithIntegerStatusCodeIsAnHttpError) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    class Nope(Exception):
        status_code = 429
        detail = "slow down"
        headers = {"Retry-After": "7"}
    raise Nope()
)"));
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.status, 429);
  EXPECT_EQ(outcome.detail, "slow down");
  ASSERT_EQ(outcome.headers.size(), 1u);
  EXPECT_EQ(outcome.headers[0].second, "7");
}

TEST(PythonAuthenticator, StarletteHttpExceptionCounts) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from starlette.exceptions import HTTPException
    raise HTTPException(status_code=401, detail="who are you")
)"));
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.status, 401);
  EXPECT_EQ(outcome.detail, "who are you");
}

TEST(PythonAuthenticator, OtherExceptionsAreInternalErrorsWithTracebackOnlyInTheLog) {
  LogSink log;
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    raise ValueError("secret internals")
)");
  options.log_sink = log.sink();
  auto authenticator = make_python_authenticator(options);
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kInternalError);
  EXPECT_EQ(outcome.detail, "internal error");
  const std::string logged = log.joined();
  EXPECT_NE(logged.find("Traceback"), std::string::npos) << logged;
  EXPECT_NE(logged.find("ValueError: secret internals"), std::string::npos) << logged;
  // Line numbers point into the source: the raise is on line 3 of the inline block.
  EXPECT_NE(logged.find("\"<inline>\", line 3"), std::string::npos) << logged;
}

TEST(PythonAuthenticator, UnexpectedReturnTypeIsAnInternalError) {
  LogSink log;
  PythonAuthOptions options =
      inline_options("def authenticator(*, context, request, **kwargs):\n    return 42\n");
  options.log_sink = log.sink();
  auto authenticator = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kInternalError);
  EXPECT_NE(log.joined().find("int"), std::string::npos);
}

TEST(PythonAuthenticator, AsyncCallsRunConcurrently) {
  auto authenticator = make_python_authenticator(inline_options(R"(
async def authenticator(*, context, request, **kwargs):
    import asyncio
    await asyncio.sleep(0.1)
    body = await request.json()
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(), SimpleUser(body["action"])
)"));
  constexpr int kCalls = 100;
  const TestRequest request;
  const auth::AuthRequest view = request.view();
  std::vector<Recorder> recorders(kCalls);
  std::vector<std::future<AuthOutcome>> futures;
  for (auto& r : recorders) futures.push_back(r.future());
  const auto start = std::chrono::steady_clock::now();
  for (auto& r : recorders) authenticator->authenticate(view, r);
  for (auto& f : futures) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    const AuthOutcome outcome = f.get();
    EXPECT_EQ(outcome.verdict, Verdict::kAccept);
    EXPECT_EQ(outcome.user, "opened");
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, 1s) << std::chrono::duration<double>(elapsed).count() << " s";
}

TEST(PythonAuthenticator, SpinningSyncCallTimesOutAndTheNextRequestIsServed) {
  LogSink log;
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    if request.headers.get("x-spin"):
        while True:
            pass
    return None
)");
  options.timeout_ms = 200;
  options.log_sink = log.sink();
  auto authenticator = make_python_authenticator(options);
  TestRequest spin;
  spin.headers.push_back({"X-Spin", "1"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(authenticate_once(*authenticator, spin).verdict, Verdict::kTimeout);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 1s);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
  EXPECT_NE(log.joined().find("timed out"), std::string::npos);
}

TEST(PythonAuthenticator, SyncCallThatSwallowsTheInterruptStillTimesOut) {
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    import time
    if request.headers.get("x-spin"):
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except TimeoutError:
                pass
    return None
)");
  options.timeout_ms = 100;
  auto authenticator = make_python_authenticator(options);
  TestRequest spin;
  spin.headers.push_back({"X-Spin", "1"});
  const TestRequest plain;
  const auth::AuthRequest spin_view = spin.view();
  const auth::AuthRequest plain_view = plain.view();
  Recorder stuck;
  Recorder queued;
  const auto start = std::chrono::steady_clock::now();
  authenticator->authenticate(spin_view, stuck);
  authenticator->authenticate(plain_view, queued);
  EXPECT_EQ(stuck.wait().verdict, Verdict::kTimeout);
  // The queued request waited behind the stuck one past its own deadline: answered by the watchdog.
  EXPECT_EQ(queued.wait().verdict, Verdict::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 400ms);
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
}

TEST(PythonAuthenticator, SlowAsyncCallIsCancelledAtTheDeadline) {
  PythonAuthOptions options = inline_options(R"(
async def authenticator(*, context, request, **kwargs):
    import asyncio
    if request.headers.get("x-slow"):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            context.cancelled = True
            raise
    from fastapi import HTTPException
    raise HTTPException(409, str(getattr(context, "cancelled", False)))
)");
  options.timeout_ms = 150;
  auto authenticator = make_python_authenticator(options);
  TestRequest slow;
  slow.headers.push_back({"X-Slow", "1"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(authenticate_once(*authenticator, slow).verdict, Verdict::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  const AuthOutcome next = authenticate_once(*authenticator);
  EXPECT_EQ(next.status, 409);
  EXPECT_EQ(next.detail, "True");
}

// Regression: an async function spinning between awaits blocked the event loop for good, because
// only sync calls were watched; every later request hung.
TEST(PythonAuthenticator, AsyncCallSpinningBetweenAwaitsTimesOutAndTheNextRequestIsServed) {
  PythonAuthOptions options = inline_options(R"(
async def authenticator(*, context, request, **kwargs):
    import asyncio
    await asyncio.sleep(0)
    if request.headers.get("x-spin"):
        while True:
            pass
    return None
)");
  options.timeout_ms = 150;
  auto authenticator = make_python_authenticator(options);
  TestRequest spin;
  spin.headers.push_back({"X-Spin", "1"});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(authenticate_once(*authenticator, spin).verdict, Verdict::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
}

TEST(PythonAuthenticator, LoopThatSwallowsEveryInterruptIsUnwound) {
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    if request.headers.get("x-spin"):
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    return None
)");
  options.timeout_ms = 100;
  auto authenticator = make_python_authenticator(options);
  TestRequest spin;
  spin.headers.push_back({"X-Spin", "1"});
  EXPECT_EQ(authenticate_once(*authenticator, spin).verdict, Verdict::kTimeout);
  std::this_thread::sleep_for(400ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 100ms);
}

// Regression: asyncio lets SystemExit and KeyboardInterrupt out of its loop, which aborted the
// node.
TEST(PythonAuthenticator, SystemExitInAsyncCodeIsAnInternalError) {
  PythonAuthOptions options = inline_options(R"(
async def authenticator(*, context, request, **kwargs):
    import sys
    if request.headers.get("x-exit"):
        sys.exit(3)
    if request.headers.get("x-interrupt"):
        raise KeyboardInterrupt
    return None
)");
  auto authenticator = make_python_authenticator(options);
  TestRequest exit_request;
  exit_request.headers.push_back({"X-Exit", "1"});
  TestRequest interrupt_request;
  interrupt_request.headers.push_back({"X-Interrupt", "1"});
  EXPECT_EQ(authenticate_once(*authenticator, exit_request).verdict, Verdict::kInternalError);
  EXPECT_EQ(authenticate_once(*authenticator, interrupt_request).verdict, Verdict::kInternalError);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
}

TEST(PythonAuthenticator, RequestLooksLikeStarlettes) {
  auto authenticator = make_python_authenticator(inline_options(R"(
async def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    h = request.headers
    checks = [
        request.method == "POST",
        h["x-token"] == "secret" and h.get("X-TOKEN") == "secret" and "X-Token" in h,
        h.get("absent") is None and h.get("absent", "d") == "d" and "absent" not in h,
        h.getlist("X-Multi") == ["one", "two"],
        ("content-type", "application/json") in h.items(),
        "cookie" in h.keys() and "secret" in h.values(),
        request.url.path == "/" and request.url.query == "source=github&tag=a&tag=b",
        str(request.url) == "http://hooks.example.com/?source=github&tag=a&tag=b",
        request.query_params["source"] == "github",
        request.query_params.getlist("tag") == ["a", "b"],
        request.path_params == {},
        request.cookies == {"session": "abc", "theme": "dark"},
        request.client.host == "203.0.113.7" and request.client.port == 54321,
        request.scope["type"] == "http" and request.scope["method"] == "POST",
        (b"x-token", b"secret") in request.scope["headers"],
        await request.body() == b'{"action": "opened", "n": 3}',
        (await request.json())["n"] == 3,
    ]
    failed = [i for i, ok in enumerate(checks) if not ok]
    raise HTTPException(status_code=418, detail=repr(failed))
)"));
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.verdict, Verdict::kHttpError);
  EXPECT_EQ(outcome.detail, "[]");
}

TEST(PythonAuthenticator, StoredRequestRaisesAfterItsCallEnded) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    previous = getattr(context, "previous", None)
    context.previous = request
    if previous is None:
        return None
    try:
        previous.headers.get("x-token")
    except RuntimeError as e:
        raise HTTPException(410, str(e))
    return None
)"));
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
  const AuthOutcome outcome = authenticate_once(*authenticator);
  EXPECT_EQ(outcome.status, 410);
  EXPECT_NE(outcome.detail.find("request is gone"), std::string::npos);
}

TEST(PythonAuthenticator, ContextLoggerReachesTheSink) {
  LogSink log;
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    context.logger.info("hello from %s", context.node)
    context.logger.warning("careful")
    return None
)");
  options.log_sink = log.sink();
  auto authenticator = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
  EXPECT_EQ(log.joined(), "20 hello from orders-webhook\n30 careful\n");
}

TEST(PythonAuthenticator, ConfigBecomesContextConfig) {
  PythonAuthOptions options = inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from fastapi import HTTPException
    raise HTTPException(418, repr(context.config))
)");
  options.config_json = R"({"a": [1, 2], "b": {"c": null, "d": true}})";
  auto authenticator = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*authenticator).detail, "{'a': [1, 2], 'b': {'c': None, 'd': True}}");
}

TEST(PythonAuthenticatorSource, RejectsCodeOutsideTheDefWithItsLine) {
  EXPECT_EQ(start_error(inline_options(
                "import os\ndef authenticator(*, context, request):\n    return None\n")),
            "<inline>:1: only the def 'authenticator' is allowed at top level, found an import "
            "(imports go "
            "inside the function)");
  EXPECT_EQ(
      start_error(
          inline_options("def authenticator(*, context, request):\n    return None\nX = 1\n")),
      "<inline>:3: only the def 'authenticator' is allowed at top level, found an assignment");
  EXPECT_EQ(start_error(inline_options("def authenticator(*, context, request):\n    return None\n"
                                       "def authenticator(*, context, request):\n    return 1\n")),
            "<inline>:3: only one function is allowed, found a second def 'authenticator'");
  EXPECT_EQ(start_error(inline_options("def auth(*, context, request):\n    return None\n")),
            "<inline>:1: the function must be named 'authenticator', found 'auth'");
  EXPECT_EQ(start_error(inline_options("def authenticator(*, context, request):\n    return (\n")),
            "<inline>:2: syntax error: '(' was never closed");
  EXPECT_EQ(start_error(inline_options("# only a comment\n")),
            "<inline>:1: no function 'authenticator' defined");
  EXPECT_EQ(start_error(inline_options("def authenticator(request):\n    return None\n")),
            "<inline>:1: the function must accept the keyword argument 'context'");
}

TEST(PythonAuthenticatorSource, AcceptsDocstringAndComments) {
  auto authenticator = make_python_authenticator(inline_options(R"("""Module docstring."""
# a comment
async def authenticator(*, context, request, **kwargs):  # trailing comment
    """Function docstring."""
    return None
# trailing
)"));
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kAccept);
}

TEST(PythonAuthenticatorSource, InlineErrorsCountLinesFromTheConfigFile) {
  PythonAuthOptions options =
      inline_options("def authenticator(*, context, request):\n    return None\nimport os\n");
  options.inline_name = "/etc/inlet/node.yaml";
  options.inline_line = 10;
  EXPECT_EQ(start_error(options).rfind("/etc/inlet/node.yaml:13: ", 0), 0u) << start_error(options);
}

class PythonAuthenticatorFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inlet-python-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ / "functions");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(dir_ / path) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(PythonAuthenticatorFiles, LoadsAFileAndReportsItsPath) {
  write("auth.py", "def authenticator(*, context, request, **kwargs):\n    raise KeyError('x')\n");
  PythonAuthOptions options;
  options.file = (dir_ / "auth.py").string();
  auto authenticator = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*authenticator).verdict, Verdict::kInternalError);

  write("bad.py", "def authenticator(*, context, request, **kwargs):\n    pass\nprint('hi')\n");
  options.file = (dir_ / "bad.py").string();
  EXPECT_EQ(start_error(options),
            (dir_ / "bad.py").string() +
                ":3: only the def 'authenticator' is allowed at top level, found an expression");
  EXPECT_THROW(check_python_authenticator(options), std::runtime_error);
}

TEST_F(PythonAuthenticatorFiles, LoadsAFunctionFromALibrary) {
  write("functions/github_team.py", R"(
def github_team(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(["team"]), SimpleUser("octocat")
)");
  PythonAuthOptions options;
  options.library = (dir_ / "functions").string();
  options.function = "github_team";
  check_python_authenticator(options);
  auto authenticator = make_python_authenticator(options);
  EXPECT_EQ(authenticate_once(*authenticator).user, "octocat");

  options.function = "missing";
  EXPECT_NE(start_error(options).find("has no function 'missing'"), std::string::npos);
  options.function = "../etc";
  EXPECT_NE(start_error(options).find("is not a function name"), std::string::npos);
}

TEST(PythonAuthenticatorRequirements, AcceptsInstalledVersions) {
  PythonAuthOptions options =
      inline_options("def authenticator(*, context, request):\n    return None\n");
  options.requirements = {"starlette>=0.20", "fastapi"};
  check_python_authenticator(options);
  EXPECT_NE(make_python_authenticator(options), nullptr);
}

TEST(PythonAuthenticatorRequirements, NamesTheMissingOrMismatchedPackage) {
  PythonAuthOptions options =
      inline_options("def authenticator(*, context, request):\n    return None\n");
  options.requirements = {"fastapi", "nonexistent-pkg==1.0"};
  EXPECT_EQ(start_error(options),
            "authenticator.requirements: requirement 'nonexistent-pkg==1.0': nonexistent-pkg is "
            "not installed "
            "(required ==1.0)");
  options.requirements = {"starlette>=99"};
  const std::string error = start_error(options);
  EXPECT_NE(error.find("requirement 'starlette>=99': starlette 0."), std::string::npos) << error;
  EXPECT_NE(error.find("is installed, required >=99"), std::string::npos) << error;
  options.requirements = {"not a specifier!!"};
  EXPECT_NE(start_error(options).find("not a valid pip specifier"), std::string::npos);
}

TEST(PythonAuthenticator, ManyThreadsShareOneAuthenticator) {
  auto authenticator = make_python_authenticator(inline_options(R"(
def authenticator(*, context, request, **kwargs):
    from starlette.authentication import AuthCredentials, SimpleUser
    return AuthCredentials(), SimpleUser(request.headers["x-token"])
)"));
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const TestRequest request;
      for (int i = 0; i < kPerThread; ++i) {
        const AuthOutcome outcome = authenticate_once(*authenticator, request);
        if (outcome.verdict == Verdict::kAccept && outcome.user == "secret") ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace inlet::python
