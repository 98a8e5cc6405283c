// Parsing of the Content-Type and Content-Encoding request headers.
// Pure functions over string_views; thread-safe, no allocation.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "codecs/codings.h"

namespace inlet::codecs {

// ASCII case-insensitive equality, as HTTP compares tokens and field names (RFC 9110 §5.1).
bool iequals(std::string_view a, std::string_view b) noexcept;

// True for `application/json` and any `type/subtype+json`, case-insensitive, with optional
// parameters (`; charset=utf-8`). Whitespace around the media type is allowed.
bool is_json_media_type(std::string_view content_type) noexcept;

// True for `application/x-www-form-urlencoded`, case-insensitive, with optional parameters.
bool is_form_media_type(std::string_view content_type) noexcept;

// The codings of a Content-Encoding header, in the order the sender applied them.
struct EncodingList {
  static constexpr std::size_t kMax = 4;
  std::array<const Coding*, kMax> items{};
  std::size_t size = 0;
};

// Parses a comma-separated list of the codings of codings.h and `identity` (case-insensitive).
// `identity` entries are dropped. nullopt: an unknown coding or more than kMax.
std::optional<EncodingList> parse_content_encoding(std::string_view header) noexcept;

}  // namespace inlet::codecs
