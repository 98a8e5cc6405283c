// Compiles edge filters (route/filter.h) from the config's YAML. Start-up and reload only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "runtime/config/config_reader.h"
#include "runtime/route/filter.h"

namespace inlet::runtime {

// Compiles `json_key_equals: {key, value}`, `json_key_in: {key, values}`, `json_key_exists: key`,
// `step_id: ID | [IDs]` (json_key_in on data.step.id), `all: [...]`, `any: [...]`, `not: {...}`.
// Throws ConfigError with the key path.
//
// Values are YAML scalars typed as JSON by config/yaml_scalar.h's rule.
std::unique_ptr<Filter> compile_filter(ConfigMap& filter);

// A KeyPath, or ConfigError(config_path, why) when `dotted` is not one.
KeyPath key_path_at(std::string_view dotted, const std::string& config_path);

}  // namespace inlet::runtime
