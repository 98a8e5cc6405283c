// Validates a request body as one RFC 8259 JSON value (valid UTF-8, whitespace around it allowed)
// with simdjson, and keeps the parsed document for routing filters.
// Not thread-safe: keep one per I/O thread. The document is valid until the next validate().
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace inlet::codecs {

class JsonValidator {
 public:
  JsonValidator();
  // `data` must be readable for `capacity` bytes; when capacity - size >= SIMDJSON_PADDING no copy
  // is made. Returns true when valid. On false, error() says what and where ("... at line L column
  // C (byte B)").
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
