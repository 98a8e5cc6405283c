#include "runtime/route/filter.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>

namespace inlet::runtime {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

template <typename T>
bool parse_whole(std::string_view text, T& out, int base = 10) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out, base);
  return ec == std::errc() && ptr == end;
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

}  // namespace

KeyPath::KeyPath(std::string_view dotted) : dotted_(dotted) {
  if (dotted.empty()) throw std::invalid_argument("must be a non-empty dotted key path");
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = dotted.find('.', start);
    const std::string_view part =
        dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start);
    if (part.empty()) {
      throw std::invalid_argument("'" + std::string(dotted) + "' has an empty segment");
    }
    Segment segment;
    segment.key = std::string(part);
    segment.is_index = parse_whole(part, segment.index);
    segments_.push_back(std::move(segment));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
}

bool KeyPath::text_at(element root, std::string& out) const {
  out.clear();
  element value;
  if (find(root).get(value) != simdjson::SUCCESS) return false;
  std::string_view text;
  std::int64_t whole = 0;
  if (value.get_string().get(text) == simdjson::SUCCESS) {
    out.assign(text);
  } else if (value.get_int64().get(whole) == simdjson::SUCCESS) {  // ids, without an allocation
    char digits[24];
    out.assign(digits, std::to_chars(digits, digits + sizeof digits, whole).ptr);
  } else {
    out = simdjson::minify(value);
  }
  return !out.empty();
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

std::unique_ptr<Filter> make_key_equals(KeyPath path, Scalar value) {
  return std::make_unique<KeyEquals>(std::move(path), std::move(value));
}
std::unique_ptr<Filter> make_key_in(KeyPath path, std::vector<Scalar> values) {
  return std::make_unique<KeyIn>(std::move(path), std::move(values));
}
std::unique_ptr<Filter> make_key_exists(KeyPath path) { return std::make_unique<KeyExists>(std::move(path)); }
std::unique_ptr<Filter> make_all_of(std::vector<std::unique_ptr<Filter>> children) {
  return std::make_unique<AllOf>(std::move(children));
}
std::unique_ptr<Filter> make_any_of(std::vector<std::unique_ptr<Filter>> children) {
  return std::make_unique<AnyOf>(std::move(children));
}
std::unique_ptr<Filter> make_not(std::unique_ptr<Filter> child) { return std::make_unique<Not>(std::move(child)); }

}  // namespace inlet::runtime
