// What every kind of Python function shares between its source and its first call: reading the
// source (inline, file or library), the checks (one def, its keywords, the requirements), loading
// it and its context on the interpreter thread, and releasing it there. Internal to inlet::python.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "python/interpreter.h"
#include "python/python_function.h"

namespace inlet::python {

// What a kind of function looks like.
struct FunctionShape {
  std::string kind;      // "authenticator", "processor", "router": names it in errors and logs
  std::string def_name;  // the def the source must hold
  std::vector<std::string> keywords;  // the keyword arguments it must accept
};

// Throws std::runtime_error("file:line: reason") for anything `inlet check` must refuse.
std::unique_ptr<Program> load_program(Interpreter& interpreter, const PythonFunctionOptions& options,
                                      const FunctionShape& shape);

// Once the owner sends no more calls: waits for those still finishing, then releases the Python
// objects on the Python thread.
void release_program(Interpreter& interpreter, std::unique_ptr<Program> program);

}  // namespace inlet::python
