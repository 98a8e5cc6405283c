// The embedded CPython interpreter and the one thread that owns it. I/O threads submit jobs through
// a lock-free MPSC queue and wake the thread with an eventfd that its asyncio loop watches, so they
// never touch the GIL. A watchdog thread answers kTimeout for a sync call (or a queue stuck behind
// one) at its deadline, and an interrupter thread raises TimeoutError in the running Python code.
//
// CPython is process-global, so there is one Interpreter per process: it starts on first use and
// lives until the process exits (finalizing and re-initializing CPython is not reliable with
// extension modules). Internal to inlet::python.
#pragma once

#include <pybind11/embed.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "auth/authenticator.h"
#include "codecs/handoff_list.h"

namespace inlet::python {

namespace py = pybind11;
using Clock = std::chrono::steady_clock;

// A loaded function: an authenticator, a processor or a bitmapper. Its Python objects are created
// and released on the Python thread.
struct Program {
  py::object fn;
  py::object context;
  bool is_async = false;
  bool none_means_reject = false;
  std::string kind = "authenticator";  // names the function in timeouts and errors
  std::chrono::milliseconds timeout{2000};
  std::function<void(int level, const std::string& message)> log_sink;
  // Jobs submitted and not yet freed; bounds the queue and tells the owner when it may go.
  std::atomic<std::uint32_t> live_jobs{0};

  void log(int level, const std::string& message) const {
    if (log_sink) log_sink(level, message);
  }
};

// One call of a Program, or a task to run on the Python thread (`task` set). The interpreter owns
// the thread, the deadline and the interrupts; a kind of call (authenticate, process, route) owns
// its arguments and what its result means, through the virtual members.
struct Job {
  virtual ~Job() = default;

  Job* next = nullptr;  // the hand-off list's link
  Program* program = nullptr;
  Clock::time_point deadline;
  std::function<void()> task;
  // Guards `answered` so the watchdog cannot answer (and free the input) while Python reads it.
  std::mutex mu;
  bool answered = false;

  // Python thread, GIL held, under the watchdog for a sync function: calls `fn` with `context` and
  // this call's keyword arguments. A new reference, or nullptr with the Python error set. A sync
  // result that runs user code as it is consumed (a generator) is consumed here.
  virtual PyObject* call(PyObject* fn, PyObject* context) { return nullptr; }
  // Python thread, GIL held: what the call returned or raised becomes the answer send() gives.
  virtual void take_result(py::handle result) noexcept {}
  virtual void take_exception(py::handle exc) noexcept {}
  // Python thread: the call will not read its input again (a request view is detached).
  virtual void end_call() noexcept {}
  // Any thread, no GIL; exactly one of them, once, through Interpreter::answer/answer_timeout.
  virtual void send() noexcept {}
  virtual void send_timeout() noexcept {}
};

class Interpreter {
 public:
  // Starts the interpreter thread on first use; throws std::runtime_error if CPython or the
  // embedded runtime cannot start.
  static Interpreter& instance();

  // Any thread; never blocks, never touches the GIL.
  void submit(Job* job) noexcept;
  // Runs `fn` on the Python thread with the GIL held and waits; rethrows what it throws.
  void run(std::function<void()> fn);

  // Python thread only (the embedded module calls these).
  void drain();
  py::module_& runtime() { return runtime_; }
  // Sends the job's answer (or its timeout) unless one was sent already; true if this one was.
  static bool answer(Job& job) noexcept;
  static bool answer_timeout(Job& job) noexcept;
  // An async call's task ended: its result or exception is the answer; frees the job.
  static void finish_task(Job* job, py::handle task);
  static void free_job(Job* job) noexcept;
  // Brackets Python code run for `job` (a sync call, or one step of an async one) so the watchdog
  // can answer and interrupt it at the job's deadline. Not nested.
  void watch_begin(Job* job) noexcept;
  void watch_end() noexcept;

 private:
  Interpreter();
  void thread_main();
  void watchdog_main();
  Job* pop_locked();
  void take_queued_locked();  // consumer_mu_ held
  void run_call(Job* job);
  void defer_answer(Job* job);
  void flush_answers() noexcept;
  void expire_queued(Clock::time_point now);
  void interrupter_main();

  codecs::HandoffList<Job, &Job::next> queue_;
  int wake_fd_ = -1;
  std::atomic<bool> wake_pending_{false};

  std::mutex consumer_mu_;  // one consumer at a time: the Python thread, or the watchdog when stuck
  // Jobs taken out of queue_, oldest first, from backlog_next_ on: by the Python thread a batch at
  // a time, or by the watchdog while the thread is stuck. Reused, so taking allocates nothing.
  std::vector<Job*> backlog_;
  std::size_t backlog_next_ = 0;

  std::mutex running_mu_;  // the sync call being watched
  std::condition_variable watchdog_cv_;
  Job* running_job_ = nullptr;
  std::uint64_t running_seq_ = 0;
  Clock::time_point running_deadline_;
  bool running_timed_out_ = false;
  Clock::time_point watchdog_wake_at_{};
  unsigned long python_thread_id_ = 0;
  PyThreadState* python_tstate_ = nullptr;
  // The running call swallowed an interrupt, so a trace function now raises on every line of it.
  bool tracing_ = false;

  std::mutex interrupt_mu_;  // hands the interrupter the call to interrupt
  std::condition_variable interrupt_cv_;
  std::uint64_t interrupt_seq_ = 0;
  std::uint64_t interrupt_requests_ = 0;

  // Answers of sync calls, sent together when a batch ends: each callback may wake an I/O
  // thread, and waking it once per batch instead of once per request halves the context switches
  // on a shared core. Python thread only.
  std::vector<Job*> deferred_;
  Clock::time_point deferred_since_;

  py::module_ runtime_;
  py::object start_async_;
  std::string start_error_;
  std::thread thread_;
  std::thread watchdog_;
  std::thread interrupter_;
};

// Outcomes from what the function did (Python thread, GIL held). They never throw.
auth::AuthOutcome outcome_from_result(const Program& program, py::handle result) noexcept;
auth::AuthOutcome outcome_from_exception(const Program& program, py::handle exc) noexcept;
// Wraps an async authenticator's coroutine so each of its steps runs under watch_begin/watch_end:
// an async function that spins between awaits is interrupted like a sync one. Returns a new
// reference, or nullptr with a Python error set.
PyObject* watch_coroutine(PyObject* coro, Job* job) noexcept;
// The object an async call's task carries back to finish_task (inlet._native.Call).
py::object make_call_handle(Job* job);
// The exception with its traceback, as Python prints it.
std::string describe_exception(py::handle exc);
// getattr that treats any exception (a property raising NotImplementedError) as "absent".
py::object optional_attr(py::handle object, const char* name);
// Takes the current Python error (PyErr_Occurred) as an exception object with its traceback.
py::object fetch_exception() noexcept;
auth::AuthOutcome timeout_outcome();

}  // namespace inlet::python
