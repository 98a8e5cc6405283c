#include "runtime/server/framing.h"

#include <cctype>
#include <limits>

#include "codecs/content_type.h"

namespace inlet::runtime {
namespace {

bool is_tchar(unsigned char c) noexcept {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// Walks one Transfer-Encoding field value by RFC 9110 §5.6.1 (#list, empty elements allowed) and
// RFC 9112 §7 (transfer-coding = token *( OWS ";" OWS token BWS "=" BWS ( token / quoted-string ))),
// calling on_coding(name, has_parameters) for each coding. False on any byte outside the grammar.
template <typename OnCoding>
bool parse_transfer_codings(std::string_view v, OnCoding&& on_coding) {
  std::size_t i = 0;
  const std::size_t n = v.size();
  auto skip_ows = [&] { while (i < n && is_ows(v[i])) ++i; };
  auto token = [&] {
    const std::size_t start = i;
    while (i < n && is_tchar(static_cast<unsigned char>(v[i]))) ++i;
    return v.substr(start, i - start);
  };
  auto quoted_string = [&] {
    if (i >= n || v[i] != '"') return false;
    for (++i; i < n; ++i) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (c == '"') {
        ++i;
        return true;
      }
      if (c == '\\') {
        if (++i >= n) return false;
        const auto q = static_cast<unsigned char>(v[i]);
        if (q != '\t' && (q < 0x20 || q == 0x7f)) return false;
        continue;
      }
      if (c != '\t' && (c < 0x20 || c == 0x7f)) return false;
    }
    return false;
  };
  for (;;) {
    skip_ows();
    if (i < n && v[i] != ',') {
      const std::string_view name = token();
      if (name.empty()) return false;
      bool has_parameters = false;
      for (;;) {
        const std::size_t before = i;
        skip_ows();
        if (i >= n || v[i] != ';') {
          i = before;
          break;
        }
        ++i;
        skip_ows();
        if (token().empty()) return false;
        skip_ows();
        if (i >= n || v[i] != '=') return false;
        ++i;
        skip_ows();
        if (i < n && v[i] == '"') {
          if (!quoted_string()) return false;
        } else if (token().empty()) {
          return false;
        }
        has_parameters = true;
      }
      on_coding(name, has_parameters);
      skip_ows();
    }
    if (i >= n) return true;
    if (v[i] != ',') return false;
    ++i;
  }
}

bool parse_length(std::string_view text, std::uint64_t& out) noexcept {
  if (text.empty()) return false;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

FramingDecision bad(std::string_view detail) noexcept {
  return {.reject = Reject::kBadFraming, .detail = detail};
}

bool is_unreserved_or_sub_delim(unsigned char c) noexcept {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                                      // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')': case '*': case '+':
    case ',': case ';': case '=':                                               // sub-delims
      return true;
    default:
      return false;
  }
}

bool is_port(std::string_view port) noexcept {
  for (const char c : port) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool is_valid_host(std::string_view host) noexcept {
  std::string_view rest;
  if (!host.empty() && host.front() == '[') {  // IP-literal
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (const char c : host.substr(1, close - 1)) {
      if (!is_unreserved_or_sub_delim(static_cast<unsigned char>(c)) && c != ':') return false;
    }
    rest = host.substr(close + 1);
  } else {  // IPv4address or reg-name
    const std::size_t colon = host.find(':');
    const std::string_view name = host.substr(0, colon);
    for (std::size_t i = 0; i < name.size(); ++i) {
      const auto c = static_cast<unsigned char>(name[i]);
      if (c == '%') {
        if (i + 2 >= name.size() || !std::isxdigit(static_cast<unsigned char>(name[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
          return false;
        }
        i += 2;
        continue;
      }
      if (!is_unreserved_or_sub_delim(c)) return false;
    }
    rest = colon == std::string_view::npos ? std::string_view() : host.substr(colon);
  }
  if (rest.empty()) return true;
  return rest.front() == ':' && is_port(rest.substr(1));
}

RequestTarget split_target(std::string_view target) noexcept {
  for (const std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() >= scheme.size() && codecs::iequals(target.substr(0, scheme.size()), scheme)) {
      const std::string_view rest = target.substr(scheme.size());
      const std::size_t end = rest.find_first_of("/?#");
      return {.authority = rest.substr(0, end),
              .path_and_query = end == std::string_view::npos ? std::string_view() : rest.substr(end),
              .absolute = true};
    }
  }
  return {.authority = {}, .path_and_query = target, .absolute = false};
}

FramingDecision decide_framing(const FramingFields& fields) noexcept {
  if (!fields.transfer_encoding.empty()) {
    // RFC 9112 §6.1: in HTTP/1.0 the framing is faulty, even with a Content-Length.
    if (fields.version < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
    // §6.3: smuggling, whichever the intermediary believed.
    if (!fields.content_length.empty()) return bad("both Content-Length and Transfer-Encoding");
    std::size_t codings = 0;
    std::size_t chunked = 0;
    bool chunked_last = false;
    bool chunked_parameters = false;
    for (const std::string_view value : fields.transfer_encoding) {
      const std::size_t before = codings;
      const bool ok = parse_transfer_codings(value, [&](std::string_view name, bool has_parameters) {
        ++codings;
        chunked_last = codecs::iequals(name, "chunked");
        if (chunked_last) {
          ++chunked;
          chunked_parameters = chunked_parameters || has_parameters;
        }
      });
      if (!ok) return bad("malformed Transfer-Encoding");
      // A field line naming no coding: parsers disagree on whether it resets the list (Beast's
      // does), so no reading of it is safe.
      if (codings == before) return bad("empty Transfer-Encoding");
    }
    // §6.3: a final coding other than chunked leaves the length unknowable.
    if (!chunked_last) return bad("the final transfer coding is not chunked");
    if (chunked > 1) return bad("chunked applied more than once");
    if (chunked_parameters) return bad("chunked takes no parameters");
    // §6.1: inlet implements no other transfer coding (Content-Encoding is where bodies decode).
    if (codings > 1) return {.reject = Reject::kTransferCodingNotImplemented, .detail = {}};
  }
  if (fields.content_length.size() > 1) return bad("duplicate Content-Length");
  std::uint64_t length = 0;
  if (fields.content_length.size() == 1 && !parse_length(fields.content_length.front(), length)) {
    return bad("invalid Content-Length");
  }
  // §3.2: one Host, well formed; HTTP/1.1 requires it.
  if (fields.host.size() > 1) return {.reject = Reject::kBadHost, .detail = "more than one Host header"};
  if (fields.host.empty() && fields.version >= 11) {
    return {.reject = Reject::kBadHost, .detail = "missing Host header"};
  }
  if (fields.host.size() == 1 && !is_valid_host(fields.host.front())) {
    return {.reject = Reject::kBadHost, .detail = "invalid Host header"};
  }
  FramingDecision decision;
  if (!fields.transfer_encoding.empty()) {
    decision.framing = BodyFraming::kChunked;
  } else if (!fields.content_length.empty()) {
    decision.framing = BodyFraming::kLength;
    decision.length = length;
  }
  return decision;
}

bool parser_agrees(const FramingDecision& decision, bool chunked, std::optional<std::uint64_t> length) noexcept {
  switch (decision.framing) {
    case BodyFraming::kChunked:
      return chunked && !length;
    case BodyFraming::kLength:
      return !chunked && length == decision.length;
    case BodyFraming::kNone:
      return !chunked && !length;
  }
  return false;
}

}  // namespace inlet::runtime
