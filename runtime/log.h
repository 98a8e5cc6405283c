// Structured logs: one JSON object per line on stdout, with level, time, node, event and fields.
// Thread-safe: each line is formatted on the caller's thread and written with one write(2).
// Request bodies and secrets must never be passed in.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace inlet::runtime {

enum class LogLevel : std::uint8_t { kDebug, kInfo, kWarn, kError };

struct LogField {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool> value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, std::int64_t v) : key(k), value(v) {}
  LogField(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  LogField(std::string_view k, std::uint64_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
};

class Logger {
 public:
  // The process-wide logger; the node name and level are set once at start (and on reload).
  static Logger& instance();

  void set_node(std::string node);
  void set_level(LogLevel level) noexcept { level_.store(level, std::memory_order_relaxed); }
  void set_fd(int fd) noexcept { fd_ = fd; }
  bool enabled(LogLevel level) const noexcept { return level >= level_.load(std::memory_order_relaxed); }

  void log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

 private:
  std::atomic<LogLevel> level_{LogLevel::kInfo};
  std::string node_;
  int fd_ = 1;
};

std::optional<LogLevel> parse_log_level(std::string_view name);

inline void log_debug(std::string_view event, std::initializer_list<LogField> fields = {}) {
  if (Logger::instance().enabled(LogLevel::kDebug)) Logger::instance().log(LogLevel::kDebug, event, fields);
}
inline void log_info(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Logger::instance().log(LogLevel::kInfo, event, fields);
}
inline void log_warn(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Logger::instance().log(LogLevel::kWarn, event, fields);
}
inline void log_error(std::string_view event, std::initializer_list<LogField> fields = {}) {
  Logger::instance().log(LogLevel::kError, event, fields);
}

// At most one line a second for one kind of trouble: an outage would otherwise log on every
// message or every poll. Thread-safe.
class LogThrottle {
 public:
  bool allow() noexcept {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
    std::int64_t last = last_second_.load(std::memory_order_relaxed);
    return now != last && last_second_.compare_exchange_strong(last, now);
  }

 private:
  std::atomic<std::int64_t> last_second_{-1};
};

// Appends `text` to `out` as the inside of a JSON string (escaping quotes, controls, \).
void append_json_escaped(std::string& out, std::string_view text);
// Appends `text` as a JSON string, quotes included.
void append_json_string(std::string& out, std::string_view text);

}  // namespace inlet::runtime
