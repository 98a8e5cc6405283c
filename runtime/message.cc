#include "runtime/message.h"

#include "runtime/log.h"

namespace inlet::runtime {

void append_scopes_json(std::string& out, std::span<const std::string> scopes) {
  out += '[';
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, scopes[i]);
  }
  out += ']';
}

void append_attributes_json(std::string& out, const Message& message) {
  char separator = '{';
  for_each_text_attribute(message, [&](std::string_view name, std::string_view value) {
    out += separator;
    separator = ',';
    append_json_string(out, name);
    out += ':';
    append_json_string(out, value);
  });
  if (!message.scopes.empty()) {
    out += separator;
    separator = ',';
    append_json_string(out, kScopes);
    out += ':';
    append_scopes_json(out, message.scopes);
  }
  if (separator == '{') out += '{';
  out += '}';
}

}  // namespace inlet::runtime
