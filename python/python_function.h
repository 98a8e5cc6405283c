// The Python functions of consumer nodes (CONTRACT.md section 5), run on the interpreter thread
// authenticators use, with the same source rules, timeouts, context and requirements:
//   processor: def processor(*, context, message, source, **kwargs) -> None | str | iterable of str
//   router:    def bitmapper(*, context, message, source, **kwargs) -> int
// A node's thread hands calls over and is called back; it never touches the GIL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::python {

// Where a function's source is and who it runs for: the keys an `authenticator:`, `processor:` or
// `router:` section shares.
struct PythonFunctionOptions {
  // Exactly one source: inline text, a .py file, or a library folder + function name.
  std::string inline_source;
  std::string file;
  std::string library;
  std::string function;  // a library's function; empty: the kind's def name
  // Where inline source came from, for errors and tracebacks: "FILE:LINE" counts lines from
  // `inline_line` (the line before the source's first line), so a config file can report its own.
  std::string inline_name = "<inline>";
  int inline_line = 0;
  std::string config_json = "{}";         // becomes context.config
  std::vector<std::string> requirements;  // pip specifiers, checked at start
  // Where `inlet requirements install` puts them; on sys.path before the check. Empty: none.
  std::string site_packages;
  std::uint32_t timeout_ms = 2000;
  std::string node;
  std::string tenant;
  // Receives context.logger records: level is logging's (10 debug .. 50 critical).
  std::function<void(int level, const std::string& message)> log_sink;
};

enum class FunctionKind : std::uint8_t { kProcessor, kRouter };

struct FunctionResult {
  enum class Status : std::uint8_t { kOk, kFailed, kTimedOut };
  Status status = Status::kOk;
  std::vector<std::string> outputs;  // processor: what it emitted, in order (not yet validated)
  std::int64_t bitmap = 0;           // router
  std::string error;                 // kFailed / kTimedOut: one line, then the traceback
};

class FunctionCallback {
 public:
  // Exactly once per call(), from the Python thread or the watchdog's. Must not block.
  virtual void on_function_done(FunctionResult&& result) noexcept = 0;

 protected:
  ~FunctionCallback() = default;
};

class PythonFunction {
 public:
  virtual ~PythonFunction() = default;
  // `message` and `source` stay valid until the callback. Never blocks.
  virtual void call(std::string_view message, std::string_view source, FunctionCallback& callback) = 0;
};

// Checks the source (one def named `processor` or `bitmapper`, or the library's function) and the
// requirements, starts the interpreter and loads it. Throws std::runtime_error("file:line: reason").
std::unique_ptr<PythonFunction> make_python_function(FunctionKind kind,
                                                     const PythonFunctionOptions& options);

}  // namespace inlet::python
