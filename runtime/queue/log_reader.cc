#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>

#include "runtime/queue/log_queue.h"
#include "runtime/queue/log_segment.h"

namespace inlet::runtime {

using log_format::SegmentScanner;

struct LogReader::State {
  std::filesystem::path dir;
  std::uint64_t from = 0;
  std::uint64_t offset = 0;  // of the scanner's next record
  std::filesystem::path path;
  std::uint64_t base = 0;  // of the open segment
  int fd = -1;
  std::optional<SegmentScanner> scanner;
  bool drop = false;
  log_format::DropBehind dropper;

  ~State() {
    if (fd >= 0) ::close(fd);
  }

  void open(std::uint64_t base, std::filesystem::path segment) {
    const int new_fd = ::open(segment.c_str(), O_RDONLY | O_CLOEXEC);
    if (new_fd < 0) throw std::runtime_error("log reader: cannot open " + segment.string());
    if (fd >= 0) {
      if (drop) dropper.finished(fd);
      ::close(fd);
    }
    fd = new_fd;
    path = std::move(segment);
    this->base = base;
    offset = base;
    scanner.emplace(fd);
  }

  // Whether a segment newer than the open one exists: then the open one is sealed.
  bool newer_segment_exists() const {
    const auto segments = log_format::list_segments(dir);
    return !segments.empty() && segments.back().first > base;
  }

  [[noreturn]] void corrupt(const char* what) const {
    throw std::runtime_error("log segment " + path.string() + ": " + what + " at byte " +
                             std::to_string(scanner->position()));
  }
};

LogReader::LogReader(std::filesystem::path dir, std::uint64_t from)
    : state_(std::make_unique<State>()) {
  state_->dir = std::move(dir);
  state_->from = from;
}

LogReader::~LogReader() = default;

void LogReader::drop_behind(bool on) noexcept { state_->drop = on; }

std::optional<LogRecord> LogReader::next() {
  State& s = *state_;
  if (!s.scanner) {
    std::error_code ec;
    if (!std::filesystem::is_directory(s.dir, ec)) return std::nullopt;
    const auto segments = log_format::list_segments(s.dir);
    if (segments.empty()) return std::nullopt;
    std::size_t pick = 0;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      if (segments[i].first <= s.from) pick = i;
    }
    s.open(segments[pick].first, segments[pick].second);
  }
  // Set once the next segment exists: the current one is sealed, so its end is final.
  bool sealed = false;
  for (;;) {
    const SegmentScanner::Result result = s.scanner->next();
    switch (result) {
      case SegmentScanner::Result::kRecord: {
        const std::uint64_t offset = s.offset++;
        if (s.drop) s.dropper.passed(s.fd, s.scanner->position());
        if (offset < s.from) continue;
        return LogRecord{offset, std::string(s.scanner->attributes()),
                         std::string(s.scanner->body())};
      }
      // In the live segment a mismatch may be a record being written over zeros (segment_spare.h),
      // and an incomplete record one being appended: both are waited for until a newer segment
      // exists. Recovery checks the live segment before its writer starts, so nothing older is
      // damaged there.
      case SegmentScanner::Result::kCorrupt:
      case SegmentScanner::Result::kPartial: {
        const bool corrupt = result == SegmentScanner::Result::kCorrupt;
        if (sealed) {
          s.corrupt(corrupt ? "corrupt record (CRC or length mismatch)"
                            : "incomplete record in a sealed segment");
        }
        if (!s.newer_segment_exists()) return std::nullopt;
        sealed = true;  // the writer may have finished the record just before rolling: look again
        continue;
      }
      case SegmentScanner::Result::kEnd: {
        auto following = s.dir / log_format::segment_name(s.offset);
        std::error_code ec;
        // An empty segment names itself as the following one: nothing more to read yet.
        if (following == s.path || !std::filesystem::exists(following, ec)) return std::nullopt;
        if (!sealed) {
          // The writer may have appended to this segment just before rolling: look once more.
          sealed = true;
          continue;
        }
        s.open(s.offset, std::move(following));
        sealed = false;
        continue;
      }
    }
  }
}

}  // namespace inlet::runtime
