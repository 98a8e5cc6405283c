// The embedded durable log: an append-only, segmented log on local disk, the default edge queue.
//
// Layout: DIR/<20-digit base offset>.log segments. Each record is
//   u32 length (of what follows the CRC) | u32 crc32c (of what follows) | u32 attributes_length |
//   attributes (compact JSON object) | body
// little-endian. Offsets count records from 0 across segments. With ack: fsync, a segment may be
// written over a file of zeros (segment_spare.h): its records end where a length field reads 0,
// and rolling cuts the zeros off.
//
// One writer thread owns the files. store() (any thread, lock-free) builds the record header and
// CRC on the caller's thread into a pooled node, then pushes it onto an intrusive MPSC list; the
// body is never copied (writev points at the caller's bytes). The writer takes every pending record
// at once, writes them with pwritev, and (ack: fsync) one fdatasync covers them all: group commit.
// A write or sync error answers kUnavailable for the records concerned and cuts them from the file;
// later batches are tried again normally. On open, a torn or corrupt tail of the last segment is
// cut off; damage inside a sealed segment makes open fail. Retention deletes whole sealed segments.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "runtime/queue/queue.h"

namespace inlet::runtime {

enum class AckMode : std::uint8_t { kFsync, kWrite };

struct LogQueueOptions {
  std::filesystem::path dir = "./data/queue";
  AckMode ack = AckMode::kFsync;
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t retention_bytes = 0;           // 0 = keep everything
  std::chrono::milliseconds retention_age{0};  // 0 = keep everything
  // Messages stored but not yet called back; beyond it store() answers kFull inline. Each slot
  // holds a ~0.5 KiB preallocated header, constructed on first use.
  std::uint32_t max_in_flight = 4096;
  // How often the writer checks retention (it also checks on every segment roll).
  std::chrono::milliseconds retention_check_interval{5000};
  // ack: fsync: once the active segment has synced this many times, with at most
  // spare_max_bytes_per_sync written per sync on average, a spare segment of zeros is prepared and
  // the log moves onto it (segment_spare.h). A spare costs a write of its bytes and saves a journal
  // commit per sync: it pays for many small syncs, not for a log that syncs rarely or writes
  // large batches. 0 = never.
  std::uint64_t spare_after_syncs = 256;
  std::uint64_t spare_max_bytes_per_sync = 32 << 10;
};

// Counters of the writer thread, for benchmarks and /metrics.
// Opens (creating DIR if needed) and recovers the log; throws std::runtime_error with the path on
// failure (start-up only).
std::unique_ptr<Queue> open_log_queue(const LogQueueOptions& options);


// One stored record, as read back.
struct LogRecord {
  std::uint64_t offset = 0;
  std::string attributes;  // compact JSON object: tracking_id, received_at, message_type, node,
                           // content_type, and user/identity/scopes when present
  std::string body;
};

// Reads records in order from `from`. Never modifies the log, so it can run while a node writes.
// Offsets already deleted by retention are skipped: reading starts at the oldest segment left.
// Not thread-safe: one reader per thread.
class LogReader {
 public:
  LogReader(std::filesystem::path dir, std::uint64_t from);
  ~LogReader();
  // The next complete record, or nullopt at the current end. A record whose CRC does not match
  // in a sealed segment throws std::runtime_error naming the segment and file position; in the
  // live segment it is taken for one being written, and waited for.
  std::optional<LogRecord> next();
  // While on, the page cache of what was read is freed behind the reader (log_segment.h): for a
  // consumer that is the only one of its log in this process. Another process's reader may then
  // read those pages from disk, which costs it time, never records.
  void drop_behind(bool on) noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace inlet::runtime
