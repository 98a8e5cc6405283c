#include "python/python_function.h"

#include "codecs/json_validator.h"
#include "python/function_loader.h"
#include "python/interpreter.h"

namespace inlet::python {

namespace {

const FunctionShape kProcessorShape{"processor", "processor", {"context", "message", "source"}};
const FunctionShape kRouterShape{"router", "bitmapper", {"context", "message", "source"}};

// Jobs waiting for or running on the Python thread per function; a node keeps far fewer in flight
// (its concurrency), so this only stops a runaway caller.
constexpr std::uint32_t kMaxPendingCalls = 10000;

py::str utf8_str(std::string_view text) {
  PyObject* s = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
  if (s == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(s);
}

// A str's UTF-8 (cached in the object, or the object's own bytes when it is ASCII) copied once
// into a string with room for the JSON validator's padding, so validating it copies nothing more.
std::string padded_utf8(py::handle str) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(str.ptr(), &size);
  if (data == nullptr) throw py::error_already_set();
  std::string out;
  out.reserve(static_cast<std::size_t>(size) + codecs::kJsonPadding);
  out.assign(data, static_cast<std::size_t>(size));
  return out;
}

std::string type_name(py::handle value) { return Py_TYPE(value.ptr())->tp_name; }

// One processor or bitmapper call. Its result is read on the Python thread into `result`.
struct FunctionJob final : Job {
  FunctionKind kind = FunctionKind::kProcessor;
  std::string_view message;
  std::string_view source;
  FunctionCallback* callback = nullptr;
  FunctionResult result;

  PyObject* call(PyObject* fn, PyObject* context) override {
    static PyObject* kwnames = Py_BuildValue("(sss)", "context", "message", "source");
    try {
      py::str message_object = utf8_str(message);
      py::str source_object = utf8_str(source);
      PyObject* args[3] = {context, message_object.ptr(), source_object.ptr()};
      PyObject* raw = PyObject_Vectorcall(fn, args, 0, kwnames);
      // A generator runs the user's code as it is consumed: consume it here, under the watchdog.
      if (raw != nullptr && PyGen_Check(raw)) {
        PyObject* list = PySequence_List(raw);
        Py_DECREF(raw);
        return list;
      }
      return raw;
    } catch (py::error_already_set& e) {
      e.restore();
      return nullptr;
    }
  }

  void take_result(py::handle value) noexcept override {
    try {
      if (kind == FunctionKind::kRouter) {
        if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr())) {
          fail("bitmapper returned " + type_name(value) + "; expected an int");
          return;
        }
        const long long bitmap = PyLong_AsLongLong(value.ptr());
        if (bitmap == -1 && PyErr_Occurred()) {
          PyErr_Clear();
          fail("bitmapper returned an int out of range");
          return;
        }
        result.bitmap = bitmap;
        return;
      }
      if (value.is_none()) return;
      if (PyUnicode_Check(value.ptr())) {
        result.outputs.push_back(padded_utf8(value));
        return;
      }
      if (PyBytes_Check(value.ptr()) || !py::isinstance<py::iterable>(value)) {
        fail("processor returned " + type_name(value) + "; expected None, a str or an iterable of str");
        return;
      }
      for (py::handle item : value) {
        if (!PyUnicode_Check(item.ptr())) {
          result.outputs.clear();
          fail("processor returned an iterable holding " + type_name(item) + "; every output must be a str");
          return;
        }
        result.outputs.push_back(padded_utf8(item));
      }
    } catch (py::error_already_set& e) {
      result.outputs.clear();
      fail(std::string(program->kind) + " returned a result that cannot be read:\n" +
           describe_exception(e.value()));
    } catch (const std::exception& e) {
      fail(std::string(program->kind) + " returned a result that cannot be read: " + e.what());
    }
  }

  void take_exception(py::handle exc) noexcept override {
    fail(std::string(program->kind) + " raised an exception:\n" + describe_exception(exc));
  }

  void send() noexcept override { callback->on_function_done(std::move(result)); }

  void send_timeout() noexcept override {
    FunctionResult timeout;
    timeout.status = FunctionResult::Status::kTimedOut;
    timeout.error = program->kind + " timed out after " + std::to_string(program->timeout.count()) + " ms";
    callback->on_function_done(std::move(timeout));
  }

  void fail(std::string error) {
    result.status = FunctionResult::Status::kFailed;
    result.error = std::move(error);
  }
};

class LoadedFunction final : public PythonFunction {
 public:
  LoadedFunction(FunctionKind kind, const PythonFunctionOptions& options)
      : kind_(kind),
        interpreter_(Interpreter::instance()),
        program_(load_program(interpreter_, options,
                              kind == FunctionKind::kRouter ? kRouterShape : kProcessorShape)) {}

  ~LoadedFunction() override { release_program(interpreter_, std::move(program_)); }

  void call(std::string_view message, std::string_view source, FunctionCallback& callback) override {
    if (program_->live_jobs.fetch_add(1, std::memory_order_acq_rel) >= kMaxPendingCalls) {
      program_->live_jobs.fetch_sub(1, std::memory_order_acq_rel);
      FunctionResult busy;
      busy.status = FunctionResult::Status::kFailed;
      busy.error = program_->kind + ": too many calls waiting for the interpreter";
      callback.on_function_done(std::move(busy));
      return;
    }
    auto* job = new FunctionJob();
    job->kind = kind_;
    job->message = message;
    job->source = source;
    job->callback = &callback;
    job->program = program_.get();
    job->deadline = Clock::now() + program_->timeout;
    interpreter_.submit(job);
  }

 private:
  FunctionKind kind_;
  Interpreter& interpreter_;
  std::unique_ptr<Program> program_;
};

}  // namespace

std::unique_ptr<PythonFunction> make_python_function(FunctionKind kind,
                                                     const PythonFunctionOptions& options) {
  return std::make_unique<LoadedFunction>(kind, options);
}

}  // namespace inlet::python
