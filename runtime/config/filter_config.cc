#include "runtime/config/filter_config.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

namespace inlet::runtime {
namespace {

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

KeyPath key_path_at(std::string_view dotted, const std::string& config_path) {
  try {
    return KeyPath(dotted);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(config_path, e.what());
  }
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
    KeyPath key_path = key_path_at(key, args.path_of("key"));
    if (op == "json_key_equals") {
      if (!args.node().IsMap() || !args.node()["value"].IsDefined())
        args.fail("value", "is required");
      Scalar value = read_scalar(args.raw("value"), args.path_of("value"));
      compiled = make_key_equals(std::move(key_path), std::move(value));
    } else {
      YAML::Node list = args.raw("values");
      if (!list.IsSequence() || list.size() == 0)
        args.fail("values", "must be a non-empty list of scalars");
      std::vector<Scalar> values;
      for (std::size_t i = 0; i < list.size(); ++i) {
        values.push_back(
            read_scalar(list[i], args.path_of("values") + "[" + std::to_string(i) + "]"));
      }
      compiled = make_key_in(std::move(key_path), std::move(values));
    }
    args.finish();
  } else if (op == "json_key_exists") {
    YAML::Node key = filter.raw(op);
    if (!key.IsScalar()) throw ConfigError(path, "must be a dotted key path", line_of(key));
    compiled = make_key_exists(key_path_at(key.Scalar(), path));
  } else if (op == "all") {
    compiled = make_all_of(compile_list(filter, op));
  } else if (op == "any") {
    compiled = make_any_of(compile_list(filter, op));
  } else if (op == "not") {
    ConfigMap child = filter.map(op);
    if (!child.node().IsMap()) throw ConfigError(path, "must be a filter mapping", line_of(node));
    compiled = make_not(compile_filter(child));
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
