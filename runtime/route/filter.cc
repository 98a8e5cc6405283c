#include "runtime/route/filter.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace inlet::runtime {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// An expected value from the config, typed as JSON.
struct Scalar {
  enum class Kind : std::uint8_t { kNull, kBool, kInt, kUint, kDouble, kString };
  Kind kind = Kind::kNull;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string s;
};

template <typename T>
bool parse_whole(std::string_view text, T& out, int base = 10) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out, base);
  return ec == std::errc() && ptr == end;
}

bool parse_double(std::string_view text, double& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out, std::chars_format::general);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

std::optional<Scalar> plain_number(std::string_view text) {
  Scalar v;
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty()) return std::nullopt;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
  }
  std::uint64_t magnitude = 0;
  if (parse_whole(digits, magnitude, base)) {
    if (!negative &&
        magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      v.kind = Scalar::Kind::kUint;
      v.u = magnitude;
      return v;
    }
    if (negative &&
        magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
      return std::nullopt;
    }
    v.kind = Scalar::Kind::kInt;
    v.i =
        negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    return v;
  }
  if (base != 10) return std::nullopt;
  // from_chars rejects a leading '+', so parse the unsigned part and apply the sign.
  if (parse_double(digits, v.d) && digits.find_first_of("0123456789") != std::string_view::npos) {
    if (negative) v.d = -v.d;
    v.kind = Scalar::Kind::kDouble;
    return v;
  }
  return std::nullopt;
}

Scalar read_scalar(const YAML::Node& node, const std::string& path) {
  if (!node.IsDefined() || node.IsNull()) return Scalar{};
  if (!node.IsScalar()) {
    throw ConfigError(path, "must be a JSON scalar (string, number, boolean or null)",
                      line_of(node));
  }
  Scalar v;
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") {  // quoted: always a string
    v.kind = Scalar::Kind::kString;
    v.s = text;
    return v;
  }
  if (text == "true" || text == "True" || text == "TRUE" || text == "false" || text == "False" ||
      text == "FALSE") {
    v.kind = Scalar::Kind::kBool;
    v.b = text[0] == 't' || text[0] == 'T';
    return v;
  }
  if (auto number = plain_number(text)) return *number;
  v.kind = Scalar::Kind::kString;
  v.s = text;
  return v;
}

// `expected` is an exact integer; `actual` a JSON double: equal only if the double is that integer.
bool double_equals_int(double actual, std::int64_t expected) noexcept {
  if (!std::isfinite(actual) || std::trunc(actual) != actual) return false;
  if (actual < -9223372036854775808.0 || actual >= 9223372036854775808.0) return false;
  return static_cast<std::int64_t>(actual) == expected;
}

bool double_equals_uint(double actual, std::uint64_t expected) noexcept {
  if (!std::isfinite(actual) || std::trunc(actual) != actual) return false;
  if (actual < 0 || actual >= 18446744073709551616.0) return false;
  return static_cast<std::uint64_t>(actual) == expected;
}

bool scalar_equals(const Scalar& expected, element actual) noexcept {
  switch (actual.type()) {
    case element_type::NULL_VALUE:
      return expected.kind == Scalar::Kind::kNull;
    case element_type::BOOL:
      return expected.kind == Scalar::Kind::kBool && expected.b == actual.get_bool().value_unsafe();
    case element_type::STRING:
      return expected.kind == Scalar::Kind::kString &&
             expected.s == actual.get_string().value_unsafe();
    case element_type::INT64: {
      const std::int64_t a = actual.get_int64().value_unsafe();
      switch (expected.kind) {
        case Scalar::Kind::kInt:
          return a == expected.i;
        case Scalar::Kind::kUint:
          return false;  // expected > INT64_MAX
        case Scalar::Kind::kDouble:
          return double_equals_int(expected.d, a);
        default:
          return false;
      }
    }
    case element_type::UINT64: {
      const std::uint64_t a = actual.get_uint64().value_unsafe();
      switch (expected.kind) {
        case Scalar::Kind::kInt:
          return expected.i >= 0 && static_cast<std::uint64_t>(expected.i) == a;
        case Scalar::Kind::kUint:
          return a == expected.u;
        case Scalar::Kind::kDouble:
          return double_equals_uint(expected.d, a);
        default:
          return false;
      }
    }
    case element_type::DOUBLE: {
      const double a = actual.get_double().value_unsafe();
      switch (expected.kind) {
        case Scalar::Kind::kInt:
          return double_equals_int(a, expected.i);
        case Scalar::Kind::kUint:
          return double_equals_uint(a, expected.u);
        case Scalar::Kind::kDouble:
          return a == expected.d;
        default:
          return false;
      }
    }
    default:
      return false;  // objects and arrays never equal a scalar
  }
}

class KeyEquals final : public Filter {
 public:
  KeyEquals(KeyPath path, Scalar value) : path_(std::move(path)), value_(std::move(value)) {}
  bool matches(element root) const noexcept override {
    element found;
    if (path_.find(root).get(found) != simdjson::SUCCESS) return false;
    return scalar_equals(value_, found);
  }

 private:
  KeyPath path_;
  Scalar value_;
};

class KeyIn final : public Filter {
 public:
  KeyIn(KeyPath path, std::vector<Scalar> values)
      : path_(std::move(path)), values_(std::move(values)) {}
  bool matches(element root) const noexcept override {
    element found;
    if (path_.find(root).get(found) != simdjson::SUCCESS) return false;
    for (const Scalar& value : values_) {
      if (scalar_equals(value, found)) return true;
    }
    return false;
  }

 private:
  KeyPath path_;
  std::vector<Scalar> values_;
};

class KeyExists final : public Filter {
 public:
  explicit KeyExists(KeyPath path) : path_(std::move(path)) {}
  bool matches(element root) const noexcept override {
    return path_.find(root).error() == simdjson::SUCCESS;
  }

 private:
  KeyPath path_;
};

class AllOf final : public Filter {
 public:
  explicit AllOf(std::vector<std::unique_ptr<Filter>> children) : children_(std::move(children)) {}
  bool matches(element root) const noexcept override {
    for (const auto& child : children_) {
      if (!child->matches(root)) return false;
    }
    return true;
  }

 private:
  std::vector<std::unique_ptr<Filter>> children_;
};

class AnyOf final : public Filter {
 public:
  explicit AnyOf(std::vector<std::unique_ptr<Filter>> children) : children_(std::move(children)) {}
  bool matches(element root) const noexcept override {
    for (const auto& child : children_) {
      if (child->matches(root)) return true;
    }
    return false;
  }

 private:
  std::vector<std::unique_ptr<Filter>> children_;
};

class Not final : public Filter {
 public:
  explicit Not(std::unique_ptr<Filter> child) : child_(std::move(child)) {}
  bool matches(element root) const noexcept override { return !child_->matches(root); }

 private:
  std::unique_ptr<Filter> child_;
};

const std::vector<std::string> kOperators = {
    "json_key_equals", "json_key_in", "json_key_exists", "all", "any", "not"};

std::vector<std::unique_ptr<Filter>> compile_list(ConfigMap& filter, const std::string& op) {
  YAML::Node list = filter.raw(op);
  const std::string path = filter.path_of(op);
  if (!list.IsSequence() || list.size() == 0) {
    throw ConfigError(path, "must be a non-empty list of filters", line_of(list));
  }
  std::vector<std::unique_ptr<Filter>> children;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!list[i].IsMap())
      throw ConfigError(item_path, "must be a filter mapping", line_of(list[i]));
    ConfigMap child(list[i], item_path);
    children.push_back(compile_filter(child));
  }
  return children;
}

}  // namespace

KeyPath::KeyPath(std::string_view dotted, const std::string& config_path) : dotted_(dotted) {
  if (dotted.empty()) throw ConfigError(config_path, "must be a non-empty dotted key path");
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = dotted.find('.', start);
    const std::string_view part =
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start);
    if (part.empty()) {
      throw ConfigError(config_path, "'" + std::string(dotted) + "' has an empty segment");
    }
    Segment segment;
    segment.key = std::string(part);
    segment.is_index = parse_whole(part, segment.index);
    segments_.push_back(std::move(segment));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
}

simdjson::simdjson_result<element> KeyPath::find(element root) const noexcept {
  element current = root;
  for (const Segment& segment : segments_) {
    simdjson::simdjson_result<element> next;
    if (current.is_object()) {
      next = current.get_object().value_unsafe().at_key(segment.key);
    } else if (segment.is_index && current.is_array()) {
      next = current.get_array().value_unsafe().at(segment.index);
    } else {
      return simdjson::NO_SUCH_FIELD;
    }
    if (next.get(current) != simdjson::SUCCESS) return simdjson::NO_SUCH_FIELD;
  }
  return current;
}

std::unique_ptr<Filter> compile_filter(ConfigMap& filter) {
  const YAML::Node& node = filter.node();
  if (!node.IsMap() || node.size() != 1) {
    std::string list;
    for (const std::string& op : kOperators) list += (list.empty() ? "" : ", ") + op;
    throw ConfigError(filter.path(), "must hold exactly one operator: " + list, line_of(node));
  }
  const std::string op = node.begin()->first.Scalar();
  const std::string path = filter.path_of(op);
  std::unique_ptr<Filter> compiled;
  if (op == "json_key_equals" || op == "json_key_in") {
    ConfigMap args = filter.map(op);
    const std::string key = args.required_string("key");
    KeyPath key_path(key, args.path_of("key"));
    if (op == "json_key_equals") {
      if (!args.node().IsMap() || !args.node()["value"].IsDefined())
        args.fail("value", "is required");
      Scalar value = read_scalar(args.raw("value"), args.path_of("value"));
      compiled = std::make_unique<KeyEquals>(std::move(key_path), std::move(value));
    } else {
      YAML::Node list = args.raw("values");
      if (!list.IsSequence() || list.size() == 0)
        args.fail("values", "must be a non-empty list of scalars");
      std::vector<Scalar> values;
      for (std::size_t i = 0; i < list.size(); ++i) {
        values.push_back(
            read_scalar(list[i], args.path_of("values") + "[" + std::to_string(i) + "]"));
      }
      compiled = std::make_unique<KeyIn>(std::move(key_path), std::move(values));
    }
    args.finish();
  } else if (op == "json_key_exists") {
    YAML::Node key = filter.raw(op);
    if (!key.IsScalar()) throw ConfigError(path, "must be a dotted key path", line_of(key));
    compiled = std::make_unique<KeyExists>(KeyPath(key.Scalar(), path));
  } else if (op == "all") {
    compiled = std::make_unique<AllOf>(compile_list(filter, op));
  } else if (op == "any") {
    compiled = std::make_unique<AnyOf>(compile_list(filter, op));
  } else if (op == "not") {
    ConfigMap child = filter.map(op);
    if (!child.node().IsMap()) throw ConfigError(path, "must be a filter mapping", line_of(node));
    compiled = std::make_unique<Not>(compile_filter(child));
  } else {
    std::string list;
    for (const std::string& name : kOperators) list += (list.empty() ? "" : ", ") + name;
    throw ConfigError(path, "unknown filter operator; expected one of " + list,
                      line_of(node.begin()->first));
  }
  filter.finish();
  return compiled;
}

}  // namespace inlet::runtime
