#include "python/function_loader.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

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

// The def a source must hold: the kind's (`authenticator`, as the platform names every
// authenticator's def); a library function whose name is an identifier may also be a def of that
// name (inlet's first convention, kept so those libraries still load).
py::tuple def_names(const PythonFunctionOptions& options, const FunctionShape& shape) {
  if (!options.library.empty() && options.function != shape.def_name &&
      is_identifier(options.function)) {
    return py::make_tuple(shape.def_name, options.function);
  }
  return py::make_tuple(shape.def_name);
}

std::string read_file(const std::string& path, const FunctionShape& shape) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ":1: cannot read the " + shape.kind + " source");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Source read_source(const PythonFunctionOptions& options, const FunctionShape& shape) {
  const int sources = int{!options.inline_source.empty()} + int{!options.file.empty()} +
                      int{!options.library.empty()};
  if (sources != 1) {
    throw std::runtime_error(shape.kind +
                             ": exactly one of inline, file or library is required, got " +
                             std::to_string(sources));
  }
  if (!options.library.empty() && !is_function_name(options.function) &&
      !is_identifier(options.function)) {
    throw std::runtime_error(shape.kind + ": function '" + options.function +
                             "' is not a function name (3 to 80 letters, digits, '-_.:' and "
                             "spaces, as in acme.api-key)");
  }
  if (!options.inline_source.empty())
    return {options.inline_source, options.inline_name, options.inline_line};
  if (!options.file.empty()) return {read_file(options.file, shape), options.file, 0};
  const std::filesystem::path path =
      std::filesystem::path(options.library) / (options.function + ".py");
  if (!std::filesystem::is_regular_file(path)) {
    throw std::runtime_error(options.library + ":1: the library has no function '" +
                             options.function + "' (no " + path.string() + ")");
  }
  return {read_file(path.string(), shape), path.string(), 0};
}

// Python thread, GIL held.
void validate(py::module_& runtime, const Source& source, const PythonFunctionOptions& options,
              const FunctionShape& shape, const py::tuple& keywords) {
  py::object problem = runtime.attr("validate")(source.text, source.filename,
                                                def_names(options, shape), keywords);
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
    throw std::runtime_error(shape.kind + ".requirements: " + missing.cast<std::string>());
}

}  // namespace

std::unique_ptr<Program> load_program(Interpreter& interpreter, const PythonFunctionOptions& options,
                                      const FunctionShape& shape) {
  const Source source = read_source(options, shape);
  auto program = std::make_unique<Program>();
  program->kind = shape.kind;
  program->timeout = std::chrono::milliseconds(options.timeout_ms);
  program->log_sink = options.log_sink;
  Program* loading = program.get();
  interpreter.run([&] {
    py::module_& runtime = interpreter.runtime();
    py::tuple keywords(shape.keywords.size());
    for (std::size_t i = 0; i < shape.keywords.size(); ++i) keywords[i] = py::str(shape.keywords[i]);
    validate(runtime, source, options, shape, keywords);
    py::tuple loaded;
    try {
      loaded = runtime.attr("load")(source.text, source.filename, def_names(options, shape),
                                    source.line_offset, keywords);
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_ValueError)) {
        py::tuple args = e.value().attr("args");
        if (py::len(args) == 2) {
          throw std::runtime_error(source.filename + ":" + py::str(args[0]).cast<std::string>() +
                                   ": " + py::str(args[1]).cast<std::string>());
        }
      }
      throw std::runtime_error(source.filename + ":1: cannot load the " + shape.kind + ": " +
                               e.what());
    }
    loading->fn = loaded[0];
    loading->is_async = loaded[1].cast<bool>();
    py::cpp_function sink(
        [loading](int level, const std::string& message) { loading->log(level, message); });
    loading->context =
        runtime.attr("make_context")(options.config_json, options.node, options.tenant, sink);
  });
  return program;
}

void release_program(Interpreter& interpreter, std::unique_ptr<Program> owned) {
  // Wait for calls still finishing (an async task being cancelled), then release the Python
  // objects on the Python thread.
  const auto give_up = Clock::now() + owned->timeout + std::chrono::seconds(2);
  while (owned->live_jobs.load(std::memory_order_acquire) != 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Program* program = owned.release();
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
  interpreter.submit(job);
}

}  // namespace inlet::python
