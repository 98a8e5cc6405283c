#include "runtime/queue/log_segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "codecs/crc32c.h"

namespace inlet::runtime::log_format {

namespace {

constexpr std::size_t kReadChunk = 1 << 20;
constexpr std::size_t kTailRead = 4096;

}  // namespace

std::string segment_name(std::uint64_t base) {
  char name[32];
  const int n =
      std::snprintf(name, sizeof name, "%020llu.log", static_cast<unsigned long long>(base));
  return std::string(name, static_cast<std::size_t>(n));
}

std::vector<std::pair<std::uint64_t, std::filesystem::path>> list_segments(
    const std::filesystem::path& dir) {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> segments;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 24 || name.compare(20, 4, ".log") != 0) continue;
    if (!std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    segments.emplace_back(std::stoull(name.substr(0, 20)), entry.path());
  }
  std::sort(segments.begin(), segments.end());
  return segments;
}

void DropBehind::drop_before(int fd, std::uint64_t position) noexcept {
  // Three strides behind the kept window are retried: writeback of the last ones may not have
  // finished when they were first asked for.
  const std::uint64_t end = position - kKeptBytes;
  const std::uint64_t begin = end > 4 * kStrideBytes ? end - 4 * kStrideBytes : 0;
  ::posix_fadvise(fd, static_cast<off_t>(begin), static_cast<off_t>(end - begin), POSIX_FADV_DONTNEED);
  next_ = position + kStrideBytes;
}

void DropBehind::finished(int fd) noexcept {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  next_ = kKeptBytes + kStrideBytes;
}

SegmentScanner::SegmentScanner(int fd) : fd_(fd), read_size_(kReadChunk) {}

bool SegmentScanner::fill(std::size_t n) {
  if (buf_len_ >= n) return true;
  if (buf_off_ > 0) {
    std::memmove(buf_.data(), buf_.data() + buf_off_, buf_len_);
    buf_off_ = 0;
  }
  if (buf_.size() < n) {
    // A record's length field is only a claim until its bytes exist: a torn or corrupt one may say
    // up to kMaxRecordLength, and allocating that for a file of a few bytes would cost every
    // reader (and recovery at start) a gigabyte.
    if (n > kReadChunk) {
      struct stat st {};
      if (::fstat(fd_, &st) != 0) {
        throw std::runtime_error(std::string("reading a log segment: ") + std::strerror(errno));
      }
      if (pos_ + n > static_cast<std::uint64_t>(st.st_size)) return false;
    }
    buf_.resize(std::max(n, kReadChunk));
  }
  const std::size_t want = std::max(n, read_size_);
  read_size_ = std::min(read_size_ * 2, kReadChunk);
  while (buf_len_ < n) {
    const ssize_t got = ::pread(fd_, buf_.data() + buf_len_, std::min(buf_.size(), want) - buf_len_,
                                static_cast<off_t>(pos_ + buf_len_));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("reading a log segment: ") + std::strerror(errno));
    }
    if (got == 0) return false;
    buf_len_ += static_cast<std::size_t>(got);
  }
  return true;
}

SegmentScanner::Result SegmentScanner::stop(Result result) noexcept {
  buf_off_ = 0;
  buf_len_ = 0;
  read_size_ = kTailRead;
  return result;
}

SegmentScanner::Result SegmentScanner::next() {
  if (!fill(8)) return stop(buf_len_ == 0 ? Result::kEnd : Result::kPartial);
  const char* p = buf_.data() + buf_off_;
  const std::uint32_t length = get_u32(p);
  if (length == 0) return stop(Result::kEnd);
  if (length < 4 || length > kMaxRecordLength) return stop(Result::kCorrupt);
  if (!fill(8 + std::size_t{length})) return stop(Result::kPartial);
  p = buf_.data() + buf_off_;
  const std::uint32_t crc = get_u32(p + 4);
  if (codecs::crc32c(0, p + 8, length) != crc) return stop(Result::kCorrupt);
  const std::uint32_t attributes_length = get_u32(p + 8);
  if (attributes_length > length - 4) return stop(Result::kCorrupt);
  attributes_ = std::string_view(p + kHeaderBytes, attributes_length);
  body_ = std::string_view(p + kHeaderBytes + attributes_length, length - 4 - attributes_length);
  const std::size_t record = 8 + std::size_t{length};
  buf_off_ += record;
  buf_len_ -= record;
  pos_ += record;
  return Result::kRecord;
}

}  // namespace inlet::runtime::log_format
