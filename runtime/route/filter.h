// Edge filters: predicates on the parsed JSON body by dotted key path (`data.step.id`; numeric
// segments index arrays). Compiled once from the config; immutable and thread-safe after that.
#pragma once

#include <simdjson.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/config/config_reader.h"

namespace inlet::runtime {

class Filter {
 public:
  virtual ~Filter() = default;
  virtual bool matches(simdjson::dom::element root) const noexcept = 0;
};

// Compiles `json_key_equals: {key, value}`, `json_key_in: {key, values}`, `json_key_exists: key`,
// `all: [...]`, `any: [...]`, `not: {...}`. Throws ConfigError with the key path.
std::unique_ptr<Filter> compile_filter(ConfigMap& filter);

}  // namespace inlet::runtime
