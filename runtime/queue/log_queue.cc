#include "runtime/queue/log_queue.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <stdexcept>
#include <thread>
#include <vector>

#include "codecs/crc32c.h"
#include "codecs/handoff_list.h"
#include "codecs/thread_name.h"
#include "codecs/unique_handle.h"
#include "runtime/log.h"
#include "runtime/queue/log_append_signal.h"
#include "runtime/queue/log_consumer.h"
#include "runtime/queue/log_segment.h"
#include "runtime/queue/segment_spare.h"

namespace inlet::runtime {

namespace {

using log_format::kHeaderBytes;
using log_format::put_u32;
using log_format::segment_name;
using log_format::SegmentScanner;

// Typical attributes are ~250 bytes; a node keeps its string's capacity, so steady state never
// allocates (a longer user/scopes grows that node's string once).
constexpr std::size_t kHeaderReserve = 512;
constexpr std::size_t kMaxIov = IOV_MAX;
constexpr std::uint64_t kWritebackChunk = 4ull << 20;

std::string errno_text(int error) { return std::strerror(error); }

[[noreturn]] void fail_open(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error("log queue " + path.string() + ": " + what);
}

void fsync_dir(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Whether [from, to) of the file holds only zero bytes (recovery only).
bool only_zeros(int fd, std::uint64_t from, std::uint64_t to) {
  std::vector<char> buffer(1 << 20);
  while (from < to) {
    const ssize_t got = ::pread(fd, buffer.data(), std::min<std::uint64_t>(buffer.size(), to - from),
                                static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    if (std::any_of(buffer.data(), buffer.data() + got, [](char c) { return c != 0; })) return false;
    from += static_cast<std::uint64_t>(got);
  }
  return true;
}

// One store() in flight. Pooled: producers pop a free node, the writer pushes it back after the
// callback, so the request path allocates nothing.
struct Node {
  Node* next = nullptr;                     // pending list (producers → writer)
  std::atomic<std::uint32_t> free_next{0};  // free list: index + 1 of the next free node, 0 = none
  StoreCallback* callback = nullptr;
  std::string_view body;
  std::string header;  // 12-byte record header + attributes JSON, built by the producer
  StoreStatus status = StoreStatus::kStored;

  Node() { header.reserve(kHeaderReserve); }
  std::uint64_t record_bytes() const noexcept { return header.size() + body.size(); }
};

class LogQueue final : public Queue {
 public:
  explicit LogQueue(const LogQueueOptions& options);
  ~LogQueue() override;

  void store(const Message& message, StoreCallback& callback) override;
  void store_deferred(const Message& message, StoreCallback& callback) override;
  void flush() noexcept override;
  void close() override;
  bool ready() const noexcept override {
    return !closing_.load(std::memory_order_relaxed) && !failing_.load(std::memory_order_relaxed);
  }
  std::string_view type() const noexcept override { return "log"; }

  void counters(std::vector<QueueCounter>& out) const override {
    out.push_back({"inlet_log_queue_records_total", "Records the log queue wrote and acknowledged.",
                   records_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_log_queue_batches_total",
                   "Group commits (one write round each); records/batches is the mean batch size.",
                   batches_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_log_queue_syncs_total", "fdatasync calls (ack: fsync), segment rolls included.",
                   syncs_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_log_queue_spares_total",
                   "Segments written over a spare of zeros (ack: fsync), whose syncs commit no "
                   "journal; fewer than the rolls when spares cannot keep up.",
                   spares_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_log_queue_write_failures_total",
                   "Records answered unavailable after a write or sync error.",
                   failed_.load(std::memory_order_relaxed)});
  }

 private:
  struct Segment {
    std::uint64_t base;
    std::uint64_t bytes;
  };

  void recover();
  void rewind_consumers_past_end();
  void open_active(bool create);
  Node* pop_free() noexcept;
  void push_free(Node* node) noexcept;
  void wake() noexcept;
  void run() noexcept;
  // Who writes: the writer thread may roll to a new segment; an I/O thread may not (see flush()).
  enum class Roller : std::uint8_t { kWriterThread, kIoThread };
  void write_batch(Roller roller) noexcept;
  bool enqueue(const Message& message, StoreCallback& callback);
  void wake_if_sleeping() noexcept;
  bool write_pending(Roller roller) noexcept;
  bool write_range(std::size_t begin, std::size_t end) noexcept;
  bool sync_range(std::size_t begin, std::size_t end) noexcept;
  bool roll() noexcept;
  void use_spares() noexcept;
  void sync_sealed() noexcept;
  bool repair_tail() noexcept;
  void fail_range(std::size_t begin, std::size_t end, const char* what, int error) noexcept;
  void enforce_retention() noexcept;
  std::filesystem::path path_of(std::uint64_t base) const {
    return options_.dir / segment_name(base);
  }

  LogQueueOptions options_;
  codecs::UniqueFd lock_fd_;
  std::shared_ptr<LogAppendSignal> append_signal_;  // wakes this process's consumers of the log
  codecs::UniqueFd event_fd_;

  // Producer side.
  codecs::HandoffList<Node, &Node::next> pending_;
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<bool> sleeping_{false};
  std::atomic<bool> closing_{false};
  std::atomic<std::uint64_t> free_head_{0};  // tag << 32 | (index + 1): the tag defeats ABA
  std::atomic<std::uint32_t> constructed_{0};
  Node* nodes_ = nullptr;  // raw storage for max_in_flight nodes, constructed on first use

  // Writer side (only the writer thread touches these once it runs).
  std::deque<Segment> segments_;  // the last one is active
  std::uint64_t total_bytes_ = 0;
  codecs::UniqueFd fd_;  // active segment
  // ack: fsync: the active segment is a spare, its records written over zeros (segment_spare.h).
  bool over_zeros_ = false;
  std::uint64_t segment_syncs_from_ = 0;  // syncs_ when the active segment was opened
  std::unique_ptr<log_format::SegmentSpare> spare_;  // ack: fsync only
  // ack: write: the segment last rolled away from, until sync_sealed() has synced it (the writer
  // thread's alone; at most one at a time).
  codecs::UniqueFd sealing_fd_;
  std::uint64_t next_offset_ = 0;
  bool tail_dirty_ = false;
  std::uint64_t writeback_from_ = 0;  // start of the active segment's bytes not yet sent to disk
  log_format::DropBehind drop_behind_;  // of the active segment, while no consumer here reads it
  std::vector<Node*> batch_;
  // Records an I/O thread's burst took but could not write without rolling, oldest first: the
  // writer thread writes them before anything still pending, and I/O threads write nothing while
  // there are any, so the log keeps the order records were taken in.
  std::vector<Node*> carried_;
  // Guards the files and batch_: held by the writer thread, or by an I/O thread that writes a
  // burst itself (ack: write), which only ever try_locks it.
  std::mutex file_mutex_;
  std::vector<iovec> iov_;
  std::chrono::steady_clock::time_point next_retention_check_;
  std::atomic<bool> failing_{false};

  std::atomic<std::uint64_t> records_{0}, batches_{0}, syncs_{0}, spares_{0}, failed_{0};
  std::thread writer_;
  bool closed_ = false;
};

LogQueue::LogQueue(const LogQueueOptions& options) : options_(options) {
  if (options_.max_in_flight == 0) options_.max_in_flight = 1;
  event_fd_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!event_fd_.valid()) fail_open(options_.dir, "eventfd: " + errno_text(errno));
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  if (ec) fail_open(options_.dir, "cannot create the directory: " + ec.message());

  // Two writers on one log would interleave records: refuse the second.
  const auto lock_path = options_.dir / ".lock";
  lock_fd_.reset(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock_fd_.valid()) fail_open(options_.dir, "cannot open .lock: " + errno_text(errno));
  if (::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    fail_open(options_.dir, "already open by another process or queue (.lock is held)");
  }
  recover();
  rewind_consumers_past_end();
  if (options_.ack == AckMode::kFsync && options_.spare_after_syncs > 0) {
    spare_ = std::make_unique<log_format::SegmentSpare>(options_.dir, options_.segment_bytes);
  } else {
    log_format::SegmentSpare::remove_left_over(options_.dir);
  }
  append_signal_ = LogAppendSignal::of(options_.dir);
  append_signal_->writer_opened();
  nodes_ = static_cast<Node*>(
      ::operator new (sizeof(Node) * options_.max_in_flight, std::align_val_t{alignof(Node)}));
  batch_.reserve(std::min<std::uint32_t>(options_.max_in_flight, 65536));
  iov_.reserve(kMaxIov);
  next_retention_check_ = std::chrono::steady_clock::now();
  writer_ = std::thread([this] { run(); });
}

LogQueue::~LogQueue() {
  close();
  const std::uint32_t constructed = constructed_.load();
  for (std::uint32_t i = 0; i < constructed; ++i) nodes_[i].~Node();
  ::operator delete (nodes_, std::align_val_t{alignof(Node)});
}

// Sealed segments must be intact (anything else is corruption we refuse to serve around); the last
// one may end in a torn write from a crash, which is cut: in fsync mode nothing after the first bad
// byte was ever acknowledged. One exception: the segment before the last may be the one ack: write
// syncs after the roll (roll()). If an OS crash caught it unsynced, it ends in an incomplete record
// or short of the last segment's base, and the last segment, all newer, would follow a gap: it is
// cut where it ends and the last segment is dropped, with an error that says how much. (A synced
// segment cannot end that way; a CRC mismatch there still refuses.)
void LogQueue::recover() {
  auto segments = log_format::list_segments(options_.dir);
  if (segments.empty()) {
    segments_.push_back({0, 0});
    open_active(true);
    return;
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const auto& [base, path] = segments[i];
    const bool last = i + 1 == segments.size();
    const bool maybe_unsealed = i + 2 == segments.size();
    codecs::UniqueFd file(::open(path.c_str(), (last || maybe_unsealed ? O_RDWR : O_RDONLY) | O_CLOEXEC));
    if (!file.valid()) fail_open(path, "cannot open: " + errno_text(errno));
    const int fd = file.get();
    SegmentScanner scanner(fd);
    std::uint64_t count = 0;
    SegmentScanner::Result result;
    try {
      while ((result = scanner.next()) == SegmentScanner::Result::kRecord) ++count;
    } catch (const std::exception& e) {
      fail_open(path, e.what());
    }
    const bool broken = result != SegmentScanner::Result::kEnd;
    const bool gap = !last && segments[i + 1].first != base + count;
    const bool ends_unsynced = result == SegmentScanner::Result::kPartial || (!broken && gap);
    if (maybe_unsealed && ends_unsynced) {
      const auto& dropped = segments.back().second;
      std::error_code size_error, ec;
      const std::uintmax_t dropped_bytes = std::filesystem::file_size(dropped, size_error);
      if (!std::filesystem::remove(dropped, ec) || ec) {
        fail_open(dropped, "cannot drop the segment after an unsealed one: " + ec.message());
      }
      fsync_dir(options_.dir);
      log_error("log_queue_unsealed_segment_recovered",
                {{"segment", path.string()},
                 {"records", count},
                 {"expected_records", segments.back().first - base},
                 {"dropped_segment", dropped.string()},
                 {"dropped_bytes", size_error ? std::uintmax_t{0} : dropped_bytes}});
      segments.pop_back();
    }
    const bool now_last = i + 1 == segments.size();
    struct stat st {};
    ::fstat(fd, &st);
    const auto file_bytes = static_cast<std::uint64_t>(st.st_size);
    if (!broken && now_last && file_bytes > scanner.position()) {
      // The zeros of a segment written over a spare, and maybe bytes past them that no record
      // leads to: records that reached the disk past one that did not (an OS crash), none
      // acknowledged. A new record written at the end must not be followed by them. The writer
      // moves onto a new spare when it wants one.
      const bool zeros = only_zeros(fd, scanner.position(), file_bytes);
      if (::ftruncate(fd, static_cast<off_t>(scanner.position())) != 0 || ::fsync(fd) != 0) {
        fail_open(path, "cannot cut the zeros after the last record: " + errno_text(errno));
      }
      if (!zeros) {
        log_warn("log_queue_truncated", {{"segment", path.string()},
                                         {"at", scanner.position()},
                                         {"bytes", file_bytes - scanner.position()},
                                         {"reason", "bytes after the last record"}});
      }
    }
    if (broken) {
      const char* what = result == SegmentScanner::Result::kCorrupt
                             ? "a corrupt record (CRC or length mismatch)"
                             : "an incomplete record";
      if (!now_last) {
        fail_open(path, std::string("sealed segment has ") + what + " at byte " +
                            std::to_string(scanner.position()) +
                            "; refusing to open (move the damaged segments away to start anyway)");
      }
      const std::uint64_t cut = file_bytes - scanner.position();
      if (::ftruncate(fd, static_cast<off_t>(scanner.position())) != 0 || ::fsync(fd) != 0) {
        fail_open(path, "cannot cut the torn tail: " + errno_text(errno));
      }
      log_warn("log_queue_truncated",
               {{"segment", path.string()},
                {"at", scanner.position()},
                {"bytes", cut},
                {"reason", result == SegmentScanner::Result::kCorrupt ? "crc" : "incomplete"}});
    }
    if (!now_last && segments[i + 1].first != base + count) {
      fail_open(path, "holds " + std::to_string(count) +
                          " records but the next segment starts at offset " +
                          std::to_string(segments[i + 1].first) + "; refusing to open");
    }
    segments_.push_back({base, scanner.position()});
    total_bytes_ += scanner.position();
    if (now_last) {
      fd_ = std::move(file);
      next_offset_ = base + count;
      writeback_from_ = scanner.position();
      return;
    }
  }
}

// A consumer whose position is past the end recovery left (a cut tail, a dropped segment) would
// skip the new records written at those offsets: it is moved back to the end, before any write.
void LogQueue::rewind_consumers_past_end() {
  const LogExtent extent{segments_.front().base, next_offset_};
  for (const LogConsumerInfo& consumer : list_log_consumers(options_.dir, extent)) {
    if (consumer.next_offset <= next_offset_) continue;
    LogConsumerPosition(options_.dir, consumer.name).store(next_offset_);
    log_error("log_consumer_rewound_to_log_end",
              {{"dir", options_.dir.string()},
               {"consumer", consumer.name},
               {"position", consumer.next_offset},
               {"log_end", next_offset_},
               {"reason", "its position was past the last record recovery kept; records it had "
                          "seen past there are gone, and the offsets will name new records"}});
  }
}

void LogQueue::open_active(bool create) {
  const auto path = path_of(segments_.back().base);
  fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd_.valid()) fail_open(path, "cannot create: " + errno_text(errno));
  if (create) fsync_dir(options_.dir);
  writeback_from_ = segments_.back().bytes;
}

Node* LogQueue::pop_free() noexcept {
  for (;;) {
    std::uint64_t head = free_head_.load(std::memory_order_acquire);
    while (static_cast<std::uint32_t>(head) != 0) {
      Node* node = &nodes_[static_cast<std::uint32_t>(head) - 1];
      const std::uint64_t next =
          ((head >> 32) + 1) << 32 | node->free_next.load(std::memory_order_relaxed);
      if (free_head_.compare_exchange_weak(head, next, std::memory_order_acquire)) return node;
    }
    std::uint32_t constructed = constructed_.load(std::memory_order_relaxed);
    while (constructed < options_.max_in_flight) {
      if (constructed_.compare_exchange_weak(constructed, constructed + 1,
                                             std::memory_order_relaxed)) {
        return new (&nodes_[constructed]) Node();
      }
    }
    // in_flight_ guarantees a node: one is being pushed back right now.
    std::this_thread::yield();
  }
}

void LogQueue::push_free(Node* node) noexcept {
  const std::uint32_t index = static_cast<std::uint32_t>(node - nodes_) + 1;
  std::uint64_t head = free_head_.load(std::memory_order_relaxed);
  do {
    node->free_next.store(static_cast<std::uint32_t>(head), std::memory_order_relaxed);
  } while (!free_head_.compare_exchange_weak(head, ((head >> 32) + 1) << 32 | index,
                                             std::memory_order_release, std::memory_order_relaxed));
}

void LogQueue::wake() noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(event_fd_.get(), &one, sizeof one);
}

// Runs on the caller's I/O thread: serializing and checksumming here spreads that CPU work over
// every I/O thread, keeping the single writer thread for the I/O it alone can do.
void LogQueue::store(const Message& message, StoreCallback& callback) {
  // Only the push onto an empty list can find the writer asleep (it re-checks the list after
  // announcing sleep), so busy periods cost no syscall here.
  if (enqueue(message, callback)) wake_if_sleeping();
}

void LogQueue::store_deferred(const Message& message, StoreCallback& callback) {
  enqueue(message, callback);
}

void LogQueue::wake_if_sleeping() noexcept {
  if (sleeping_.load(std::memory_order_seq_cst)) wake();
}

// With ack: write the calling I/O thread writes the burst itself when the files are free: one
// writev and no thread hand-off, where waking the writer would cost two context switches on a
// busy core. With ack: fsync the writer thread syncs, so the I/O thread keeps parsing meanwhile.
// Rolling to a new segment syncs the sealed one and the directory and may delete old segments, so
// a burst that reaches the end of a segment leaves the rest to the writer thread: an I/O thread
// never waits on a disk sync (it once did, for every segment: the p99 at half load was that sync).
void LogQueue::flush() noexcept {
  bool carried = false;
  if (options_.ack == AckMode::kWrite) {
    std::unique_lock lock(file_mutex_, std::try_to_lock);
    if (lock.owns_lock()) {
      if (carried_.empty()) write_pending(Roller::kIoThread);
      carried = !carried_.empty();
    }
  }
  // Carried records are not on the pending list, which the writer checks before it sleeps: wake
  // it unconditionally (once per segment).
  if (carried) {
    wake();
  } else if (!pending_.empty()) {
    wake_if_sleeping();
  }
}

// Takes the carried records, then every pending one, and writes them; the caller holds
// file_mutex_.
bool LogQueue::write_pending(Roller roller) noexcept {
  Node* list = pending_.take_all();
  if (list == nullptr && carried_.empty()) return false;
  batch_.clear();
  batch_.swap(carried_);
  for (; list != nullptr; list = list->next) batch_.push_back(list);
  write_batch(roller);
  return true;
}

// Builds the record on the calling thread and pushes it; true when the list was empty.
bool LogQueue::enqueue(const Message& message, StoreCallback& callback) {
  if (in_flight_.fetch_add(1, std::memory_order_seq_cst) >= options_.max_in_flight) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    callback.on_stored(StoreStatus::kFull);
    return false;
  }
  if (closing_.load(std::memory_order_seq_cst) ||
      message.body.size() > log_format::kMaxRecordLength / 2) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    callback.on_stored(StoreStatus::kUnavailable);
    return false;
  }
  Node* node = pop_free();
  node->callback = &callback;
  node->body = message.body;
  node->status = StoreStatus::kStored;
  std::string& h = node->header;
  h.assign(kHeaderBytes, '\0');
  append_attributes_json(h, message);
  const auto attributes_length = static_cast<std::uint32_t>(h.size() - kHeaderBytes);
  const auto length = static_cast<std::uint32_t>(4 + attributes_length + message.body.size());
  put_u32(h.data(), length);
  put_u32(h.data() + 8, attributes_length);
  std::uint32_t crc = codecs::crc32c(0, h.data() + 8, 4 + attributes_length);
  crc = codecs::crc32c(crc, message.body.data(), message.body.size());
  put_u32(h.data() + 4, crc);

  return pending_.push(*node);
}

void LogQueue::close() {
  if (closed_) return;
  closed_ = true;
  closing_.store(true, std::memory_order_seq_cst);
  wake();
  if (writer_.joinable()) writer_.join();
  spare_.reset();
  // A clean stop leaves no zeros for the next start to read through (a crash leaves them, cut then).
  if (over_zeros_) ::ftruncate(fd_.get(), static_cast<off_t>(segments_.back().bytes));
  sync_sealed();  // the writer's last turn did; a writer that never ran leaves nothing
  if (fd_.valid() && options_.ack == AckMode::kWrite) ::fdatasync(fd_.get());
  if (append_signal_) append_signal_->writer_closed();
}

void LogQueue::run() noexcept {
  codecs::name_this_thread("inlet-log");
  for (;;) {
    bool wrote = false;
    {
      std::lock_guard lock(file_mutex_);
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_retention_check_) {
        enforce_retention();
        next_retention_check_ = now + options_.retention_check_interval;
      }
      wrote = write_pending(Roller::kWriterThread);
    }
    sync_sealed();
    if (wrote) continue;
    const bool closing = closing_.load(std::memory_order_seq_cst);
    if (closing && in_flight_.load(std::memory_order_seq_cst) == 0) return;
    sleeping_.store(true, std::memory_order_seq_cst);
    if (pending_.empty()) {
      const auto wait = closing
                            ? std::chrono::milliseconds(10)
                            : std::min<std::chrono::milliseconds>(options_.retention_check_interval,
                                                                  std::chrono::milliseconds(1000));
      pollfd pfd{event_fd_.get(), POLLIN, 0};
      ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(1, wait.count())));
      std::uint64_t value;
      [[maybe_unused]] const ssize_t n = ::read(event_fd_.get(), &value, sizeof value);
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

void LogQueue::fail_range(std::size_t begin, std::size_t end, const char* what,
                          int error) noexcept {
  std::uint64_t newly = 0;
  for (std::size_t i = begin; i < end; ++i) {
    newly += batch_[i]->status == StoreStatus::kStored;
    batch_[i]->status = StoreStatus::kUnavailable;
  }
  failed_.fetch_add(newly, std::memory_order_relaxed);
  if (newly > 0 && !failing_.exchange(true, std::memory_order_relaxed)) {
    // Logged on the transition only: a full disk would otherwise log every batch.
    log_error("log_queue_write_failed",
              {{"dir", options_.dir.string()}, {"op", what}, {"error", errno_text(error)}});
  }
}

// Cuts bytes a failed write left after the last good record, so a later record never follows
// garbage.
bool LogQueue::repair_tail() noexcept {
  if (!tail_dirty_) return true;
  if (::ftruncate(fd_.get(), static_cast<off_t>(segments_.back().bytes)) != 0) return false;
  tail_dirty_ = false;
  over_zeros_ = false;
  return true;
}

bool LogQueue::write_range(std::size_t begin, std::size_t end) noexcept {
  if (!repair_tail()) {
    fail_range(begin, end, "ftruncate", errno);
    return false;
  }
  Segment& segment = segments_.back();
  std::uint64_t position = segment.bytes;
  std::size_t i = begin;
  while (i < end) {
    iov_.clear();
    std::size_t j = i;
    for (; j < end && iov_.size() + 2 <= kMaxIov; ++j) {
      Node* node = batch_[j];
      iov_.push_back({node->header.data(), node->header.size()});
      if (!node->body.empty())
        iov_.push_back({const_cast<char*>(node->body.data()), node->body.size()});
    }
    iovec* iov = iov_.data();
    int count = static_cast<int>(iov_.size());
    while (count > 0) {
      const ssize_t n = ::pwritev(fd_.get(), iov, count, static_cast<off_t>(position));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int error = n < 0 ? errno : ENOSPC;
        tail_dirty_ = true;
        repair_tail();
        // Nothing of this range is reported stored nor left in the log.
        fail_range(begin, end, "write", error);
        return false;
      }
      position += static_cast<std::uint64_t>(n);
      auto left = static_cast<std::size_t>(n);
      while (count > 0 && left >= iov->iov_len) {
        left -= iov->iov_len;
        ++iov;
        --count;
      }
      if (count > 0) {
        iov->iov_base = static_cast<char*>(iov->iov_base) + left;
        iov->iov_len -= left;
      }
    }
    i = j;
  }
  total_bytes_ += position - segment.bytes;
  segment.bytes = position;
  next_offset_ += end - begin;
  append_signal_->appended();
  // With ack: write nothing syncs, so dirty pages pile up until the kernel throttles the writing
  // thread for whole writeback bursts (tens of ms). Starting writeback every few MiB keeps the
  // pile small and the stalls short; it does not wait for the disk.
  if (options_.ack == AckMode::kWrite && position - writeback_from_ >= kWritebackChunk) {
    ::sync_file_range(fd_.get(), static_cast<off_t>(writeback_from_), static_cast<off_t>(position - writeback_from_),
                      SYNC_FILE_RANGE_WRITE);
    writeback_from_ = position;
  }
  if (append_signal_->consumers() == 0) drop_behind_.passed(fd_.get(), position);
  return true;
}

// Syncs the active segment, which holds records [begin, end) of the batch written since the last
// sync; on failure those are reported unavailable and cut (the kernel may have dropped the pages).
bool LogQueue::sync_range(std::size_t begin, std::size_t end) noexcept {
  if (begin == end) return true;
  syncs_.fetch_add(1, std::memory_order_relaxed);
  if (::fdatasync(fd_.get()) == 0) return true;
  const int error = errno;
  std::uint64_t written = 0;
  std::size_t ok = 0;
  for (std::size_t i = begin; i < end; ++i) {
    if (batch_[i]->status == StoreStatus::kStored) {
      written += batch_[i]->record_bytes();
      ++ok;
    }
  }
  Segment& segment = segments_.back();
  segment.bytes -= written;
  total_bytes_ -= written;
  next_offset_ -= ok;
  tail_dirty_ = true;
  repair_tail();
  fail_range(begin, end, "fdatasync", error);
  return false;
}

bool LogQueue::roll() noexcept {
  if (!repair_tail()) return false;  // a sealed segment must end on a record boundary
  // In fsync mode the caller synced it. In write mode sealing syncs it too, but after the roll and
  // outside the file lock (sync_sealed), so the I/O threads go on writing the new segment instead
  // of waiting out a sync (that wait was the p99 at half load). Until it has synced, an OS crash
  // may leave the sealed segment short or torn: recovery then cuts it there and drops the newer,
  // last segment (recover()). One segment at most is ever unsealed: a second roll syncs the first.
  sync_sealed();
  if (over_zeros_) {
    // Sealed, it reads the same with its zeros or without them; cut, it takes no more disk than
    // its records (no sync needed: a crash that undoes the cut leaves zeros, read as the end).
    ::ftruncate(fd_.get(), static_cast<off_t>(segments_.back().bytes));
    over_zeros_ = false;
  }
  const std::uint64_t base = next_offset_;
  const auto path = path_of(base);
  codecs::UniqueFd fd = spare_ ? spare_->take(path) : codecs::UniqueFd{};
  const bool over_zeros = fd.valid();
  if (!over_zeros) fd.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) return false;
  if (options_.ack == AckMode::kWrite) {
    sealing_fd_ = std::move(fd_);
    drop_behind_ = log_format::DropBehind{};
  } else {
    fsync_dir(options_.dir);
    if (append_signal_->consumers() == 0) drop_behind_.finished(fd_.get());
  }
  fd_ = std::move(fd);
  over_zeros_ = over_zeros;
  segment_syncs_from_ = syncs_.load(std::memory_order_relaxed);
  spares_.fetch_add(over_zeros ? 1 : 0, std::memory_order_relaxed);
  tail_dirty_ = false;
  writeback_from_ = 0;
  segments_.push_back({base, 0});
  enforce_retention();
  return true;
}

// Writer thread only, with or without the file lock: nothing else touches sealing_fd_.
void LogQueue::sync_sealed() noexcept {
  if (!sealing_fd_.valid()) return;
  if (::fdatasync(sealing_fd_.get()) != 0) {
    // Its records were acknowledged when written (ack: write); the kernel may now have lost
    // pages of them. Nothing can be redone here: say so.
    log_error("log_queue_seal_sync_failed", {{"dir", options_.dir.string()}, {"error", errno_text(errno)}});
  }
  fsync_dir(options_.dir);  // the new segment's name
  if (append_signal_->consumers() == 0) log_format::DropBehind{}.finished(sealing_fd_.get());
  sealing_fd_.reset();
}

// ack: fsync, the writer thread, between batches (everything written is synced): asks for a spare
// while the active segment's syncs are many and small (LogQueueOptions), and rolls onto a ready one
// at once when the active segment is appended to. Not from an empty segment: the roll would reuse
// its name, and replacing the file would leave a reader that has it open on the old one.
void LogQueue::use_spares() noexcept {
  const Segment& active = segments_.back();
  const std::uint64_t syncs = syncs_.load(std::memory_order_relaxed) - segment_syncs_from_;
  if (syncs >= options_.spare_after_syncs && active.bytes <= syncs * options_.spare_max_bytes_per_sync) {
    spare_->prepare();
  }
  if (!over_zeros_ && active.bytes > 0 && spare_->ready() && !roll()) {
    log_warn("log_queue_roll_failed", {{"dir", options_.dir.string()}, {"error", errno_text(errno)}});
  }
}

void LogQueue::write_batch(Roller roller) noexcept {
  batches_.fetch_add(1, std::memory_order_relaxed);
  const bool fsync = options_.ack == AckMode::kFsync;
  if (spare_ && roller == Roller::kWriterThread) use_spares();
  std::size_t n = batch_.size();
  std::size_t unsynced = 0;  // first record not yet covered by an fdatasync
  std::size_t i = 0;
  while (i < n) {
    const std::size_t begin = i;
    std::uint64_t bytes = segments_.back().bytes;
    while (i < n) {
      const std::uint64_t record = batch_[i]->record_bytes();
      if (bytes > 0 && bytes + record > options_.segment_bytes) break;
      bytes += record;
      ++i;
    }
    if (begin < i) write_range(begin, i);
    if (i < n && roller == Roller::kIoThread) {
      carried_.assign(batch_.begin() + static_cast<std::ptrdiff_t>(i), batch_.end());
      batch_.resize(i);
      n = i;
      break;
    }
    if (i < n) {
      if (fsync) sync_range(unsynced, i);
      unsynced = i;
      if (!roll()) {
        fail_range(i, n, "roll", errno);
        i = n;
      }
    }
  }
  if (fsync) sync_range(unsynced, n);

  std::size_t stored = 0;
  for (Node* node : batch_) stored += node->status == StoreStatus::kStored;
  records_.fetch_add(stored, std::memory_order_relaxed);
  if (stored == n && failing_.load(std::memory_order_relaxed)) {
    failing_.store(false, std::memory_order_relaxed);
    log_info("log_queue_write_recovered", {{"dir", options_.dir.string()}});
  }
  for (Node* node : batch_) {
    node->callback->on_stored(node->status);
    push_free(node);
    in_flight_.fetch_sub(1, std::memory_order_release);
  }
}

void LogQueue::enforce_retention() noexcept {
  if (options_.retention_bytes == 0 && options_.retention_age.count() == 0) return;
  const auto now = std::filesystem::file_time_type::clock::now();
  while (segments_.size() > 1) {
    const Segment& oldest = segments_.front();
    const auto path = path_of(oldest.base);
    bool expired = options_.retention_bytes > 0 && total_bytes_ > options_.retention_bytes;
    if (!expired && options_.retention_age.count() > 0) {
      std::error_code ec;
      const auto mtime = std::filesystem::last_write_time(path, ec);
      expired = !ec && now - mtime > options_.retention_age;
    }
    if (!expired) return;
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (ec) {
      log_error("log_queue_retention_failed",
                {{"segment", path.string()}, {"error", ec.message()}});
      return;
    }
    log_info("log_queue_segment_deleted", {{"segment", path.string()}, {"bytes", oldest.bytes}});
    total_bytes_ -= oldest.bytes;
    segments_.pop_front();
  }
}

}  // namespace

std::unique_ptr<Queue> open_log_queue(const LogQueueOptions& options) {
  return std::make_unique<LogQueue>(options);
}

}  // namespace inlet::runtime
