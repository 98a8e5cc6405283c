#include "runtime/queue/log_consumer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "codecs/crc32c.h"
#include "codecs/unique_handle.h"
#include "runtime/queue/log_append_signal.h"
#include "runtime/queue/log_queue.h"
#include "runtime/queue/log_segment.h"

namespace inlet::runtime {
namespace {

using log_format::get_u32;
using log_format::put_u32;

constexpr std::size_t kSlotBytes = 32;
constexpr char kMagic[4] = {'I', 'N', 'L', 'P'};

void put_u64(char* p, std::uint64_t v) {
  put_u32(p, static_cast<std::uint32_t>(v));
  put_u32(p + 4, static_cast<std::uint32_t>(v >> 32));
}
std::uint64_t get_u64(const char* p) { return get_u32(p) | std::uint64_t{get_u32(p + 4)} << 32; }

struct Slot {
  std::uint64_t sequence = 0;
  std::uint64_t next_offset = 0;
};

std::optional<Slot> parse_slot(const char* p) {
  if (std::memcmp(p, kMagic, 4) != 0) return std::nullopt;
  if (codecs::crc32c(0, p, 24) != get_u32(p + 24)) return std::nullopt;
  return Slot{get_u64(p + 8), get_u64(p + 16)};
}

// The newest valid slot of a position file's bytes.
std::optional<Slot> newest_slot(const char* data, std::size_t size) {
  std::optional<Slot> best;
  for (std::size_t at = 0; at + kSlotBytes <= size && at < 2 * kSlotBytes; at += kSlotBytes) {
    const std::optional<Slot> slot = parse_slot(data + at);
    if (slot && (!best || slot->sequence > best->sequence)) best = slot;
  }
  return best;
}

[[noreturn]] void fail(const std::string& what, const std::filesystem::path& file) {
  throw std::runtime_error(what + " " + file.string() + ": " + std::strerror(errno));
}

// The received_at attribute of a record's attributes, in microseconds since the epoch; nullopt
// when absent or not "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
std::optional<std::int64_t> received_at_micros(std::string_view attributes) {
  static constexpr std::string_view kKey = "\"received_at\":\"";
  const std::size_t at = attributes.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view rest = attributes.substr(at + kKey.size());
  return parse_rfc3339_micros(rest.substr(0, rest.find('"')));
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339_micros(std::string_view text) {
  std::tm parts{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int used = 0;
  const std::string copy(text);
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                  &second, &used) != 6 || used != 19) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(19);
  std::int64_t micros = 0;
  if (!rest.empty() && rest.front() == '.') {
    std::size_t digits = 1;
    std::int64_t scale = 100000;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
      if (scale > 0) micros += (rest[digits] - '0') * scale;
      scale /= 10;
      ++digits;
    }
    if (digits == 1) return std::nullopt;
    rest = rest.substr(digits);
  }
  std::int64_t offset_seconds = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string(rest.substr(1)).c_str(), "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset_seconds = (oh * 3600 + om * 60) * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  const std::int64_t seconds = static_cast<std::int64_t>(timegm(&parts)) - offset_seconds;
  return seconds * 1000000 + micros;
}

bool is_valid_consumer_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 128 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::filesystem::path LogConsumerPosition::path_of(const std::filesystem::path& dir,
                                                   std::string_view name) {
  return dir / "consumers" / (std::string(name) + ".position");
}

std::optional<std::uint64_t> LogConsumerPosition::read(const std::filesystem::path& file) {
  const codecs::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char data[2 * kSlotBytes];
  const ssize_t n = ::pread(fd.get(), data, sizeof data, 0);
  if (n <= 0) return std::nullopt;
  const std::optional<Slot> slot = newest_slot(data, static_cast<std::size_t>(n));
  if (!slot) return std::nullopt;
  return slot->next_offset;
}

LogConsumerPosition::LogConsumerPosition(const std::filesystem::path& dir, std::string_view name) {
  if (!is_valid_consumer_name(name)) {
    throw std::runtime_error("consumer name '" + std::string(name) +
                             "': use letters, digits, '.', '_' and '-' (at most 128)");
  }
  const std::filesystem::path file = path_of(dir, name);
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) throw std::runtime_error("cannot create " + file.parent_path().string() + ": " + ec.message());
  const bool existed = std::filesystem::exists(file, ec);
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open the consumer position", file);
  char data[2 * kSlotBytes];
  const ssize_t n = ::pread(fd_, data, sizeof data, 0);
  if (n < 0) fail("cannot read the consumer position", file);
  if (const std::optional<Slot> slot = newest_slot(data, static_cast<std::size_t>(n))) {
    sequence_ = slot->sequence;
    next_offset_ = slot->next_offset;
  } else if (existed && n > 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("consumer position " + file.string() +
                             " has no valid slot: set it with `inlet queue seek`");
  }
  if (!existed) {
    store(0);
    // The new file's name is durable too, so a crash cannot drop the position it holds.
    const codecs::UniqueFd folder(::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (folder.valid()) ::fsync(folder.get());
  }
}

LogConsumerPosition::~LogConsumerPosition() {
  if (fd_ >= 0) ::close(fd_);
}

void LogConsumerPosition::store(std::uint64_t next_offset) {
  char slot[kSlotBytes] = {};
  std::memcpy(slot, kMagic, 4);
  const std::uint64_t sequence = sequence_ + 1;
  put_u64(slot + 8, sequence);
  put_u64(slot + 16, next_offset);
  put_u32(slot + 24, codecs::crc32c(0, slot, 24));
  const off_t at = static_cast<off_t>((sequence % 2) * kSlotBytes);
  if (::pwrite(fd_, slot, sizeof slot, at) != static_cast<ssize_t>(sizeof slot) || ::fdatasync(fd_) != 0) {
    throw std::runtime_error(std::string("cannot write a consumer position: ") + std::strerror(errno));
  }
  sequence_ = sequence;
  next_offset_ = next_offset;
}

namespace {

class LogConsumer final : public Consumer {
 public:
  LogConsumer(const std::filesystem::path& dir, std::string_view name)
      : dir_(dir),
        position_(dir, name),
        reader_(dir, position_.next_offset()),
        read_end_(position_.next_offset()),
        tail_end_(position_.next_offset()) {
    stop_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!stop_.valid()) fail("cannot make an eventfd for", dir);
    appended_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!appended_.valid()) fail("cannot make an eventfd for", dir);
    signal_ = LogAppendSignal::of(dir);
    signal_->subscribe(appended_.get());
    // A writer in this process signals each write; only one elsewhere needs the kernel's help.
    if (!signal_->has_writer()) {
      inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
      if (!inotify_.valid() ||
          ::inotify_add_watch(inotify_.get(), dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0) {
        fail("cannot watch", dir);
      }
    }
  }

  ~LogConsumer() override { signal_->unsubscribe(appended_.get()); }

  std::size_t poll(std::vector<ConsumedMessage>& out, std::size_t max,
                   std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (stopped_.load(std::memory_order_acquire)) return 0;
      // Drain the notifications and arm the signal first: a write after this point wakes the wait.
      drain_inotify();
      drain_eventfd(appended_.get());
      signal_->arm();
      reader_.drop_behind(signal_->consumers() == 1);
      std::size_t got = 0;
      while (got < max) {
        std::optional<LogRecord> record = reader_.next();
        if (!record) break;
        read_end_ = record->offset + 1;
        out.push_back(ConsumedMessage{record->offset, std::move(record->attributes),
                                      std::move(record->body)});
        ++got;
      }
      caught_up_ = got < max;
      if (got > 0) return got;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return 0;
      pollfd fds[3] = {{stop_.get(), POLLIN, 0}, {appended_.get(), POLLIN, 0}, {inotify_.get(), POLLIN, 0}};
      ::poll(fds, inotify_.valid() ? 3 : 2, static_cast<int>(std::min<std::int64_t>(left.count(), 60000)));
    }
  }

  void commit(std::uint64_t position) override {
    if (position + 1 <= position_.next_offset()) return;
    position_.store(position + 1);
  }

  std::uint64_t committed() const noexcept override { return position_.next_offset(); }

  // Caught up (the last poll found the end), the end is where reading stopped: nothing to read.
  // Behind, offsets are contiguous and segments are named by their first one, so only the last
  // segment is counted, by a second reader that follows it: placed at the later of where reading
  // is and the last segment's start, it reads at most one segment once, then only what is new.
  std::optional<std::uint64_t> lag() override {
    const std::uint64_t from = position_.next_offset();
    if (caught_up_) {
      tail_end_ = std::max(tail_end_, read_end_);
    } else {
      const auto segments = log_format::list_segments(dir_);
      const std::uint64_t start = std::max(read_end_, segments.empty() ? 0 : segments.back().first);
      if (!tail_ || tail_end_ < start) {
        tail_.emplace(dir_, start);
        tail_end_ = start;
      }
      while (std::optional<LogRecord> record = tail_->next()) tail_end_ = record->offset + 1;
    }
    return tail_end_ > from ? tail_end_ - from : 0;
  }

  void stop() noexcept override {
    stopped_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(stop_.get(), &one, sizeof one);
  }

 private:
  void drain_inotify() {
    if (!inotify_.valid()) return;
    alignas(inotify_event) char events[4096];
    while (::read(inotify_.get(), events, sizeof events) > 0) {
    }
  }

  static void drain_eventfd(int fd) {
    std::uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(fd, &count, sizeof count);
  }

  std::filesystem::path dir_;
  LogConsumerPosition position_;
  LogReader reader_;
  std::uint64_t read_end_;   // one past the last record handed out
  bool caught_up_ = false;   // the last poll read to the end of the log
  std::optional<LogReader> tail_;
  std::uint64_t tail_end_;
  codecs::UniqueFd inotify_;  // only without a writer in this process
  codecs::UniqueFd stop_;
  codecs::UniqueFd appended_;  // written by this process's writer of the log
  std::shared_ptr<LogAppendSignal> signal_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::unique_ptr<Consumer> open_log_consumer(const std::filesystem::path& dir, std::string_view name) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw std::runtime_error("log consumer: " + dir.string() + ": no such directory");
  }
  return std::make_unique<LogConsumer>(dir, name);
}

LogExtent log_extent(const std::filesystem::path& dir) {
  const auto segments = log_format::list_segments(dir);
  if (segments.empty()) return {};
  LogExtent extent{segments.front().first, segments.back().first};
  LogReader reader(dir, segments.back().first);
  while (std::optional<LogRecord> record = reader.next()) extent.end = record->offset + 1;
  return extent;
}

std::vector<LogConsumerInfo> list_log_consumers(const std::filesystem::path& dir, const LogExtent& extent) {
  std::vector<LogConsumerInfo> consumers;
  const std::filesystem::path folder = dir / "consumers";
  std::error_code ec;
  if (!std::filesystem::is_directory(folder, ec)) return consumers;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    const std::string file = entry.path().filename().string();
    static constexpr std::string_view kSuffix = ".position";
    if (file.size() <= kSuffix.size() || file.compare(file.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    LogConsumerInfo info;
    info.name = file.substr(0, file.size() - kSuffix.size());
    info.next_offset = LogConsumerPosition::read(entry.path()).value_or(0);
    const std::uint64_t from = std::max(info.next_offset, extent.first);
    info.lag = extent.end > from ? extent.end - from : 0;
    consumers.push_back(std::move(info));
  }
  std::sort(consumers.begin(), consumers.end(),
            [](const LogConsumerInfo& a, const LogConsumerInfo& b) { return a.name < b.name; });
  return consumers;
}

std::uint64_t log_offset_at_time(const std::filesystem::path& dir, std::int64_t unix_micros) {
  // Segments are in time order: start in the last one whose first record is not later.
  const auto segments = log_format::list_segments(dir);
  std::uint64_t start = segments.empty() ? 0 : segments.front().first;
  for (const auto& [base, path] : segments) {
    LogReader first(dir, base);
    const std::optional<LogRecord> record = first.next();
    if (!record) break;
    const std::optional<std::int64_t> at = received_at_micros(record->attributes);
    if (at && *at > unix_micros) break;
    start = base;
  }
  LogReader reader(dir, start);
  std::uint64_t end = start;
  while (std::optional<LogRecord> record = reader.next()) {
    const std::optional<std::int64_t> at = received_at_micros(record->attributes);
    if (at && *at >= unix_micros) return record->offset;
    end = record->offset + 1;
  }
  return end;
}

}  // namespace inlet::runtime
