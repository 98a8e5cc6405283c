// The one rule by which inlet types a YAML scalar as JSON, in filters (`value:`) and in the Python
// function's `config:` alike: the YAML 1.2 core schema. A quoted scalar is a string; a plain one is
// null (`null`, `~`, empty), a boolean (`true`, `True`, `TRUE`, and false likewise), an integer
// (`3`, `-7`, `+5`, `0x1f`, `0o17`), a float (`3.0`, `1e3`, `.5`), or else a string (`.inf`,
// `-0x1`, `1_000`). Integers past 64 bits become floats.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "runtime/route/filter.h"

namespace inlet::runtime {

// `node` is a scalar, null or undefined (undefined is null).
Scalar resolve_scalar(const YAML::Node& node);

// The scalar as JSON text: a float always has a '.' or an exponent, so Python reads it as a float.
void append_scalar_json(std::string& out, const Scalar& scalar);

}  // namespace inlet::runtime
