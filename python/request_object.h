// inlet._native.Request: the authenticator's view of one request. It reads the AuthRequest in place
// (nothing is copied up front) and is detached when its call ends: after that, reading what was not
// read before raises RuntimeError. Python thread only; the runtime adds Starlette-like properties.
#pragma once

#include "python/interpreter.h"

namespace inlet::python {

class RequestObject {
 public:
  explicit RequestObject(Job* job) : job_(job) {}
  // A new Python Request for `job`; `out` receives the C++ object the Python one owns.
  static py::object make(Job* job, RequestObject*& out);

  void detach() noexcept { job_ = nullptr; }
  // The async call ended: answer from the task's result or exception, then free the job.
  void finish_task(py::handle task);
  // The async call ran past its deadline: answer kTimeout now (the task is being cancelled).
  void answer_timeout();

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
  Job* job_;
};

}  // namespace inlet::python
