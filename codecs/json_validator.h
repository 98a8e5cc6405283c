// Validates a request body as one RFC 8259 JSON value (valid UTF-8, whitespace around it allowed)
// with simdjson, and keeps the parsed document for routing filters.
// Not thread-safe: keep one per I/O thread. The document is valid until the next validate().
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace inlet::codecs {

// Bytes past a buffer's size that validate() needs readable to make no copy.
inline constexpr std::size_t kJsonPadding = simdjson::SIMDJSON_PADDING;

class JsonValidator {
 public:
  JsonValidator();
  // `data` must be readable for `capacity` bytes; when capacity - size >= SIMDJSON_PADDING no copy
  // is made. Returns true when valid. On false, error() says what and where, in under 120 chars
  // and without body bytes: "invalid JSON: unexpected character at line 3 column 7 (byte 41)",
  // "... invalid UTF-8 at byte 12", "... unexpected end of input at byte 40", "... trailing data
  // after the value at byte 3", "... empty body". simdjson's limits apply: nesting deeper than
  // 1024, integers outside int64/uint64 and numbers beyond double range are rejected.
  bool validate(const char* data, std::size_t size, std::size_t capacity);
  bool validate(const std::string& body) {
    return validate(body.data(), body.size(), body.capacity());
  }

  std::string_view error() const noexcept { return error_; }
  // The root of the last valid document.
  simdjson::dom::element root() const noexcept { return root_; }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
  std::string error_;
};

}  // namespace inlet::codecs
