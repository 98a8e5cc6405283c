#include "runtime/config/yaml_scalar.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>

#include "runtime/log.h"

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

std::optional<Scalar> hex_or_octal(std::string_view text) {
  if (text.size() <= 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'o')) return std::nullopt;
  std::uint64_t magnitude = 0;
  if (!parse_whole(text.substr(2), magnitude, text[1] == 'x' ? 16 : 8)) return std::nullopt;
  Scalar v;
  if (magnitude > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    v.kind = Scalar::Kind::kUint;
    v.u = magnitude;
  } else {
    v.kind = Scalar::Kind::kInt;
    v.i = static_cast<std::int64_t>(magnitude);
  }
  return v;
}

std::optional<Scalar> plain_number(std::string_view text) {
  if (auto based = hex_or_octal(text)) return based;  // unsigned only, as the core schema has it
  Scalar v;
  std::string_view digits = text;
  bool negative = false;
  if (!digits.empty() && (digits[0] == '+' || digits[0] == '-')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  if (digits.empty() || digits[0] == '+' || digits[0] == '-') return std::nullopt;
  std::uint64_t magnitude = 0;
  constexpr auto kMaxInt = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (parse_whole(digits, magnitude) && (!negative || magnitude <= kMaxInt + 1)) {
    if (!negative && magnitude > kMaxInt) {
      v.kind = Scalar::Kind::kUint;
      v.u = magnitude;
    } else {
      v.kind = Scalar::Kind::kInt;
      v.i = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    }
    return v;
  }
  // from_chars rejects a leading '+', so parse the unsigned part and apply the sign. It also reads
  // "inf" and "nan", which the finite check and the digit check leave as strings.
  if (parse_double(digits, v.d) && digits.find_first_of("0123456789") != std::string_view::npos) {
    if (negative) v.d = -v.d;
    v.kind = Scalar::Kind::kDouble;
    return v;
  }
  return std::nullopt;
}

}  // namespace

Scalar resolve_scalar(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return Scalar{};
  Scalar v;
  const std::string& text = node.Scalar();
  v.kind = Scalar::Kind::kString;
  v.s = text;
  if (node.Tag() == "!") return v;  // quoted: always a string
  if (text == "true" || text == "True" || text == "TRUE" || text == "false" || text == "False" ||
      text == "FALSE") {
    v.kind = Scalar::Kind::kBool;
    v.b = text[0] == 't' || text[0] == 'T';
    return v;
  }
  if (auto number = plain_number(text)) return *number;
  return v;
}

void append_scalar_json(std::string& out, const Scalar& scalar) {
  switch (scalar.kind) {
    case Scalar::Kind::kNull:
      out += "null";
      return;
    case Scalar::Kind::kBool:
      out += scalar.b ? "true" : "false";
      return;
    case Scalar::Kind::kInt:
      out += std::to_string(scalar.i);
      return;
    case Scalar::Kind::kUint:
      out += std::to_string(scalar.u);
      return;
    case Scalar::Kind::kDouble: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.17g", scalar.d);
      out += buf;
      if (std::string_view(buf).find_first_of(".e") == std::string_view::npos) out += ".0";
      return;
    }
    case Scalar::Kind::kString:
      append_json_string(out, scalar.s);
      return;
  }
}

}  // namespace inlet::runtime
