// One answer, described before it becomes bytes, and the one place that writes it: every answer
// of the webhook listener (the session's 200s and rejects, the connection limit's 503) is a
// Response, filled from the reject table (reject.h) for refusals. Plain functions; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "runtime/reject.h"

namespace inlet::runtime {

struct Response {
  int status = 200;
  std::string_view body;  // JSON; not sent for a status that forbids a body (1xx, 204, 304)
  bool close = false;     // Connection: close
  bool allow_post = false;
  bool accept_encoding = false;  // the codings inlet decodes (RFC 9110 §12.5.3), for a 415
  bool retry_after = false;
  std::span<const std::pair<std::string, std::string>> extra_headers;  // CR/LF-free ones only
};

// The status and headers the table gives `reject` (the body is the caller's: see append_detail).
Response response_for(Reject reject) noexcept;

// {"detail":"<detail, JSON-escaped>"}
void append_detail(std::string& out, std::string_view detail);
// {"detail":<json>}: a detail that is already JSON text (an object, a list, a number...).
void append_detail_json(std::string& out, std::string_view json);

// Replaces `out` with the HTTP/1.1 bytes of `response`.
void write_http(const Response& response, std::string& out);

// The bytes of `reject`'s answer with its default detail and Connection: close, for an answer
// written before any request is read (the connection limit's, plain HTTP on a TLS port).
std::string closing_answer(Reject reject);

}  // namespace inlet::runtime
