// A small, independent reference for the framing decision of an HTTP/1.1 request head, written
// straight from RFC 9112 (§2.2, §3, §5, §6) with none of inlet's code: the request head fuzz target
// checks that the server frames every request it accepts exactly as this says.
//
// It reads the raw head (up to and including the blank line). Anything it cannot read strictly,
// it rejects; the property checked is one-sided where the server's parser refused first.
#pragma once

#include <cctype>
#include <cstdint>
#include <utility>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::fuzz {

enum class Reference { kReject, kNotImplemented, kNoBody, kLength, kChunked };

struct ReferenceDecision {
  Reference kind = Reference::kReject;
  std::uint64_t length = 0;
};

namespace detail {

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

inline bool tchar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits on `separator` outside quoted strings; false on an unterminated quote.
inline bool split_outside_quotes(std::string_view value, char separator, std::vector<std::string_view>& out) {
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (quoted && value[i] == '\\') {
      ++i;
    } else if (value[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && value[i] == separator) {
      out.push_back(trim_ows(value.substr(start, i - start)));
      start = i + 1;
    }
  }
  if (quoted) return false;
  out.push_back(trim_ows(value.substr(start)));
  return true;
}

// A #list: comma-separated elements.
inline bool split_list(std::string_view value, std::vector<std::string_view>& out) {
  return split_outside_quotes(value, ',', out);
}

inline bool all_tchar(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!tchar(c)) return false;
  }
  return true;
}

// transfer-parameter = token BWS "=" BWS ( token / quoted-string )
inline bool parameter(std::string_view p) {
  const std::size_t eq = p.find('=');
  if (eq == std::string_view::npos || !all_tchar(trim_ows(p.substr(0, eq)))) return false;
  const std::string_view v = trim_ows(p.substr(eq + 1));
  if (all_tchar(v)) return true;
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < v.size(); ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c == '\\') {
      if (++i + 1 > v.size() - 1) return false;
      continue;
    }
    if (c == '"' || (c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

struct Coding {
  std::string name;
  bool parameters = false;
};

// transfer-coding = token *( OWS ";" OWS transfer-parameter ); false when malformed.
inline bool coding(std::string_view element, Coding& out) {
  // A ';' inside a quoted parameter value separates nothing (found by the fuzzer: the reference
  // split there, and called a valid coding list malformed).
  std::vector<std::string_view> pieces;
  if (!split_outside_quotes(element, ';', pieces)) return false;
  if (!all_tchar(pieces[0])) return false;
  out.name = lowered(pieces[0]);
  out.parameters = pieces.size() > 1;
  for (std::size_t k = 1; k < pieces.size(); ++k) {
    if (!parameter(pieces[k])) return false;
  }
  return true;
}

inline bool host_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
  return std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
}

// Host = uri-host [ ":" port ]
inline bool valid_host(std::string_view h) {
  std::size_t i = 0;
  if (!h.empty() && h[0] == '[') {
    const std::size_t close = h.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (std::size_t k = 1; k < close; ++k) {
      if (!host_char(h[k]) && h[k] != ':') return false;
    }
    i = close + 1;
  } else {
    while (i < h.size() && h[i] != ':') {
      if (h[i] == '%') {
        if (i + 2 >= h.size() || !std::isxdigit(static_cast<unsigned char>(h[i + 1])) ||
            !std::isxdigit(static_cast<unsigned char>(h[i + 2]))) {
          return false;
        }
        i += 3;
        continue;
      }
      if (!host_char(h[i])) return false;
      ++i;
    }
  }
  if (i == h.size()) return true;
  if (h[i] != ':') return false;
  for (++i; i < h.size(); ++i) {
    if (h[i] < '0' || h[i] > '9') return false;
  }
  return true;
}

}  // namespace detail

// `head`: the request line and field lines, each ending in CRLF, then CRLF.
inline ReferenceDecision reference_framing(std::string_view head) {
  using namespace detail;
  const ReferenceDecision reject{};
  std::vector<std::string_view> lines;
  std::size_t at = 0;
  for (;;) {
    const std::size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) return reject;
    if (end == at) break;
    lines.push_back(head.substr(at, end - at));
    at = end + 2;
  }
  if (lines.empty()) return reject;
  // request-line = method SP request-target SP HTTP-version
  const std::string_view line = lines[0];
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return reject;
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return reject;
  const bool http11 = version == "HTTP/1.1";

  // §5.2: an obs-fold line continues the previous field; a server may replace it with SP.
  std::vector<std::pair<std::string, std::string>> fields;  // lower-case name, unfolded value
  for (std::size_t n = 1; n < lines.size(); ++n) {
    const std::string_view field = lines[n];
    if (field[0] == ' ' || field[0] == '\t') {
      if (fields.empty()) return reject;
      fields.back().second += ' ';
      fields.back().second += trim_ows(field);
      continue;
    }
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return reject;
    const std::string_view name = field.substr(0, colon);
    if (!all_tchar(name)) return reject;  // no whitespace before the colon: §5.1
    fields.emplace_back(lowered(name), std::string(trim_ows(field.substr(colon + 1))));
  }
  std::vector<std::string_view> te_values, cl_values, hosts;
  for (const auto& [name, value] : fields) {
    if (name == "transfer-encoding") te_values.push_back(trim_ows(value));
    if (name == "content-length") cl_values.push_back(trim_ows(value));
    if (name == "host") hosts.push_back(trim_ows(value));
  }

  ReferenceDecision decision;
  if (!te_values.empty()) {
    if (!http11 || !cl_values.empty()) return reject;
    std::vector<Coding> codings;
    for (std::string_view value : te_values) {
      std::vector<std::string_view> elements;
      if (!split_list(value, elements)) return reject;
      const std::size_t before = codings.size();
      for (std::string_view element : elements) {
        if (element.empty()) continue;
        Coding c;
        if (!coding(element, c)) return reject;
        codings.push_back(c);
      }
      if (codings.size() == before) return reject;  // a line with no coding cannot be read safely
    }
    if (codings.empty() || codings.back().name != "chunked" || codings.back().parameters) return reject;
    for (std::size_t k = 0; k + 1 < codings.size(); ++k) {
      if (codings[k].name == "chunked") return reject;
    }
    if (codings.size() > 1) return {Reference::kNotImplemented, 0};
    decision.kind = Reference::kChunked;
  } else if (cl_values.size() > 1) {
    return reject;
  } else if (cl_values.size() == 1) {
    const std::string_view v = cl_values[0];
    if (v.empty()) return reject;
    std::uint64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return reject;
      const auto digit = static_cast<std::uint64_t>(c - '0');
      if (n > (UINT64_MAX - digit) / 10) return reject;  // does not fit: no length can be trusted
      n = n * 10 + digit;
    }
    decision = {Reference::kLength, n};
  } else {
    decision.kind = Reference::kNoBody;
  }
  if (hosts.size() > 1 || (http11 && hosts.empty())) return reject;
  if (hosts.size() == 1 && !valid_host(hosts[0])) return reject;
  return decision;
}

}  // namespace inlet::fuzz
