#include "codecs/content_type.h"

namespace inlet::codecs {
namespace {

constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 9110 tchar.
constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool iends_with(std::string_view a, std::string_view lower) noexcept {
  return a.size() >= lower.size() && iequals(a.substr(a.size() - lower.size()), lower);
}

}  // namespace

bool is_json_media_type(std::string_view content_type) noexcept {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  media = trim(media);
  const std::size_t slash = media.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view type = media.substr(0, slash);
  const std::string_view subtype = media.substr(slash + 1);
  if (!is_token(type) || !is_token(subtype)) return false;
  if (iequals(type, "application") && iequals(subtype, "json")) return true;
  // A structured syntax suffix needs a non-empty name in front of it: `+json` alone is not one.
  return subtype.size() > 5 && iends_with(subtype, "+json");
}

bool is_form_media_type(std::string_view content_type) noexcept {
  return iequals(trim(content_type.substr(0, content_type.find(';'))),
                 "application/x-www-form-urlencoded");
}

std::optional<EncodingList> parse_content_encoding(std::string_view header) noexcept {
  EncodingList list;
  while (true) {
    const std::size_t comma = header.find(',');
    const std::string_view item = trim(header.substr(0, comma));
    // RFC 9110 section 5.6.1: recipients accept empty list elements ("gzip, , br").
    if (!item.empty() && !iequals(item, "identity")) {
      const Coding* coding = find_coding(item);
      if (coding == nullptr || list.size == EncodingList::kMax) return std::nullopt;
      list.items[list.size++] = coding;
    }
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return list;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

}  // namespace inlet::codecs
