#include "python/interpreter.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <stdexcept>

#include "codecs/thread_name.h"
#include "python/request_object.h"
#include "python/runtime_source.h"

namespace inlet::python {

namespace {

constexpr int kDrainBatch = 256;
// A deferred answer waits at most this long for the rest of its batch.
constexpr auto kMaxAnswerDelay = std::chrono::microseconds(200);
constexpr auto kWatchdogIdle = std::chrono::milliseconds(200);
constexpr auto kReinterruptEvery = std::chrono::milliseconds(100);
constexpr auto kStuckPoll = std::chrono::milliseconds(10);
constexpr int kLogError = 40;
constexpr int kLogWarning = 30;

void wake(int fd) noexcept {
  const std::uint64_t one = 1;
  while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace

auth::AuthOutcome timeout_outcome() {
  auth::AuthOutcome outcome;
  outcome.verdict = auth::Verdict::kTimeout;
  outcome.detail = "authenticator timed out";
  return outcome;
}

Interpreter& Interpreter::instance() {
  // Deliberately leaked: the interpreter thread runs until the process exits (see the header).
  static Interpreter* interpreter = new Interpreter();
  if (!interpreter->start_error_.empty()) throw std::runtime_error(interpreter->start_error_);
  return *interpreter;
}

Interpreter::Interpreter() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    start_error_ = std::string("python: eventfd: ") + std::strerror(errno);
    return;
  }
  std::promise<void> started;
  std::future<void> ready = started.get_future();
  thread_ = std::thread([this, &started] {
    codecs::name_this_thread("inlet-python");
    // SCHED_BATCH (same share of the CPU, no wake-up preemption): when the I/O thread hands over a
    // request on a shared core, it keeps running and hands over more before this thread takes the
    // batch, instead of the two switching for every request.
    sched_param batch{};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
    // No signal handlers: the node handles SIGINT/SIGTERM itself.
    new py::scoped_interpreter(false);
    python_thread_id_ = PyThread_get_thread_ident();
    python_tstate_ = PyThreadState_Get();
    try {
      py::module_ sys = py::module_::import("sys");
      py::module_ types = py::module_::import("types");
      py::module_ native = py::module_::import("_inlet_native");
      py::object package = types.attr("ModuleType")("inlet");
      package.attr("__path__") = py::list();
      py::dict modules = sys.attr("modules");
      modules["inlet"] = package;
      modules["inlet._native"] = native;
      package.attr("_native") = native;
      runtime_ = py::reinterpret_steal<py::module_>(PyModule_New("inlet._runtime"));
      modules["inlet._runtime"] = runtime_;
      package.attr("_runtime") = runtime_;
      py::object code = py::module_::import("builtins")
                            .attr("compile")(static_cast<const char*>(inlet_python_runtime_source),
                                             "<inlet>/inlet/_runtime.py", "exec");
      py::dict globals = runtime_.attr("__dict__");
      globals["__builtins__"] = py::module_::import("builtins");
      py::module_::import("builtins").attr("exec")(code, globals);
      start_async_ = runtime_.attr("start_async");
    } catch (const std::exception& e) {
      start_error_ = std::string("python: cannot start the embedded interpreter: ") + e.what();
      started.set_value();
      return;  // the interpreter stays half-started: finalizing it here is not safe
    }
    py::object run = runtime_.attr("run");
    started.set_value();
    try {
      run(wake_fd_);
    } catch (const std::exception& e) {
      // The loop never stops on its own; reaching here is a bug. Requests would hang, so fail fast.
      std::fprintf(stderr, "inlet: python event loop died: %s\n", e.what());
      std::abort();
    }
  });
  ready.wait();
  if (!start_error_.empty()) {
    thread_.join();
    return;
  }
  watchdog_ = std::thread([this] { watchdog_main(); });
  interrupter_ = std::thread([this] { interrupter_main(); });
  thread_.detach();
  watchdog_.detach();
  interrupter_.detach();
}

void Interpreter::submit(Job* job) noexcept {
  queue_.push(*job);
  if (!wake_pending_.exchange(true, std::memory_order_seq_cst)) wake(wake_fd_);
}

void Interpreter::run(std::function<void()> fn) {
  std::promise<void> done;
  std::future<void> result = done.get_future();
  auto* job = new Job();
  job->task = [&fn, &done] {
    try {
      fn();
      done.set_value();
    } catch (py::error_already_set& e) {
      // Python errors must die here, with the GIL: carry only their text to the waiting thread.
      done.set_exception(std::make_exception_ptr(std::runtime_error(e.what())));
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  };
  submit(job);
  result.get();
}

bool Interpreter::answer(Job& job) noexcept {
  {
    std::lock_guard lock(job.mu);
    if (job.answered) return false;
    job.answered = true;
  }
  job.send();
  return true;
}

bool Interpreter::answer_timeout(Job& job) noexcept {
  {
    std::lock_guard lock(job.mu);
    if (job.answered) return false;
    job.answered = true;
  }
  job.send_timeout();
  return true;
}

void Interpreter::free_job(Job* job) noexcept {
  if (job->program != nullptr) job->program->live_jobs.fetch_sub(1, std::memory_order_acq_rel);
  delete job;
}

void Interpreter::take_queued_locked() {
  if (backlog_next_ == backlog_.size()) {
    backlog_.clear();
    backlog_next_ = 0;
  }
  for (Job* job = queue_.take_all(); job != nullptr; job = job->next) backlog_.push_back(job);
}

Job* Interpreter::pop_locked() {
  std::lock_guard lock(consumer_mu_);
  if (backlog_next_ == backlog_.size()) take_queued_locked();
  return backlog_next_ < backlog_.size() ? backlog_[backlog_next_++] : nullptr;
}

void Interpreter::drain() {
  std::uint64_t count = 0;
  if (::read(wake_fd_, &count, sizeof count) < 0 && errno != EAGAIN) return;
  wake_pending_.store(false, std::memory_order_seq_cst);
  for (int n = 0; n < kDrainBatch; ++n) {
    Job* job = pop_locked();
    if (job == nullptr) break;
    if (job->task) {
      flush_answers();
      job->task();
      delete job;
      continue;
    }
    if (!deferred_.empty() && Clock::now() - deferred_since_ > kMaxAnswerDelay) flush_answers();
    run_call(job);
    if (n == kDrainBatch - 1) {
      // Let the loop run async tasks between batches; come back for the rest.
      wake_pending_.store(true, std::memory_order_seq_cst);
      wake(wake_fd_);
    }
  }
  flush_answers();
}

void Interpreter::defer_answer(Job* job) {
  if (deferred_.empty()) deferred_since_ = Clock::now();
  deferred_.push_back(job);
}

void Interpreter::flush_answers() noexcept {
  for (Job* job : deferred_) {
    answer(*job);
    free_job(job);
  }
  deferred_.clear();
}

namespace {

// The call raised after its answer (a timeout) went out: the exception is our interrupt, or what
// the function did with it. Where it was is worth a warning; an error it is not.
bool timed_out(Job& job) {
  std::lock_guard lock(job.mu);
  return job.answered;
}

void log_interrupted(const Program& program, py::handle exc) {
  program.log(kLogWarning,
              program.kind + " timed out; it was interrupted here:\n" + describe_exception(exc));
}

}  // namespace

void Interpreter::run_call(Job* job) {
  Program& program = *job->program;
  {
    std::lock_guard lock(job->mu);
    if (job->answered) {  // the watchdog timed it out while the thread was stuck
      free_job(job);
      return;
    }
  }
  if (Clock::now() >= job->deadline) {
    answer_timeout(*job);
    free_job(job);
    return;
  }
  if (!program.is_async) watch_begin(job);
  PyObject* raw = job->call(program.fn.ptr(), program.context.ptr());
  if (!program.is_async) watch_end();
  if (raw != nullptr && (program.is_async || PyCoro_CheckExact(raw))) {
    py::object coro = py::reinterpret_steal<py::object>(watch_coroutine(raw, job));
    Py_DECREF(raw);
    if (!coro) {
      job->take_exception(fetch_exception());
      answer(*job);
      job->end_call();
      free_job(job);
      return;
    }
    const auto left = std::chrono::duration<double>(job->deadline - Clock::now()).count();
    py::object handle = make_call_handle(job);
    PyObject* ok = PyObject_CallFunction(start_async_.ptr(), "OOd", coro.ptr(), handle.ptr(),
                                         left > 0 ? left : 0.0);
    if (ok != nullptr) {
      Py_DECREF(ok);
      return;  // finish_task() answers and frees the job
    }
    raw = nullptr;  // start_async failed: report its error below
  }
  if (raw == nullptr) {
    py::object exc = fetch_exception();
    if (timed_out(*job)) {
      log_interrupted(program, exc);
      job->end_call();
      free_job(job);
      return;
    }
    job->take_exception(exc);
  } else {
    job->take_result(py::reinterpret_steal<py::object>(raw));
  }
  job->end_call();
  defer_answer(job);
}

void Interpreter::watch_begin(Job* job) noexcept {
  std::lock_guard lock(running_mu_);
  running_job_ = job;
  ++running_seq_;
  running_deadline_ = job->deadline;
  running_timed_out_ = false;
  // Under load the watchdog sleeps until the running call's deadline and needs no wake-up; wake
  // it only when this deadline comes before the one it sleeps towards.
  if (job->deadline < watchdog_wake_at_) {
    watchdog_wake_at_ = job->deadline;
    watchdog_cv_.notify_one();
  }
}

void Interpreter::watch_end() noexcept {
  std::lock_guard lock(running_mu_);
  running_job_ = nullptr;
  // An interrupt that arrived as the call returned must not hit whatever runs next.
  if (running_timed_out_) PyThreadState_SetAsyncExc(python_thread_id_, nullptr);
  if (tracing_) {
    PyEval_SetTrace(nullptr, nullptr);
    tracing_ = false;
  }
}

void Interpreter::finish_task(Job* job, py::handle task) {
  const Program& program = *job->program;
  if (task.attr("cancelled")().cast<bool>()) {
    answer_timeout(*job);
  } else {
    py::object exc = task.attr("exception")();
    if (!exc.is_none() && timed_out(*job)) {
      log_interrupted(program, exc);
      job->end_call();
      free_job(job);
      return;
    }
    if (exc.is_none()) {
      job->take_result(task.attr("result")());
    } else {
      job->take_exception(exc);
    }
    answer(*job);
  }
  job->end_call();
  free_job(job);
}

namespace {

// Installed on a call that caught the TimeoutError and kept going (`except BaseException: pass` in
// a loop): every new line or call raises again, so even its handlers fail and the call unwinds.
int raise_timeout(PyObject*, PyFrameObject*, int what, PyObject*) {
  if (what != PyTrace_LINE && what != PyTrace_CALL) return 0;
  PyErr_SetString(PyExc_TimeoutError, "the function timed out");
  return -1;
}

}  // namespace

void Interpreter::interrupter_main() {
  codecs::name_this_thread("inlet-py-intr");
  std::uint64_t done = 0;
  std::uint64_t last_seq = 0;
  for (;;) {
    std::uint64_t seq = 0;
    {
      std::unique_lock lock(interrupt_mu_);
      interrupt_cv_.wait(lock, [&] { return interrupt_requests_ != done; });
      done = interrupt_requests_;
      seq = interrupt_seq_;
    }
    // Its own thread, because taking the GIL blocks while the call is stuck in C holding it; the
    // watchdog must keep answering. pybind11's gil_scoped_acquire crashed here: use the C API.
    const PyGILState_STATE gil = PyGILState_Ensure();
    {
      // Under the GIL the Python thread is between bytecodes; running_* only change with the GIL
      // held, so the check below cannot race with the call ending.
      std::lock_guard lock(running_mu_);
      if (running_job_ != nullptr && running_seq_ == seq) {
        PyThreadState_SetAsyncExc(python_thread_id_, PyExc_TimeoutError);
        // A second interrupt of the same call means the first one was swallowed.
        if (seq == last_seq && !tracing_ &&
            _PyEval_SetTrace(python_tstate_, raise_timeout, nullptr) == 0) {
          tracing_ = true;
        }
        PyErr_Clear();  // _PyEval_SetTrace's audit hook may fail on this thread; nothing to do
        last_seq = seq;
      }
    }
    PyGILState_Release(gil);
  }
}

void Interpreter::watchdog_main() {
  codecs::name_this_thread("inlet-py-watch");
  Clock::time_point last_interrupt{};
  std::unique_lock lock(running_mu_);
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (running_job_ != nullptr && now >= running_deadline_) {
      Job* job = running_job_;
      if (!running_timed_out_) {
        running_timed_out_ = true;
        last_interrupt = {};
        if (answer_timeout(*job)) {
          job->program->log(kLogWarning, job->program->kind + " timed out after " +
                                             std::to_string(job->program->timeout.count()) +
                                             " ms; interrupting it");
        }
      }
      if (now - last_interrupt >= kReinterruptEvery) {
        last_interrupt = now;
        {
          std::lock_guard interrupt_lock(interrupt_mu_);
          interrupt_seq_ = running_seq_;
          ++interrupt_requests_;
        }
        interrupt_cv_.notify_one();
      }
      lock.unlock();
      expire_queued(now);
      lock.lock();
      watchdog_wake_at_ = now + kStuckPoll;
      watchdog_cv_.wait_until(lock, watchdog_wake_at_);
      continue;
    }
    watchdog_wake_at_ = running_job_ != nullptr ? running_deadline_ : now + kWatchdogIdle;
    watchdog_cv_.wait_until(lock, watchdog_wake_at_);
  }
}

void Interpreter::expire_queued(Clock::time_point now) {
  std::lock_guard lock(consumer_mu_);
  take_queued_locked();
  for (std::size_t i = backlog_next_; i < backlog_.size(); ++i) {
    Job* job = backlog_[i];
    if (job->task || job->deadline > now) continue;
    answer_timeout(*job);
  }
}

py::object fetch_exception() noexcept {
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (value != nullptr && traceback != nullptr) PyException_SetTraceback(value, traceback);
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  if (value == nullptr) {
    Py_INCREF(Py_None);
    value = Py_None;
  }
  return py::reinterpret_steal<py::object>(value);
}

namespace {

auth::AuthOutcome internal_error(const Program& program, const std::string& what) {
  program.log(kLogError, what);
  auth::AuthOutcome outcome;
  outcome.verdict = auth::Verdict::kInternalError;
  outcome.detail = "internal error";
  return outcome;
}

}  // namespace

std::string describe_exception(py::handle exc) {
  try {
    return Interpreter::instance().runtime().attr("format_exception")(exc).cast<std::string>();
  } catch (const std::exception& e) {
    PyErr_Clear();
    return e.what();
  }
}

py::object optional_attr(py::handle object, const char* name) {
  PyObject* value = PyObject_GetAttrString(object.ptr(), name);
  if (value == nullptr) {
    PyErr_Clear();
    return py::none();
  }
  return py::reinterpret_steal<py::object>(value);
}

namespace {

// BaseUser.identity raises NotImplementedError; raising and clearing it costs microseconds per
// request, so Starlette's own property is recognised and skipped.
bool has_base_identity(py::handle user) {
  static PyObject* base_identity = [] {
    PyObject* module = PyImport_ImportModule("starlette.authentication");
    PyObject* base = module != nullptr ? PyObject_GetAttrString(module, "BaseUser") : nullptr;
    PyObject* property = base != nullptr ? PyObject_GetAttrString(base, "identity") : nullptr;
    Py_XDECREF(module);
    Py_XDECREF(base);
    PyErr_Clear();
    return property;  // kept for the life of the process, like the interpreter
  }();
  if (base_identity == nullptr) return false;
  PyObject* property = _PyType_Lookup(Py_TYPE(user.ptr()), py::str("identity").ptr());
  return property == base_identity;
}

}  // namespace

auth::AuthOutcome outcome_from_result(const Program& program, py::handle result) noexcept {
  auth::AuthOutcome outcome;
  if (result.is_none()) {
    if (program.none_means_reject) {
      outcome.verdict = auth::Verdict::kReject;
      outcome.detail = "Forbidden";
    }
    return outcome;
  }
  try {
    if (!(PyTuple_Check(result.ptr()) || PyList_Check(result.ptr())) || py::len(result) != 2) {
      return internal_error(program, "authenticator returned " +
                                         py::str(py::type::of(result)).cast<std::string>() +
                                         "; expected None or (AuthCredentials, BaseUser)");
    }
    py::object credentials = result[py::int_(0)];
    py::object user = result[py::int_(1)];
    if (!py::bool_(user.attr("is_authenticated"))) {
      outcome.verdict = auth::Verdict::kReject;
      outcome.detail = "Forbidden";
      return outcome;
    }
    outcome.has_user = true;
    py::object identity = has_base_identity(user) ? py::none() : optional_attr(user, "identity");
    if (!identity.is_none()) outcome.identity = py::str(identity).cast<std::string>();
    // Starlette's BaseUser leaves display_name unimplemented; a user class defining only
    // is_authenticated and identity is the platform's common shape.
    py::object display_name = optional_attr(user, "display_name");
    outcome.user = display_name.is_none() ? outcome.identity : py::str(display_name).cast<std::string>();
    if (!credentials.is_none()) {
      py::object scopes = optional_attr(credentials, "scopes");
      if (!scopes.is_none()) {
        for (py::handle scope : scopes)
          outcome.scopes.push_back(py::str(scope).cast<std::string>());
      }
    }
    return outcome;
  } catch (py::error_already_set& e) {
    return internal_error(
        program, "authenticator returned a malformed result:\n" + describe_exception(e.value()));
  } catch (const std::exception& e) {
    return internal_error(program,
                          std::string("authenticator returned a malformed result: ") + e.what());
  }
}

auth::AuthOutcome outcome_from_exception(const Program& program, py::handle exc) noexcept {
  try {
    py::object status = optional_attr(exc, "status_code");
    if (PyLong_Check(status.ptr()) && !PyBool_Check(status.ptr())) {
      const long code = PyLong_AsLong(status.ptr());
      if (code >= 100 && code <= 599) {
        auth::AuthOutcome outcome;
        outcome.verdict = auth::Verdict::kHttpError;
        outcome.status = static_cast<int>(code);
        py::object detail = optional_attr(exc, "detail");
        if (PyUnicode_Check(detail.ptr())) {
          outcome.detail = detail.cast<std::string>();
        } else if (!detail.is_none()) {  // FastAPI answers {"detail": <the value>} for any type
          outcome.detail = py::module_::import("json").attr("dumps")(detail).cast<std::string>();
          outcome.detail_is_json = true;
        }
        py::object headers = optional_attr(exc, "headers");
        if (!headers.is_none() && py::hasattr(headers, "items")) {
          for (py::handle item : headers.attr("items")()) {
            outcome.headers.emplace_back(py::str(item[py::int_(0)]).cast<std::string>(),
                                         py::str(item[py::int_(1)]).cast<std::string>());
          }
        }
        return outcome;
      }
      PyErr_Clear();
    }
    return internal_error(program,
                          "authenticator raised an exception:\n" + describe_exception(exc));
  } catch (py::error_already_set& e) {
    return internal_error(
        program, "authenticator raised an unusable exception:\n" + describe_exception(e.value()));
  } catch (const std::exception& e) {
    return internal_error(program,
                          std::string("authenticator raised an unusable exception: ") + e.what());
  }
}

}  // namespace inlet::python
