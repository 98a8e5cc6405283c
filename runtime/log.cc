#include "runtime/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace inlet::runtime {

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

void Logger::set_node(std::string node) { node_ = std::move(node); }

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  append_json_escaped(out, text);
  out += '"';
}

void append_json_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto needs_escape = [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  };
  // Every message's attributes pass through here on the I/O thread: runs of plain bytes are
  // appended in one call rather than a byte at a time.
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!needs_escape(c)) continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        const char escaped[] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
        out.append(escaped, sizeof escaped);
      }
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
}

namespace {

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};

void append_time(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                              static_cast<long long>(micros % 1000000));
  out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

void Logger::log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(256);
  line += "{\"time\":\"";
  append_time(line);
  line += "\",\"level\":\"";
  line += kLevelNames[static_cast<int>(level)];
  line += "\",\"node\":\"";
  append_json_escaped(line, node_);
  line += "\",\"event\":\"";
  append_json_escaped(line, event);
  line += '"';
  for (const LogField& field : fields) {
    line += ",\"";
    append_json_escaped(line, field.key);
    line += "\":";
    if (const auto* s = std::get_if<std::string_view>(&field.value)) {
      line += '"';
      append_json_escaped(line, *s);
      line += '"';
    } else if (const auto* i = std::get_if<std::int64_t>(&field.value)) {
      line += std::to_string(*i);
    } else if (const auto* d = std::get_if<double>(&field.value)) {
      char buf[32];
      line.append(buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "%.6g", *d)));
    } else {
      line += std::get<bool>(field.value) ? "true" : "false";
    }
  }
  line += "}\n";
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace inlet::runtime
