#include "runtime/message.h"

#include <simdjson.h>

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

void append_attributes_json(std::string& out, std::span<const AttributeField> fields) {
  const auto find = [&](std::string_view name) -> const AttributeField* {
    for (const AttributeField& field : fields) {
      if (field.name == name) return &field;
    }
    return nullptr;
  };
  char separator = '{';
  for (const TextAttribute& attribute : kTextAttributes) {
    const AttributeField* field = find(attribute.name);
    if (field == nullptr || (attribute.optional && field->value.empty())) continue;
    out += separator;
    separator = ',';
    append_json_string(out, attribute.name);
    out += ':';
    append_json_string(out, field->value);
  }
  // Written back string by string: a foreign writer's malformed list is left out, not passed on.
  if (const AttributeField* scopes = find(kScopes); scopes != nullptr) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (parser.parse(simdjson::padded_string(scopes->value)).get_array().get(list) == simdjson::SUCCESS) {
      std::string items;
      bool all_strings = true;
      for (simdjson::dom::element item : list) {
        std::string_view text;
        if (item.get_string().get(text) != simdjson::SUCCESS) {
          all_strings = false;
          break;
        }
        items += items.empty() ? "" : ",";
        append_json_string(items, text);
      }
      if (all_strings && !items.empty()) {
        out += separator;
        separator = ',';
        append_json_string(out, kScopes);
        out += ":[";
        out += items;
        out += ']';
      }
    }
  }
  if (separator == '{') out += '{';
  out += '}';
}

}  // namespace inlet::runtime
