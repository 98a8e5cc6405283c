// Named consumers of the durable log (CONTRACT.md section 5): each has a durable position in
// DIR/consumers/<name>.position, so any number of them read one log, in this process or in
// another one on the same machine, and each resumes where it last committed.
//
// The position file holds two 32-byte slots, written in turn, each
//   "INLP" | u32 0 | u64 sequence | u64 next offset | u32 crc32c (of the 24 bytes before) | u32 0
// little-endian. A commit overwrites the older slot and fdatasyncs the file, so a crash mid-write
// tears at most the slot being written and the other still holds the previous position.
//
// New records are noticed without busy polling: when the log's writer is in this process, its
// LogAppendSignal wakes the consumer after each write (log_append_signal.h); otherwise inotify on
// DIR does (the other process's appends and segment rolls).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/queue/consumer.h"

namespace inlet::runtime {

// A consumer name is a file name: letters, digits, '.', '_' and '-', at most 128 of them.
bool is_valid_consumer_name(std::string_view name) noexcept;

// The position file of one consumer. Not thread-safe.
class LogConsumerPosition {
 public:
  // Opens DIR/consumers/<name>.position, creating it (at offset 0, or `initial`) when absent.
  // Throws std::runtime_error naming the file.
  LogConsumerPosition(const std::filesystem::path& dir, std::string_view name);
  ~LogConsumerPosition();

  std::uint64_t next_offset() const noexcept { return next_offset_; }
  // Durable (fdatasync) when it returns; throws std::runtime_error on an I/O error.
  void store(std::uint64_t next_offset);

  static std::filesystem::path path_of(const std::filesystem::path& dir, std::string_view name);
  // The next offset a file says, without creating anything; nullopt when it has no valid slot.
  static std::optional<std::uint64_t> read(const std::filesystem::path& file);

 private:
  int fd_ = -1;
  std::uint64_t sequence_ = 0;
  std::uint64_t next_offset_ = 0;
};

// Opens a consumer of the log in `dir` (which must exist) that resumes at its committed position.
std::unique_ptr<Consumer> open_log_consumer(const std::filesystem::path& dir, std::string_view name);

// What `inlet queue consumers` shows of each consumer.
struct LogConsumerInfo {
  std::string name;
  std::uint64_t next_offset = 0;
  std::uint64_t lag = 0;  // records from next_offset to the end of the log
};
struct LogExtent {
  std::uint64_t first = 0;  // the oldest offset retention left
  std::uint64_t end = 0;    // one past the newest record
};
// Scans the segments for the first and end offsets. Throws std::runtime_error.
LogExtent log_extent(const std::filesystem::path& dir);
// Each consumer of the log in `dir`, its lag counted against `extent` (log_extent's, scanned once).
std::vector<LogConsumerInfo> list_log_consumers(const std::filesystem::path& dir, const LogExtent& extent);
// "2026-12-01T10:00:00Z", "…T10:00:00.25+02:00": microseconds since the epoch; nullopt otherwise.
std::optional<std::int64_t> parse_rfc3339_micros(std::string_view text);
// The first offset whose received_at is at or after `unix_micros` (the end when there is none).
std::uint64_t log_offset_at_time(const std::filesystem::path& dir, std::int64_t unix_micros);

}  // namespace inlet::runtime
