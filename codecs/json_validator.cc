#include "codecs/json_validator.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace inlet::codecs {
namespace {

// The first error in a document that simdjson rejected. simdjson's DOM parser says what is wrong
// but not where, so this scanner, which runs only on the error path, finds the place. It accepts
// exactly what simdjson 3.0 accepts, including its limits (nesting depth, number range).
struct JsonError {
  const char* what = nullptr;  // nullptr: no error found
  std::size_t offset = 0;
  bool has_line = true;  // the message names line and column too
};

class ErrorScanner {
 public:
  ErrorScanner(const unsigned char* data, std::size_t size, std::size_t max_depth)
      : p_(data), n_(size), max_depth_(max_depth) {}

  JsonError scan() {
    enum class State { kValue, kValueOrEnd, kKeyOrEnd, kKey, kColon, kCommaOrEnd };
    State state = State::kValue;
    std::vector<char> stack;  // '{' or '['
    std::size_t i = 0;
    while (true) {
      i = skip_whitespace(i);
      if (i == n_) return end_of_input();
      const unsigned char c = p_[i];
      bool value_done = false;
      switch (state) {
        case State::kValueOrEnd:
          if (c == ']') {
            stack.pop_back();
            ++i;
            value_done = true;
            break;
          }
          [[fallthrough]];
        case State::kValue:
          if (stack.size() >= max_depth_) return {"nesting too deep", i};
          if (c == '{' || c == '[') {
            stack.push_back(static_cast<char>(c));
            ++i;
            state = c == '{' ? State::kKeyOrEnd : State::kValueOrEnd;
            continue;
          }
          if (JsonError e = scalar(i); e.what != nullptr) return e;
          value_done = true;
          break;
        case State::kKeyOrEnd:
          if (c == '}') {
            stack.pop_back();
            ++i;
            value_done = true;
            break;
          }
          [[fallthrough]];
        case State::kKey:
          if (c != '"') return unexpected(i);
          if (JsonError e = string(i); e.what != nullptr) return e;
          state = State::kColon;
          continue;
        case State::kColon:
          if (c != ':') return unexpected(i);
          ++i;
          state = State::kValue;
          continue;
        case State::kCommaOrEnd:
          if (c == ',') {
            ++i;
            state = stack.back() == '{' ? State::kKey : State::kValue;
            continue;
          }
          if (c == (stack.back() == '{' ? '}' : ']')) {
            stack.pop_back();
            ++i;
            value_done = true;
            break;
          }
          return unexpected(i);
      }
      if (value_done) {
        if (stack.empty()) {
          i = skip_whitespace(i);
          if (i != n_) return {"trailing data after the value", i, false};
          return {};
        }
        state = State::kCommaOrEnd;
      }
    }
  }

 private:
  static bool is_whitespace(unsigned char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
  }
  // What may follow an atom or a number (simdjson's structural characters and whitespace).
  static bool is_delimiter(unsigned char c) noexcept {
    return is_whitespace(c) || c == ',' || c == ']' || c == '}' || c == ':';
  }
  static bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
  static bool is_hex(unsigned char c) noexcept {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  std::size_t skip_whitespace(std::size_t i) const noexcept {
    while (i < n_ && is_whitespace(p_[i])) ++i;
    return i;
  }

  JsonError end_of_input() const noexcept { return {"unexpected end of input", n_, false}; }

  // A byte that does not fit the grammar; a malformed UTF-8 sequence is named as such.
  JsonError unexpected(std::size_t i) const noexcept {
    if (p_[i] >= 0x80 && utf8_length(i) == 0) return {"invalid UTF-8", i, false};
    return {"unexpected character", i};
  }

  // Length of the well-formed UTF-8 sequence at i (RFC 3629: no overlongs, no surrogates,
  // nothing above U+10FFFF), or 0.
  std::size_t utf8_length(std::size_t i) const noexcept {
    const unsigned char c = p_[i];
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return 0;
    }
    if (i + len > n_) return 0;
    if (p_[i + 1] < lo || p_[i + 1] > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
      if (p_[i + k] < 0x80 || p_[i + k] > 0xBF) return 0;
    }
    return len;
  }

  JsonError scalar(std::size_t& i) {
    const unsigned char c = p_[i];
    if (c == '"') return string(i);
    if (c == '-' || is_digit(c)) return number(i);
    const char* literal = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : nullptr;
    if (literal == nullptr) return unexpected(i);
    for (const char* l = literal; *l != '\0'; ++l, ++i) {
      if (i == n_) return end_of_input();
      if (p_[i] != static_cast<unsigned char>(*l)) return unexpected(i);
    }
    // simdjson wants a delimiter after an atom: "truex" is one bad atom, not "true" then "x".
    if (i < n_ && !is_delimiter(p_[i])) {
      return unexpected(i);
    }
    return {};
  }

  JsonError string(std::size_t& i) {
    ++i;  // opening quote
    while (true) {
      if (i >= n_) return end_of_input();
      const unsigned char c = p_[i];
      if (c == '"') {
        ++i;
        return {};
      }
      if (c < 0x20) return {"control character in string", i};
      if (c == '\\') {
        if (JsonError e = escape(i); e.what != nullptr) return e;
        continue;
      }
      const std::size_t len = utf8_length(i);
      if (len == 0) return {"invalid UTF-8", i, false};
      i += len;
    }
  }

  // Reads \uXXXX at i into `code`.
  JsonError hex4(std::size_t i, unsigned& code) const noexcept {
    code = 0;
    for (std::size_t k = i + 2; k < i + 6; ++k) {
      if (k >= n_) return end_of_input();
      if (!is_hex(p_[k])) return {"invalid escape", i};
      const unsigned char h = p_[k];
      code = code * 16 + (is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
    }
    return {};
  }

  JsonError escape(std::size_t& i) {
    if (i + 1 >= n_) return end_of_input();
    const unsigned char e = p_[i + 1];
    if (e != 'u') {
      if (std::strchr("\"\\/bfnrt", e) == nullptr || e == '\0') return {"invalid escape", i};
      i += 2;
      return {};
    }
    unsigned code;
    if (JsonError err = hex4(i, code); err.what != nullptr) return err;
    // simdjson, like most parsers, rejects lone surrogates.
    if (code >= 0xDC00 && code <= 0xDFFF) return {"invalid escape", i};
    if (code >= 0xD800 && code <= 0xDBFF) {
      const std::size_t low_at = i + 6;
      if (low_at >= n_) return end_of_input();
      if (p_[low_at] != '\\') return {"invalid escape", i};
      if (low_at + 1 >= n_) return end_of_input();
      if (p_[low_at + 1] != 'u') return {"invalid escape", i};
      unsigned low;
      if (JsonError err = hex4(low_at, low); err.what != nullptr) return err;
      if (low < 0xDC00 || low > 0xDFFF) return {"invalid escape", i};
      i += 12;
      return {};
    }
    i += 6;
    return {};
  }

  JsonError number(std::size_t& i) {
    const std::size_t start = i;
    if (p_[i] == '-') ++i;
    if (i == n_) return end_of_input();
    if (!is_digit(p_[i])) return {"invalid number", i};
    bool is_integer = true;
    if (p_[i] == '0') {
      ++i;
    } else {
      while (i < n_ && is_digit(p_[i])) ++i;
    }
    if (i < n_ && p_[i] == '.') {
      is_integer = false;
      ++i;
      if (i == n_) return end_of_input();
      if (!is_digit(p_[i])) return {"invalid number", i};
      while (i < n_ && is_digit(p_[i])) ++i;
    }
    if (i < n_ && (p_[i] == 'e' || p_[i] == 'E')) {
      is_integer = false;
      ++i;
      if (i < n_ && (p_[i] == '+' || p_[i] == '-')) ++i;
      if (i == n_) return end_of_input();
      if (!is_digit(p_[i])) return {"invalid number", i};
      while (i < n_ && is_digit(p_[i])) ++i;
    }
    // simdjson wants a delimiter after a number: "01" and "1x" are bad numbers.
    if (i < n_ && !is_delimiter(p_[i])) {
      return {"invalid number", i};
    }
    if (!in_range(start, i, is_integer)) return {"number out of range", start};
    return {};
  }

  // simdjson keeps integers as int64 or uint64 and other numbers as finite doubles.
  bool in_range(std::size_t start, std::size_t end, bool is_integer) const {
    std::string token(reinterpret_cast<const char*>(p_ + start), end - start);
    if (is_integer) {
      const bool negative = token[0] == '-';
      const std::string digits = negative ? token.substr(1) : token;
      const std::string max = negative ? "9223372036854775808" : "18446744073709551615";
      return digits.size() < max.size() || (digits.size() == max.size() && digits <= max);
    }
    errno = 0;
    const double value = std::strtod(token.c_str(), nullptr);
    return !(errno == ERANGE && (value == HUGE_VAL || value == -HUGE_VAL));
  }

  const unsigned char* p_;
  std::size_t n_;
  std::size_t max_depth_;
};

std::string describe(const JsonError& error, const unsigned char* data) {
  char buffer[128];
  if (!error.has_line) {
    std::snprintf(buffer, sizeof buffer, "invalid JSON: %s at byte %zu", error.what, error.offset);
    return buffer;
  }
  std::size_t line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < error.offset; ++i) {
    if (data[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  std::snprintf(buffer, sizeof buffer, "invalid JSON: %s at line %zu column %zu (byte %zu)",
                error.what, line, error.offset - line_start + 1, error.offset);
  return buffer;
}

}  // namespace

JsonValidator::JsonValidator() = default;

bool JsonValidator::validate(const char* data, std::size_t size, std::size_t capacity) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  const bool padded = capacity >= size && capacity - size >= simdjson::SIMDJSON_PADDING;
  const simdjson::error_code code =
      parser_.parse(bytes, size, /*realloc_if_needed=*/!padded).get(root_);
  if (code == simdjson::SUCCESS) {
    error_.clear();
    return true;
  }
  root_ = simdjson::dom::element();
  if (size == 0) {
    error_ = "invalid JSON: empty body";
    return false;
  }
  if (code == simdjson::MEMALLOC || code == simdjson::CAPACITY) {
    error_ = "invalid JSON: document too large to parse";
    return false;
  }
  const JsonError error = ErrorScanner(bytes, size, parser_.max_depth()).scan();
  if (error.what != nullptr) {
    error_ = describe(error, bytes);
  } else {
    // The scanner and simdjson disagree; still say what simdjson found, without a place.
    error_ = "invalid JSON: ";
    error_ += simdjson::error_message(code);
    if (error_.size() > 118) error_.resize(118);
  }
  return false;
}

}  // namespace inlet::codecs
