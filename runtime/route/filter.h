// Edge filters: predicates on the parsed JSON body by dotted key path (`data.step.id`; numeric
// segments index arrays). Built once (config/filter_config.cc compiles them from YAML); immutable
// and thread-safe after that. route/ knows nothing of the config format.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::runtime {

class Filter {
 public:
  virtual ~Filter() = default;
  virtual bool matches(simdjson::dom::element root) const noexcept = 0;
};

// An expected value, typed as JSON. Strings compare as strings, numbers numerically (3 matches 3
// and 3.0), never across types.
struct Scalar {
  enum class Kind : std::uint8_t { kNull, kBool, kInt, kUint, kDouble, kString };
  Kind kind = Kind::kNull;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string s;
};

// A pre-split dotted key path. A segment of digits indexes an array, or names a key of an object.
// Immutable after construction; find() neither allocates nor throws.
class KeyPath {
 public:
  // Throws std::invalid_argument (the reason) on an empty path or an empty segment.
  explicit KeyPath(std::string_view dotted);

  // The element at the path, or an error when any segment is missing.
  simdjson::simdjson_result<simdjson::dom::element> find(
      simdjson::dom::element root) const noexcept;
  const std::string& dotted() const noexcept { return dotted_; }

  // Replaces `out` with the text of the value at the path: a string's unescaped text, else the
  // value's minified JSON. False, with `out` empty, when the path is missing or the value is "".
  bool text_at(simdjson::dom::element root, std::string& out) const;

 private:
  struct Segment {
    std::string key;
    std::size_t index = 0;
    bool is_index = false;
  };
  std::string dotted_;
  std::vector<Segment> segments_;
};

std::unique_ptr<Filter> make_key_equals(KeyPath path, Scalar value);
std::unique_ptr<Filter> make_key_in(KeyPath path, std::vector<Scalar> values);
std::unique_ptr<Filter> make_key_exists(KeyPath path);
std::unique_ptr<Filter> make_all_of(std::vector<std::unique_ptr<Filter>> children);
std::unique_ptr<Filter> make_any_of(std::vector<std::unique_ptr<Filter>> children);
std::unique_ptr<Filter> make_not(std::unique_ptr<Filter> child);

}  // namespace inlet::runtime
