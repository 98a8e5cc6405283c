#include "python/python_authenticator.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "python/interpreter.h"

namespace inlet::python {

namespace {

struct Source {
  std::string text;
  std::string filename;
  int line_offset = 0;
};

bool is_identifier(const std::string& name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

// The managed platform's function names: `acme.api-key`, 3 to 80 of letters, digits, -_.: and
// spaces, not starting or ending with a space. A name is also a file name, so no '/'.
bool is_function_name(const std::string& name) {
  if (name.size() < 3 || name.size() > 80 || name.front() == ' ' || name.back() == ' ') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':' || c == ' ';
    if (!ok) return false;
  }
  return true;
}

// The def a source must hold: `authenticator`, as the platform names every function's def; a
// library function whose name is an identifier may also be a def of that name (inlet's first
// convention, kept so those libraries still load).
py::tuple def_names(const PythonAuthOptions& options) {
  if (!options.library.empty() && options.function != "authenticator" &&
      is_identifier(options.function)) {
    return py::make_tuple("authenticator", options.function);
  }
  return py::make_tuple("authenticator");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ":1: cannot read the authenticator source");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Source read_source(const PythonAuthOptions& options) {
  const int sources = int{!options.inline_source.empty()} + int{!options.file.empty()} +
                      int{!options.library.empty()};
  if (sources != 1) {
    throw std::runtime_error(
        "authenticator: exactly one of inline, file or library is required, got " +
        std::to_string(sources));
  }
  if (!options.library.empty() && !is_function_name(options.function) &&
      !is_identifier(options.function)) {
    throw std::runtime_error("authenticator: function '" + options.function +
                             "' is not a function name (3 to 80 letters, digits, '-_.:' and "
                             "spaces, as in acme.api-key)");
  }
  if (!options.inline_source.empty())
    return {options.inline_source, options.inline_name, options.inline_line};
  if (!options.file.empty()) return {read_file(options.file), options.file, 0};
  const std::filesystem::path path =
      std::filesystem::path(options.library) / (options.function + ".py");
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error(options.library + ":1: the library has no function '" +
                             options.function + "' (no " + path.string() + ")");
  }
  return {read_file(path.string()), path.string(), 0};
}

// Python thread, GIL held.
void validate(py::module_& runtime, const Source& source, const PythonAuthOptions& options) {
  py::object problem = runtime.attr("validate")(source.text, source.filename, def_names(options));
  if (!problem.is_none()) {
    const int line = problem[py::int_(0)].cast<int>() + source.line_offset;
    throw std::runtime_error(source.filename + ":" + std::to_string(line) + ": " +
                             problem[py::int_(1)].cast<std::string>());
  }
  if (!options.site_packages.empty()) runtime.attr("use_site_packages")(options.site_packages);
  py::list requirements;
  for (const std::string& r : options.requirements) requirements.append(r);
  py::object missing = runtime.attr("check_requirements")(requirements);
  if (!missing.is_none())
    throw std::runtime_error("authenticator.requirements: " + missing.cast<std::string>());
}

class PythonAuthenticator final : public auth::Authenticator {
 public:
  explicit PythonAuthenticator(const PythonAuthOptions& options)
      : interpreter_(Interpreter::instance()), program_(std::make_unique<Program>()) {
    const Source source = read_source(options);
    program_->none_means_reject = options.none_means_reject;
    program_->timeout = std::chrono::milliseconds(options.timeout_ms);
    program_->log_sink = options.log_sink;
    Program* program = program_.get();
    interpreter_.run([&] {
      py::module_& runtime = interpreter_.runtime();
      validate(runtime, source, options);
      py::tuple loaded;
      try {
        loaded = runtime.attr("load")(source.text, source.filename, def_names(options),
                                      source.line_offset);
      } catch (py::error_already_set& e) {
        if (e.matches(PyExc_ValueError)) {
          py::tuple args = e.value().attr("args");
          if (py::len(args) == 2) {
            throw std::runtime_error(source.filename + ":" + py::str(args[0]).cast<std::string>() +
                                     ": " + py::str(args[1]).cast<std::string>());
          }
        }
        throw std::runtime_error(source.filename +
                                 ":1: cannot load the authenticator: " + e.what());
      }
      program->fn = loaded[0];
      program->is_async = loaded[1].cast<bool>();
      py::cpp_function sink(
          [program](int level, const std::string& message) { program->log(level, message); });
      program->context =
          runtime.attr("make_context")(options.config_json, options.node, options.tenant, sink);
    });
  }

  ~PythonAuthenticator() override {
    // The runtime stops sending requests before it drops us; wait for calls still finishing (an
    // async task being cancelled), then release the Python objects on the Python thread.
    const auto give_up = Clock::now() + program_->timeout + std::chrono::seconds(2);
    while (program_->live_jobs.load(std::memory_order_acquire) != 0 && Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    Program* program = program_.release();
    auto* job = new Job();
    job->task = [program] {
      // A call stuck in C still points at the program: leak it rather than crash.
      if (program->live_jobs.load(std::memory_order_acquire) != 0) return;
      try {
        program->context.attr("_close")();
      } catch (py::error_already_set&) {
      }
      delete program;
    };
    interpreter_.submit(job);
  }

  void authenticate(const auth::AuthRequest& request, auth::AuthCallback& callback) override {
    if (program_->live_jobs.fetch_add(1, std::memory_order_acq_rel) >= kMaxPendingJobs) {
      program_->live_jobs.fetch_sub(1, std::memory_order_acq_rel);
      callback.on_auth_done(timeout_outcome());
      return;
    }
    auto* job = new Job();
    job->request = &request;
    job->callback = &callback;
    job->program = program_.get();
    job->deadline = Clock::now() + program_->timeout;
    interpreter_.submit(job);
  }

 private:
  Interpreter& interpreter_;
  std::unique_ptr<Program> program_;
};

}  // namespace

std::unique_ptr<auth::Authenticator> make_python_authenticator(const PythonAuthOptions& options) {
  return std::make_unique<PythonAuthenticator>(options);
}

void check_python_authenticator(const PythonAuthOptions& options) {
  make_python_authenticator(options);
}

}  // namespace inlet::python
