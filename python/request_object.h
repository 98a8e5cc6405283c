// inlet._native.Request: the authenticator's view of one request. It reads the AuthRequest in place
// (nothing is copied up front) and is detached when its call ends: after that, reading what was not
// read before raises RuntimeError. Python thread only; the runtime adds Starlette-like properties.
#pragma once

#include "python/interpreter.h"

namespace inlet::python {

// One authenticate() call: the request it reads and the callback its outcome goes to.
struct AuthJob final : Job {
  const auth::AuthRequest* request = nullptr;
  auth::AuthCallback* callback = nullptr;
  auth::AuthOutcome outcome;
  // The Python Request of the running call, held until end_call() detaches it.
  py::object view_object;
  class RequestObject* view = nullptr;

  PyObject* call(PyObject* fn, PyObject* context) override;
  void take_result(py::handle result) noexcept override;
  void take_exception(py::handle exc) noexcept override;
  void end_call() noexcept override;
  void send() noexcept override { callback->on_auth_done(std::move(outcome)); }
  void send_timeout() noexcept override { callback->on_auth_done(timeout_outcome()); }
};

class RequestObject {
 public:
  explicit RequestObject(AuthJob* job) : job_(job) {}
  // A new Python Request for `job`; `out` receives the C++ object the Python one owns.
  static py::object make(AuthJob* job, RequestObject*& out);

  void detach() noexcept { job_ = nullptr; }

  // Calls f(const AuthRequest&) while the request is still valid, else raises RuntimeError.
  template <class F>
  auto read(F&& f) const {
    if (job_ == nullptr)
      throw std::runtime_error("the request is gone: its authenticator call has ended");
    std::lock_guard lock(job_->mu);
    if (job_->answered)
      throw std::runtime_error("the request is gone: its authenticator call timed out");
    return f(*job_->request);
  }

  py::object body_;

 private:
  AuthJob* job_;
};

}  // namespace inlet::python
