#include "python/python_function.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "codecs/json_validator.h"

namespace inlet::python {
namespace {

using namespace std::chrono_literals;
using Status = FunctionResult::Status;

class Recorder final : public FunctionCallback {
 public:
  void on_function_done(FunctionResult&& result) noexcept override {
    promise_.set_value(std::move(result));
  }
  FunctionResult wait() {
    auto future = promise_.get_future();
    if (future.wait_for(10s) != std::future_status::ready)
      throw std::runtime_error("no callback in 10 s");
    return future.get();
  }

 private:
  std::promise<FunctionResult> promise_;
};

PythonFunctionOptions inline_options(std::string source, std::uint32_t timeout_ms = 2000) {
  PythonFunctionOptions options;
  options.inline_source = std::move(source);
  options.node = "split";
  options.timeout_ms = timeout_ms;
  return options;
}

FunctionResult call_once(PythonFunction& function, std::string message = R"({"n": 2})") {
  Recorder recorder;
  function.call(message, "raw", recorder);
  return recorder.wait();
}

// Loads `source` and calls it once with the default message.
FunctionResult call_source(FunctionKind kind, const std::string& source) {
  auto function = make_python_function(kind, inline_options(source));
  return call_once(*function);
}

std::string load_error(FunctionKind kind, const PythonFunctionOptions& options) {
  try {
    make_python_function(kind, options);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PythonFunction, ProcessorReturnsNoneAStrAListOrAGenerator) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"    return None\n", {}},
      {"    return message\n", {R"({"n": 2})"}},
      {"    return [source, message]\n", {"raw", R"({"n": 2})"}},
      {"    import json\n    for i in range(json.loads(message)['n']):\n        yield str(i)\n",
       {"0", "1"}},
  };
  for (const auto& [body, expected] : cases) {
    auto function = make_python_function(
        FunctionKind::kProcessor,
        inline_options("def processor(*, context, message, source, **kwargs):\n" + body));
    const FunctionResult result = call_once(*function);
    EXPECT_EQ(result.status, Status::kOk) << body << result.error;
    EXPECT_EQ(result.outputs, expected) << body;
  }
}

// Outputs are the str's UTF-8, byte for byte, with room for the validator's padding; a str that
// has no UTF-8 form (a lone surrogate) fails the call instead of being mangled.
TEST(PythonFunction, ProcessorOutputsAreUtf8WithPadding) {
  auto function = make_python_function(FunctionKind::kProcessor, inline_options(R"(
def processor(*, context, message, source, **kwargs):
    return [message, '{"name": "Zo\u00eb \u2603 \U0001F600"}']
)"));
  const std::string accented = "{\"name\": \"Ren\u00e9e\"}";  // UTF-8 bytes straight through
  const FunctionResult result = call_once(*function, accented);
  ASSERT_EQ(result.status, Status::kOk) << result.error;
  EXPECT_EQ(result.outputs, (std::vector<std::string>{
                                accented, "{\"name\": \"Zo\u00eb \u2603 \U0001F600\"}"}));
  for (const std::string& output : result.outputs) {
    EXPECT_GE(output.capacity(), output.size() + codecs::kJsonPadding);
  }

  const FunctionResult refused = call_source(FunctionKind::kProcessor, R"(
def processor(*, context, message, source, **kwargs):
    return '\ud800'
)");
  EXPECT_EQ(refused.status, Status::kFailed);
  EXPECT_NE(refused.error.find("surrogates not allowed"), std::string::npos) << refused.error;
}

TEST(PythonFunction, AsyncProcessorAndContextConfig) {
  PythonFunctionOptions options = inline_options(R"(
async def processor(*, context, message, source, **kwargs):
    import asyncio
    await asyncio.sleep(0)
    return [context.config["prefix"] + message, context.node]
)");
  options.config_json = R"({"prefix": "p:"})";
  auto function = make_python_function(FunctionKind::kProcessor, options);
  const FunctionResult result = call_once(*function, "1");
  EXPECT_EQ(result.status, Status::kOk) << result.error;
  EXPECT_EQ(result.outputs, (std::vector<std::string>{"p:1", "split"}));
}

TEST(PythonFunction, ProcessorFailuresCarryTheReason) {
  FunctionResult result = call_source(FunctionKind::kProcessor, R"(
def processor(*, context, message, source, **kwargs):
    raise ValueError("bad commit")
)");
  EXPECT_EQ(result.status, Status::kFailed);
  EXPECT_NE(result.error.find("ValueError: bad commit"), std::string::npos) << result.error;

  result = call_source(FunctionKind::kProcessor, R"(
def processor(*, context, message, source, **kwargs):
    return [b"bytes"]
)");
  EXPECT_EQ(result.status, Status::kFailed);
  EXPECT_NE(result.error.find("every output must be a str"), std::string::npos) << result.error;

  auto spins = make_python_function(FunctionKind::kProcessor, inline_options(R"(
def processor(*, context, message, source, **kwargs):
    while True:
        pass
)", 100));
  result = call_once(*spins);
  EXPECT_EQ(result.status, Status::kTimedOut);
  EXPECT_EQ(result.error, "processor timed out after 100 ms");
  // The interpreter is free again: the spinning call was interrupted.
  auto next = make_python_function(FunctionKind::kProcessor,
                                   inline_options("def processor(*, context, message, source):\n"
                                                  "    return 'ok'\n"));
  EXPECT_EQ(call_once(*next).outputs, (std::vector<std::string>{"ok"}));
}

TEST(PythonFunction, RouterReturnsABitmap) {
  auto router = make_python_function(FunctionKind::kRouter, inline_options(R"(
def bitmapper(*, context, message, source, **kwargs):
    return 1 if "docs/" in message else 2
)"));
  EXPECT_EQ(call_once(*router, R"({"path": "docs/a.md"})").bitmap, 1);
  EXPECT_EQ(call_once(*router, R"({"path": "src/a.cc"})").bitmap, 2);

  const FunctionResult result = call_source(FunctionKind::kRouter, R"(
def bitmapper(*, context, message, source, **kwargs):
    return "1"
)");
  EXPECT_EQ(result.status, Status::kFailed);
  EXPECT_EQ(result.error, "bitmapper returned str; expected an int");
}

TEST(PythonFunction, SourceChecksNameTheDefAndTheKeywords) {
  PythonFunctionOptions options =
      inline_options("def authenticator(*, context, request):\n    return None\n");
  options.inline_name = "pipeline.yaml";
  options.inline_line = 10;
  EXPECT_EQ(load_error(FunctionKind::kProcessor, options),
            "pipeline.yaml:11: the function must be named 'processor', found 'authenticator'");
  options.inline_source = "def bitmapper(*, context, message):\n    return 1\n";
  EXPECT_EQ(load_error(FunctionKind::kRouter, options),
            "pipeline.yaml:11: the function must accept the keyword argument 'source'");
}

}  // namespace
}  // namespace inlet::python
