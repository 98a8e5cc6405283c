#include "runtime/response.h"

#include <boost/beast/http/status.hpp>
#include <charconv>

#include "codecs/codings.h"
#include "runtime/log.h"

namespace inlet::runtime {
namespace {

void append_number(std::string& out, std::uint64_t value) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, result.ptr);
}

bool is_header_safe(std::string_view text) noexcept {
  return text.find_first_of("\r\n") == std::string_view::npos;
}

// RFC 9110 §6.4.1, §15.3.5, §15.4.5.
bool forbids_body(int status) noexcept { return (status >= 100 && status < 200) || status == 204 || status == 304; }

}  // namespace

Response response_for(Reject reject) noexcept {
  const RejectInfo& info = describe(reject);
  Response response;
  response.status = info.status;
  response.allow_post = reject == Reject::kMethodNotAllowed;
  response.accept_encoding = reject == Reject::kUnsupportedEncoding;
  response.retry_after = info.retry_after;
  return response;
}

void append_detail(std::string& out, std::string_view detail) {
  out += "{\"detail\":";
  append_json_string(out, detail);
  out += '}';
}

void append_detail_json(std::string& out, std::string_view json) {
  out += "{\"detail\":";
  out += json;
  out += '}';
}

void write_http(const Response& response, std::string& out) {
  namespace http = boost::beast::http;
  out.clear();
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::uint64_t>(response.status));
  out += ' ';
  out += http::obsolete_reason(http::int_to_status(static_cast<unsigned>(response.status)));
  out += "\r\n";
  const bool body = !forbids_body(response.status);
  if (body) {
    out += "Content-Type: application/json\r\nContent-Length: ";
    append_number(out, response.body.size());
    out += "\r\n";
  }
  if (response.close) out += "Connection: close\r\n";
  if (response.allow_post) out += "Allow: POST\r\n";
  if (response.accept_encoding) {
    out += "Accept-Encoding: ";
    out += codecs::accept_encoding_value();
    out += "\r\n";
  }
  if (response.retry_after) {
    out += "Retry-After: ";
    append_number(out, kRetryAfterSeconds);
    out += "\r\n";
  }
  for (const auto& [name, value] : response.extra_headers) {
    if (name.empty() || !is_header_safe(name) || !is_header_safe(value)) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  out += "\r\n";
  if (body) out += response.body;
}

std::string closing_answer(Reject reject) {
  std::string body;
  append_detail(body, describe(reject).detail);
  Response response = response_for(reject);
  response.body = body;
  response.close = true;
  std::string out;
  write_http(response, out);
  return out;
}

}  // namespace inlet::runtime
