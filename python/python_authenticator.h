// The Python authenticator: a user's `def authenticator(*, context, request, **kwargs)` (sync or
// async) run in the embedded interpreter on its own thread. I/O threads hand requests over through
// a lock-free queue and are called back from the Python thread; they never touch the GIL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "python/python_function.h"

namespace inlet::python {

struct PythonAuthOptions : PythonFunctionOptions {
  PythonAuthOptions() { function = "authenticator"; }
  bool none_means_reject = false;
};

// Jobs waiting for or running on the Python thread beyond which authenticate() answers kTimeout at
// once, so a stuck authenticator cannot grow memory without bound.
inline constexpr std::uint32_t kMaxPendingJobs = 10000;

// Checks the source (one top-level def named `function`, nothing else but a docstring and
// comments) and the requirements, starts the interpreter thread and loads the function.
// Throws std::runtime_error("file:line: reason") on any problem (start-up and `inlet check`).
std::unique_ptr<auth::Authenticator> make_python_authenticator(const PythonAuthOptions& options);

// For `inlet check`: everything make_python_authenticator does (the source, the requirements,
// defining the function, its signature, the context), so check refuses whatever serve refuses;
// same errors. The function itself is not called.
void check_python_authenticator(const PythonAuthOptions& options);

}  // namespace inlet::python
