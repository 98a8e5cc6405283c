#include "python/python_authenticator.h"

#include "python/function_loader.h"
#include "python/interpreter.h"
#include "python/request_object.h"

namespace inlet::python {

PyObject* AuthJob::call(PyObject* fn, PyObject* context) {
  static PyObject* kwnames = Py_BuildValue("(ss)", "context", "request");  // kept for the process
  view_object = RequestObject::make(this, view);
  PyObject* args[2] = {context, view_object.ptr()};
  return PyObject_Vectorcall(fn, args, 0, kwnames);
}

void AuthJob::take_result(py::handle result) noexcept {
  outcome = outcome_from_result(*program, result);
}

void AuthJob::take_exception(py::handle exc) noexcept {
  outcome = outcome_from_exception(*program, exc);
}

void AuthJob::end_call() noexcept {
  if (view != nullptr) view->detach();
  view = nullptr;
  view_object = py::object();
}

namespace {

const FunctionShape kAuthenticatorShape{"authenticator", "authenticator", {"context", "request"}};

class PythonAuthenticator final : public auth::Authenticator {
 public:
  explicit PythonAuthenticator(const PythonAuthOptions& options)
      : interpreter_(Interpreter::instance()),
        program_(load_program(interpreter_, options, kAuthenticatorShape)) {
    program_->none_means_reject = options.none_means_reject;
  }

  // The runtime stops sending requests before it drops us.
  ~PythonAuthenticator() override { release_program(interpreter_, std::move(program_)); }

  void authenticate(const auth::AuthRequest& request, auth::AuthCallback& callback) override {
    if (program_->live_jobs.fetch_add(1, std::memory_order_acq_rel) >= kMaxPendingJobs) {
      program_->live_jobs.fetch_sub(1, std::memory_order_acq_rel);
      callback.on_auth_done(timeout_outcome());
      return;
    }
    auto* job = new AuthJob();
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
