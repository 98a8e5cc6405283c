// Internal to the durable log: segment file names and a buffered, read-only record scanner shared
// by recovery (log_queue.cc) and LogReader. Not thread-safe; one scanner per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace inlet::runtime::log_format {

// u32 length | u32 crc32c | u32 attributes_length, little-endian.
inline constexpr std::size_t kHeaderBytes = 12;
// A larger length field cannot come from the writer (bodies are bounded far below): corruption.
inline constexpr std::uint32_t kMaxRecordLength = 1u << 30;

std::string segment_name(std::uint64_t base);  // "00000000000000000042.log"
// Segments in `dir` sorted by base offset; other files are ignored. Throws if `dir` is unreadable.
std::vector<std::pair<std::uint64_t, std::filesystem::path>> list_segments(
    const std::filesystem::path& dir);

inline void put_u32(char* p, std::uint32_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
  p[2] = static_cast<char>(v >> 16);
  p[3] = static_cast<char>(v >> 24);
}
inline std::uint32_t get_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} | std::uint32_t{u[1]} << 8 | std::uint32_t{u[2]} << 16 |
         std::uint32_t{u[3]} << 24;
}

// Frees the page cache behind a sequential pass over a segment (the writer's or a consumer's).
// A log is written once and read once soon after, so its pages have no later use; left cached, each
// new write lands on memory the system never touched, and on a VM that first touch (a host page
// fault per page) costs more than the copy itself. Freed pages are reused by the next writes.
// The last kKeptBytes stay cached for a reader close behind; pages not yet written back are
// skipped by the kernel and retried on the next call, so nothing here waits for the disk.
class DropBehind {
 public:
  static constexpr std::uint64_t kKeptBytes = 32ull << 20;
  static constexpr std::uint64_t kStrideBytes = 4ull << 20;

  // The pass over `fd` has reached `position`; cheap unless a stride was crossed.
  void passed(int fd, std::uint64_t position) noexcept {
    if (position >= next_) drop_before(fd, position);
  }
  // The pass over `fd` is over (a sealed segment, synced): frees all of it, and starts afresh.
  void finished(int fd) noexcept;

 private:
  void drop_before(int fd, std::uint64_t position) noexcept;
  std::uint64_t next_ = kKeptBytes + kStrideBytes;
};

// Reads records sequentially from an open segment file descriptor with pread; the file may grow
// between calls (a live segment), so kEnd and kPartial are not final. A segment written over
// zeros (segment_spare.h) ends where a length field reads 0, which no record has; bytes past the
// end can change, so nothing past it is kept buffered.
class SegmentScanner {
 public:
  // A failed pread throws std::runtime_error (recovery and readers are not on the request path).
  enum class Result : std::uint8_t {
    kRecord,   // `attributes`/`body` are valid until the next call
    kEnd,      // no byte after position(), or a length of 0 there
    kPartial,  // an incomplete record after position()
    kCorrupt,  // a complete record whose CRC or lengths do not match, at position(); in a live
               // segment written over zeros, also a record being written right now
  };

  explicit SegmentScanner(int fd);
  Result next();
  std::uint64_t position() const noexcept { return pos_; }  // of the next record
  std::string_view attributes() const noexcept { return attributes_; }
  std::string_view body() const noexcept { return body_; }

 private:
  bool fill(std::size_t n);  // makes [pos_, pos_+n) buffered; false if the file is shorter
  Result stop(Result result) noexcept;  // forgets the bytes past pos_: they may still change

  int fd_;
  std::uint64_t pos_ = 0;
  std::vector<char> buf_;
  std::size_t buf_off_ = 0;  // index of pos_ in buf_
  std::size_t buf_len_ = 0;  // valid bytes in buf_ from buf_off_
  // How much one pread asks for. Small at the end of a segment written over zeros, where a large
  // read would copy zeros on every poll; doubles back to kReadChunk as records keep coming.
  std::size_t read_size_;
  std::string_view attributes_;
  std::string_view body_;
};

}  // namespace inlet::runtime::log_format
