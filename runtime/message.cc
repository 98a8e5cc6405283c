#include "runtime/message.h"

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "runtime/log.h"

namespace inlet::runtime {

void make_tracking_id(std::mt19937_64& random, char out[32]) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t high = random();
  std::uint64_t low = random();
  high = (high & ~0xF000ull) | 0x4000ull;                   // version 4
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  for (int i = 15; i >= 0; --i, high >>= 4) out[i] = kHex[high & 15];
  for (int i = 31; i >= 16; --i, low >>= 4) out[i] = kHex[low & 15];
}

void format_received_at(ReceivedAtClock& tools, char out[27]) noexcept {
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::int64_t second = micros / 1000000;
  if (second != tools.cached_second) {
    const std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::snprintf(tools.second_text, sizeof tools.second_text, "%04d-%02d-%02dT%02d:%02d:%02d",
                  tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    tools.cached_second = second;
  }
  std::memcpy(out, tools.second_text, 19);
  out[19] = '.';
  auto fraction = static_cast<std::uint32_t>(micros % 1000000);
  for (int i = 25; i >= 20; --i, fraction /= 10) out[i] = static_cast<char>('0' + fraction % 10);
  out[26] = 'Z';
}


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
  for_each_list_attribute(message, [&](std::string_view name, std::span<const std::string> list) {
    out += separator;
    separator = ',';
    append_json_string(out, name);
    out += ':';
    append_scopes_json(out, list);
  });
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
  for (const ListAttribute& attribute : kListAttributes) {
    const AttributeField* field = find(attribute.name);
    if (field == nullptr) continue;
    thread_local simdjson::dom::parser parser;
    simdjson::dom::array list;
    if (parser.parse(simdjson::padded_string(field->value)).get_array().get(list) != simdjson::SUCCESS)
      continue;
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
      append_json_string(out, attribute.name);
      out += ":[";
      out += items;
      out += ']';
    }
  }
  if (separator == '{') out += '{';
  out += '}';
}

}  // namespace inlet::runtime
