// How a request's body is framed, decided once, by a strict reading of RFC 9112: Transfer-Encoding
// parsed by the list and token grammar (never by prefix), Content-Length digits only and once, Host
// present once and well formed, and the request target in origin or absolute form. The session
// answers from this and nothing else, so a request is either framed the way a strict front end
// frames it, or refused and its connection closed. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "runtime/reject.h"

namespace inlet::runtime {

enum class BodyFraming : std::uint8_t { kNone, kLength, kChunked };

// The framing fields of one request head, each field line's value in the order sent.
struct FramingFields {
  unsigned version = 11;  // 10 or 11
  std::span<const std::string_view> transfer_encoding;
  std::span<const std::string_view> content_length;
  std::span<const std::string_view> host;
};

struct FramingDecision {
  std::optional<Reject> reject;  // set: refuse with this and close the connection
  std::string_view detail;       // for a reject
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t length = 0;      // kLength
};

FramingDecision decide_framing(const FramingFields& fields) noexcept;

// Whether an HTTP parser that found (chunked, length) frames the body as `decision` does. The
// session refuses a request when it does not, so no two readings of one request can differ.
bool parser_agrees(const FramingDecision& decision, bool chunked, std::optional<std::uint64_t> length) noexcept;

// The request target split as RFC 9112 §3.2 reads it. For the absolute form
// ("http://host:8080/path?q") `authority` is "host:8080" and replaces Host (§3.2.2);
// `path_and_query` is what the path check sees, "" standing for "/".
struct RequestTarget {
  std::string_view authority;
  std::string_view path_and_query;
  bool absolute = false;

  // An absolute form with no path ("http://x", "http://x?q"), whose path is "/".
  bool lacks_path() const noexcept {
    return absolute && (path_and_query.empty() || path_and_query.front() == '?');
  }
};

RequestTarget split_target(std::string_view target) noexcept;

// Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2); empty is valid.
bool is_valid_host(std::string_view host) noexcept;

}  // namespace inlet::runtime
