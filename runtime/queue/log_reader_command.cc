#include "runtime/queue/log_reader_command.h"

#include <simdjson.h>

#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

#include "codecs/json_validator.h"
#include "runtime/log.h"
#include "runtime/message.h"
#include "runtime/queue/log_queue.h"

namespace inlet::runtime {

namespace {

// Copies attribute `key` (a string) to `out`, or null when absent.
void append_attribute(std::string& out, simdjson::dom::object& attributes, std::string_view key) {
  out += ",\"";
  out += key;
  out += "\":";
  std::string_view value;
  if (attributes[key].get_string().get(value) == simdjson::SUCCESS) {
    append_json_string(out, value);
  } else {
    out += "null";
  }
}

class LineFormatter {
 public:
  // Returns false (with `error` set) when the attributes are not a JSON object.
  bool format(const LogRecord& record, std::string& line, std::string& error) {
    line.clear();
    line += "{\"offset\":";
    line += std::to_string(record.offset);
    simdjson::dom::object attributes;
    if (parser_.parse(record.attributes).get_object().get(attributes) != simdjson::SUCCESS) {
      error = "record " + std::to_string(record.offset) + " has malformed attributes";
      return false;
    }
    for (const TextAttribute& attribute : kTextAttributes) append_attribute(line, attributes, attribute.name);
    for (const ListAttribute& list_attribute : kListAttributes) {
      line += ",\"";
      line += list_attribute.name;
      line += "\":[";
      simdjson::dom::array list;
      if (attributes[list_attribute.name].get_array().get(list) == simdjson::SUCCESS) {
        bool first = true;
        for (simdjson::dom::element item : list) {
          std::string_view text;
          if (item.get_string().get(text) != simdjson::SUCCESS) continue;
          if (!first) line += ',';
          first = false;
          append_json_string(line, text);
        }
      }
      line += ']';
    }
    line += ",\"body\":";
    // Validate first: minify alone would pass non-JSON through and break the output line.
    padded_.assign(record.body);
    padded_.append(codecs::kJsonPadding, '\0');
    if (body_parser_.parse(padded_.data(), record.body.size(), false).error() ==
        simdjson::SUCCESS) {
      minified_.resize(record.body.size() + codecs::kJsonPadding);
      std::size_t size = 0;
      if (simdjson::minify(record.body.data(), record.body.size(), minified_.data(), size) ==
          simdjson::SUCCESS) {
        line.append(minified_.data(), size);
      } else {
        append_json_string(line, record.body);
      }
    } else {
      append_json_string(line, record.body);
    }
    line += "}\n";
    return true;
  }

 private:
  simdjson::dom::parser parser_;
  simdjson::dom::parser body_parser_;
  std::string padded_;
  std::string minified_;
};

}  // namespace

int run_queue_read(const std::filesystem::path& dir, std::uint64_t from, bool follow,
                   std::FILE* out, const std::atomic<bool>* stop) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::fprintf(stderr, "inlet queue read: %s: no such directory\n", dir.c_str());
    return 1;
  }
  try {
    LogReader reader(dir, from);
    LineFormatter formatter;
    std::string line;
    std::string error;
    for (;;) {
      while (auto record = reader.next()) {
        if (!formatter.format(*record, line, error)) {
          std::fprintf(stderr, "inlet queue read: %s: %s\n", dir.c_str(), error.c_str());
          return 1;
        }
        std::fwrite(line.data(), 1, line.size(), out);
      }
      std::fflush(out);
      if (!follow) return 0;
      if (stop != nullptr && stop->load()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (stop != nullptr && stop->load()) return 0;
    }
  } catch (const std::exception& e) {
    std::fflush(out);
    std::fprintf(stderr, "inlet queue read: %s\n", e.what());
    return 1;
  }
}

}  // namespace inlet::runtime
