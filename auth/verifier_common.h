// Pieces shared by the built-in verifiers: allocation-free hex/base64 decoding into caller buffers,
// header-value parsing, the injectable clock for timestamp tolerances, and the reject outcomes.
// Everything here is a pure function or immutable; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "auth/authenticator.h"

namespace inlet::auth {

// Seconds since the Unix epoch. Verifiers take one so tests can pin "now".
using SecondsClock = std::function<std::int64_t()>;
SecondsClock system_seconds_clock();

// Decoders return the number of bytes written, or -1 when the input is not valid or would not fit
// in `capacity`. Hex takes either case. Base64 takes the standard and the URL-safe alphabet, with
// or without '=' padding.
std::ptrdiff_t decode_hex(std::string_view in, unsigned char* out, std::size_t capacity) noexcept;
std::ptrdiff_t decode_base64(std::string_view in, unsigned char* out,
                             std::size_t capacity) noexcept;

std::string_view trim_ows(std::string_view value) noexcept;  // spaces and tabs, both ends
bool starts_with_nocase(std::string_view value, std::string_view prefix) noexcept;

// A Unix timestamp in decimal seconds (digits only, at most 18 of them).
bool parse_unix_seconds(std::string_view text, std::int64_t& seconds) noexcept;
// True when |now - timestamp| <= tolerance: a stale or a far-future timestamp is refused alike.
bool within_tolerance(std::int64_t timestamp, std::int64_t now, std::int64_t tolerance) noexcept;

// Answers `callback` with kHttpError `status` and `{"detail": detail}`; the optional header is
// `WWW-Authenticate` for the basic and bearer schemes.
void answer_error(AuthCallback& callback, int status, std::string_view detail,
                  std::string_view www_authenticate = {});

}  // namespace inlet::auth
