#include "auth/verifier_common.h"

#include <chrono>
#include <cstdlib>

#include "codecs/hex.h"

namespace inlet::auth {

SecondsClock system_seconds_clock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

namespace {

int base64_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::ptrdiff_t decode_hex(std::string_view in, unsigned char* out, std::size_t capacity) noexcept {
  if (in.size() % 2 != 0 || in.size() / 2 > capacity) return -1;
  for (std::size_t i = 0; i < in.size(); i += 2) {
    const int hi = codecs::hex_digit_value(in[i]);
    const int lo = codecs::hex_digit_value(in[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    out[i / 2] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return static_cast<std::ptrdiff_t>(in.size() / 2);
}

std::ptrdiff_t decode_base64(std::string_view in, unsigned char* out,
                             std::size_t capacity) noexcept {
  std::size_t padding = 0;
  while (padding < 2 && !in.empty() && in.back() == '=') {
    in.remove_suffix(1);
    ++padding;
  }
  // One leftover character carries only 6 bits: never a whole byte.
  if (in.size() % 4 == 1) return -1;
  if (padding != 0 && (in.size() + padding) % 4 != 0) return -1;
  const std::size_t size = in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1);
  if (size > capacity) return -1;
  std::uint32_t bits = 0;
  int count = 0;
  std::size_t n = 0;
  for (char c : in) {
    const int v = base64_value(c);
    if (v < 0) return -1;
    bits = bits << 6 | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[n++] = static_cast<unsigned char>(bits >> count);
    }
  }
  return static_cast<std::ptrdiff_t>(n);
}

std::string_view trim_ows(std::string_view value) noexcept {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

bool starts_with_nocase(std::string_view value, std::string_view prefix) noexcept {
  if (value.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (lower(value[i]) != lower(prefix[i])) return false;
  }
  return true;
}

bool parse_unix_seconds(std::string_view text, std::int64_t& seconds) noexcept {
  if (text.empty() || text.size() > 18) return false;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  seconds = value;
  return true;
}

bool within_tolerance(std::int64_t timestamp, std::int64_t now, std::int64_t tolerance) noexcept {
  const std::int64_t delta = now - timestamp;
  return delta <= tolerance && -delta <= tolerance;
}

void answer_error(AuthCallback& callback, int status, std::string_view detail,
                  std::string_view www_authenticate) {
  AuthOutcome outcome;
  outcome.verdict = Verdict::kHttpError;
  outcome.status = status;
  outcome.detail = detail;
  if (!www_authenticate.empty()) {
    outcome.headers.emplace_back("WWW-Authenticate", std::string(www_authenticate));
  }
  callback.on_auth_done(std::move(outcome));
}

}  // namespace inlet::auth
