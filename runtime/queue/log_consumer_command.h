// `inlet queue consumers` and `inlet queue seek`: each named consumer's position and lag, and
// moving a consumer to replay or skip a range (CONTRACT.md section 5).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace inlet::runtime {

// One JSON line per consumer: {"consumer","next_offset","lag"}, then a summary line on stderr.
// Returns 0, or 1 after a message on stderr.
int run_queue_consumers(const std::filesystem::path& dir, std::FILE* out);

struct SeekTarget {
  enum class Kind : std::uint8_t { kOffset, kTime, kEarliest, kLatest } kind = Kind::kEarliest;
  std::uint64_t offset = 0;    // kOffset
  std::int64_t unix_micros = 0;  // kTime
};
// Moves (or creates) consumer `name` to `target`, refusing while a node holds the log open.
// Prints the old and new positions on stderr. Returns 0, or 1 after a message on stderr.
int run_queue_seek(const std::filesystem::path& dir, const std::string& name, const SeekTarget& target);

}  // namespace inlet::runtime
