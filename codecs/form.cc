#include "codecs/form.h"

#include "codecs/hex.h"

namespace inlet::codecs {
namespace {

void append_decoded(std::string& out, std::string_view text) {
  out.reserve(out.size() + text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
               hex_digit_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
}

}  // namespace

FormField find_form_field(std::string_view body, std::string_view name, std::string& value) {
  std::string decoded_name;
  while (!body.empty()) {
    const std::size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    decoded_name.clear();
    append_decoded(decoded_name, pair.substr(0, eq));
    if (decoded_name != name) continue;
    value.clear();
    if (eq != std::string_view::npos) append_decoded(value, pair.substr(eq + 1));
    return FormField::kFound;
  }
  return FormField::kMissing;
}

}  // namespace inlet::codecs
