// Every reason a request is refused, and the one table that maps it to an HTTP status, a default
// detail and a metric label. Nothing else in inlet picks status codes.
#pragma once

#include <cstdint>
#include <string_view>

namespace inlet::runtime {

enum class Reject : std::uint8_t {
  kNotFound,
  kMethodNotAllowed,
  kHeadersTooLarge,
  kUnsupportedMediaType,
  kUnsupportedEncoding,
  kBodyTooLarge,
  kBadEncoding,
  kDecodedTooLarge,
  kInvalidJson,
  kFormFieldMissing,  // a form post without its form_param field
  kBadFraming,  // malformed HTTP, smuggling attempts (Content-Length with Transfer-Encoding, ...)
  kBadHost,     // no Host in HTTP/1.1, two of them, or an invalid one (RFC 9112 §3.2)
  kTransferCodingNotImplemented,  // a transfer coding other than chunked (RFC 9112 §6.1)
  kAuthRejected,
  kAuthHttpError,  // the authenticator chose the status
  kAuthInternalError,
  kAuthTimeout,
  kUnrouted,
  kQueueFull,
  kQueueUnavailable,
  kTooManyConnections,
  kPlainHttpOnTlsPort,  // written in the clear, as nginx does, so `curl http://` says what is wrong
  kDedupKeyMissing,     // dedup.require: true, and the request carries no key
  kCount,
};

struct RejectInfo {
  int status;
  std::string_view label;   // metrics and logs: "body_too_large"
  std::string_view detail;  // default {"detail": ...}
  bool retry_after;         // add Retry-After
};

const RejectInfo& describe(Reject reject) noexcept;

inline constexpr int kRetryAfterSeconds = 1;

}  // namespace inlet::runtime
