// Edge filters: predicates on the parsed JSON body by dotted key path (`data.step.id`; numeric
// segments index arrays). Compiled once from the config; immutable and thread-safe after that.
#pragma once

#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>
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
//
// Values are YAML scalars read as JSON: a quoted scalar is a string; a plain one is null (`null`,
// `~`, empty), a boolean (`true`/`false`), a number (`3`, `3.0`, `1e3`, `0x1f`), else a string.
// Strings compare as strings, numbers numerically (3 matches 3 and 3.0), never across types.
std::unique_ptr<Filter> compile_filter(ConfigMap& filter);

// A pre-split dotted key path. A segment of digits indexes an array, or names a key of an object.
// Immutable after construction; find() neither allocates nor throws.
class KeyPath {
 public:
  // Throws ConfigError(config_path, ...) on an empty path or an empty segment.
  KeyPath(std::string_view dotted, const std::string& config_path);

  // The element at the path, or an error when any segment is missing.
  simdjson::simdjson_result<simdjson::dom::element> find(
      simdjson::dom::element root) const noexcept;
  const std::string& dotted() const noexcept { return dotted_; }

 private:
  struct Segment {
    std::string key;
    std::size_t index = 0;
    bool is_index = false;
  };
  std::string dotted_;
  std::vector<Segment> segments_;
};

}  // namespace inlet::runtime
