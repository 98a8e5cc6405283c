#include "runtime/queue/log_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "codecs/unique_handle.h"
#include "runtime/queue/log_consumer.h"
#include "runtime/queue/log_reader_command.h"
#include "runtime/queue/log_segment.h"
#include "tests/runtime/edge_test_support.h"
#include "test_payloads.h"

namespace inlet::runtime {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("inlet-logq-" + std::to_string(::getpid()) + "-" +
                                         info->test_suite_name() + "-" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Waits for the callbacks of many stores, recording each status.
class Waiter final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(status);
    cv_.notify_all();
  }
  std::vector<StoreStatus> wait(std::size_t n) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, 30s, [&] { return statuses_.size() >= n; });
    return statuses_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<StoreStatus> statuses_;
};

// A message with stable storage.
struct OwnedMessage {
  std::string body, tracking_id, received_at = "2026-11-22T13:40:02.123456Z", node = "edge-1",
                                 message_type = "echo.json", content_type = "application/json",
                                 user, identity, tenant;
  std::vector<std::string> scopes;
  Message view() const {
    return Message{.body = body, .tracking_id = tracking_id, .message_type = message_type,
                   .received_at = received_at, .node = node, .tenant = tenant, .content_type = content_type,
                   .user = user, .identity = identity, .scopes = scopes, .prev_tracking_ids = {}, .error = {}, .attempts = {},
                   .endpoint = {}, .status = {}, .key = {}, .dedup_key = {}};
  }
};

OwnedMessage make_message(std::string body, int n) {
  OwnedMessage m;
  m.body = std::move(body);
  char id[33];
  std::snprintf(id, sizeof id, "%032x", n);
  m.tracking_id = id;
  return m;
}

LogQueueOptions options_for(const fs::path& dir, AckMode ack = AckMode::kFsync) {
  LogQueueOptions o;
  o.dir = dir;
  o.ack = ack;
  return o;
}

std::vector<LogRecord> read_all(const fs::path& dir, std::uint64_t from = 0) {
  std::vector<LogRecord> out;
  LogReader reader(dir, from);
  while (auto r = reader.next()) out.push_back(std::move(*r));
  return out;
}

std::vector<fs::path> segment_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void store_all(Queue& queue, const std::vector<OwnedMessage>& messages) {
  Waiter waiter;
  for (const auto& m : messages) queue.store(m.view(), waiter);
  for (StoreStatus s : waiter.wait(messages.size())) ASSERT_EQ(s, StoreStatus::kStored);
}

std::vector<std::string> corpus_bodies() {
  std::vector<std::string> bodies;
  for (const auto& payload : inlet::testing::payloads()) bodies.push_back(payload.body);
  std::sort(bodies.begin(), bodies.end());
  return bodies;
}

std::vector<OwnedMessage> small_messages(int n, int first = 0) {
  std::vector<OwnedMessage> out;
  for (int i = first; i < first + n; ++i)
    out.push_back(make_message("{\"n\":" + std::to_string(i) + "}", i));
  return out;
}

TEST(LogQueue, ReadsBackCorpusBodiesByteForByte) {
  TempDir dir;
  const auto bodies = corpus_bodies();
  ASSERT_GE(bodies.size(), 49u);  // the generated payloads; the GitHub corpus adds 273 where present
  std::vector<OwnedMessage> messages;
  for (std::size_t i = 0; i < bodies.size(); ++i)
    messages.push_back(make_message(bodies[i], static_cast<int>(i)));
  {
    auto queue = open_log_queue(options_for(dir.path()));
    EXPECT_EQ(queue->type(), "log");
    store_all(*queue, messages);
    queue->close();
  }
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), messages.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].body, messages[i].body) << i;
  }
  EXPECT_TRUE(fs::exists(dir.path() / "00000000000000000000.log"));
}

// `count` bodies of 64 KiB, each distinct.
std::vector<OwnedMessage> large_messages(int count) {
  std::vector<OwnedMessage> out;
  for (int i = 0; i < count; ++i) {
    std::string body = "{\"n\":" + std::to_string(i) + ",\"pad\":\"";
    body.append((64u << 10) - body.size() - 2, static_cast<char>('a' + i % 26));
    body += "\"}";
    out.push_back(make_message(std::move(body), i));
  }
  return out;
}

void store_in_rounds(Queue& queue, const std::vector<OwnedMessage>& messages) {
  for (std::size_t i = 0; i < messages.size(); i += 64) {
    store_all(queue, {messages.begin() + static_cast<std::ptrdiff_t>(i),
                      messages.begin() + static_cast<std::ptrdiff_t>(std::min(messages.size(), i + 64))});
  }
}

constexpr std::uint64_t kMiB = 1ull << 20;

// With no consumer of the log in this process nobody will read what was written, so the writer
// frees the page cache behind itself, keeping only the last DropBehind::kKeptBytes; the records
// still read back whole (from the disk).
TEST(LogQueue, FreesThePageCacheBehindItsWritesWhenNoConsumerHereReadsTheLog) {
  TempDir dir;
  const auto messages = large_messages(768);  // 48 MiB, one segment
  auto queue = open_log_queue(options_for(dir.path()));  // fsync: the pages are clean at once
  store_in_rounds(*queue, messages);
  queue->close();
  const auto segments = segment_files(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const std::uint64_t size = fs::file_size(segments[0]);
  ASSERT_GT(size, 48 * kMiB);
  static_assert(log_format::DropBehind::kKeptBytes == 32 * kMiB);
  EXPECT_LT(testing::resident_fraction(segments[0], 0, 8 * kMiB), 0.05);
  EXPECT_GT(testing::resident_fraction(segments[0], size - 16 * kMiB, size), 0.95);
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), messages.size());
  for (std::size_t i = 0; i < records.size(); ++i) ASSERT_EQ(records[i].body, messages[i].body) << i;
}

// Rolling frees all of the sealed segment (synced first, in either ack mode).
TEST(LogQueue, FreesTheWholePageCacheOfASealedSegment) {
  for (AckMode ack : {AckMode::kWrite, AckMode::kFsync}) {
    TempDir dir;
    LogQueueOptions options = options_for(dir.path(), ack);
    options.segment_bytes = 2 * kMiB;
    const auto messages = large_messages(96);  // 6 MiB: three segments or more
    auto queue = open_log_queue(options);
    store_in_rounds(*queue, messages);
    queue->close();
    const auto segments = segment_files(dir.path());
    ASSERT_GE(segments.size(), 3u);
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      EXPECT_LT(testing::resident_fraction(segments[i], 0, fs::file_size(segments[i])), 0.05)
          << segments[i];
    }
    EXPECT_EQ(read_all(dir.path()).size(), messages.size());
  }
}

// Regression: a reader on a log with only its first, empty segment took that segment for the
// next one and looped forever, so `inlet queue read` hung on a node that had stored nothing.
TEST(LogReader, ReturnsNothingForAFreshEmptyLog) {
  TempDir dir;
  auto queue = open_log_queue(options_for(dir.path()));
  LogReader reader(dir.path(), 0);
  EXPECT_FALSE(reader.next());
  auto messages = small_messages(1);
  store_all(*queue, messages);
  const auto record = reader.next();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->body, messages[0].body);
  queue->close();
}

TEST(LogQueue, WritesAttributesAsCompactEscapedJson) {
  TempDir dir;
  OwnedMessage plain = make_message("{}", 1);
  OwnedMessage authed = make_message("", 2);
  authed.user = "al\"ice\n";
  authed.identity = "key-1";
  authed.scopes = {"read", "wri\\te"};
  authed.tenant = "acme";
  {
    auto queue = open_log_queue(options_for(dir.path()));
    store_all(*queue, {plain, authed});
  }
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(
      records[0].attributes,
      "{\"tracking_id\":\"00000000000000000000000000000001\",\"received_at\":\"2026-11-22T13:40:02."
      "123456Z\","
      "\"message_type\":\"echo.json\",\"node\":\"edge-1\",\"content_type\":\"application/json\"}");
  EXPECT_EQ(
      records[1].attributes,
      "{\"tracking_id\":\"00000000000000000000000000000002\",\"received_at\":\"2026-11-22T13:40:02."
      "123456Z\","
      "\"message_type\":\"echo.json\",\"node\":\"edge-1\",\"tenant\":\"acme\","
      "\"content_type\":\"application/json\",\"user\":\"al\\\"ice\\n\",\"identity\":\"key-1\",\"scopes\":[\"read\",\"wri\\\\te\"]}");
  EXPECT_EQ(records[1].body, "");
}

TEST(LogQueue, ConcurrentStoresFromEightThreadsAllReadBackWithDistinctOffsets) {
  TempDir dir;
  constexpr int kThreads = 8, kPerThread = 1250;
  std::vector<std::vector<OwnedMessage>> messages(kThreads);
  for (int t = 0; t < kThreads; ++t) messages[t] = small_messages(kPerThread, t * kPerThread);
  auto options = options_for(dir.path(), AckMode::kFsync);
  options.max_in_flight = 100000;
  options.segment_bytes = 64 << 10;  // some rolls under concurrency too
  auto queue = open_log_queue(options);
  std::vector<Waiter> waiters(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (const auto& m : messages[t]) queue->store(m.view(), waiters[t]);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const auto statuses = waiters[t].wait(kPerThread);
    ASSERT_EQ(statuses.size(), static_cast<std::size_t>(kPerThread));
    for (StoreStatus s : statuses) ASSERT_EQ(s, StoreStatus::kStored);
  }
  EXPECT_EQ(counter_value(*queue, "inlet_log_queue_records_total"), 10000u);
  EXPECT_LT(counter_value(*queue, "inlet_log_queue_batches_total"), 10000u);  // group commit happened
  queue->close();

  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 10000u);
  std::set<std::string> bodies;
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, i);
    bodies.insert(records[i].body);
  }
  EXPECT_EQ(bodies.size(), 10000u);
  EXPECT_GT(segment_files(dir.path()).size(), 1u);
}

TEST(LogQueue, ContinuesOffsetsAfterRestart) {
  TempDir dir;
  for (int round = 0; round < 3; ++round) {
    auto queue = open_log_queue(options_for(dir.path(), AckMode::kWrite));
    store_all(*queue, small_messages(5, round * 5));
  }
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 15u);
  for (std::size_t i = 0; i < 15; ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].body, "{\"n\":" + std::to_string(i) + "}");
  }
  const auto from_twelve = read_all(dir.path(), 12);
  ASSERT_EQ(from_twelve.size(), 3u);
  EXPECT_EQ(from_twelve[0].offset, 12u);
}

TEST(LogQueue, RefusesASecondWriterOnTheSameDirectory) {
  TempDir dir;
  auto queue = open_log_queue(options_for(dir.path()));
  EXPECT_THROW(open_log_queue(options_for(dir.path())), std::runtime_error);
}

// Writes 10 records, damages the last one with `damage(segment, size)`, reopens.
void expect_tail_cut(const fs::path& dir,
                     const std::function<void(const fs::path&, std::uintmax_t)>& damage) {
  const auto messages = small_messages(10);
  {
    auto queue = open_log_queue(options_for(dir));
    store_all(*queue, messages);
  }
  const fs::path segment = dir / "00000000000000000000.log";
  const auto intact = fs::file_size(segment);
  damage(segment, intact);
  {
    auto queue = open_log_queue(options_for(dir));
    EXPECT_LT(fs::file_size(segment), intact);
    ASSERT_EQ(read_all(dir).size(), 9u);
    store_all(*queue, small_messages(1, 100));
  }
  const auto records = read_all(dir);
  ASSERT_EQ(records.size(), 10u);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(records[i].body, messages[i].body);
  EXPECT_EQ(records[9].offset, 9u);
  EXPECT_EQ(records[9].body, "{\"n\":100}");
}

TEST(LogQueue, CutsATornTailOnOpenAndKeepsAppending) {
  TempDir dir;
  expect_tail_cut(dir.path(), [](const fs::path& segment, std::uintmax_t size) {
    fs::resize_file(segment, size - 5);
  });
}

TEST(LogQueue, CutsACrcMismatchInTheTailOnOpen) {
  TempDir dir;
  expect_tail_cut(dir.path(), [](const fs::path& segment, std::uintmax_t size) {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 2));
    f.put('X');
  });
}

// Regression (found by runtime_log_reader_fuzz): a torn record header whose length field claims
// up to 1 GiB made the scanner allocate and zero that much before finding the file was shorter.
// Recovery at start, `inlet queue read` and every reader paid it; a small pod ran out of memory.
TEST(LogReader, ATornLengthFieldDoesNotAllocateTheClaimedSize) {
  TempDir dir;
  {
    std::ofstream segment(dir.path() / "00000000000000000000.log", std::ios::binary);
    const char header[8] = {'\xf0', '\xff', '\xff', '\x3f', 0, 0, 0, 0};  // length 0x3ffffff0
    segment.write(header, sizeof header);
    segment << "only a few bytes follow";
  }
  // In a child, whose peak RSS is its own: the parent's high-water mark says nothing.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LogReader reader(dir.path(), 0);
    _exit(reader.next() ? 1 : 0);
  }
  int status = 0;
  rusage usage{};
  ASSERT_EQ(::wait4(child, &status, 0, &usage), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the torn record was served";
  EXPECT_LT(usage.ru_maxrss, 256 * 1024) << "peak RSS " << usage.ru_maxrss << " KiB";

  LogQueueOptions options;
  options.dir = dir.path();
  options.ack = AckMode::kWrite;
  open_log_queue(options)->close();  // recovery cuts it
  EXPECT_EQ(fs::file_size(dir.path() / "00000000000000000000.log"), 0u);
}

// ack: write, 4 KiB segments: `count` small records make count / 25 or so of them.
LogQueueOptions small_segments(const fs::path& dir) {
  auto options = options_for(dir, AckMode::kWrite);
  options.segment_bytes = 4096;
  return options;
}

std::vector<fs::path> write_small_segments(const LogQueueOptions& options, int count) {
  auto queue = open_log_queue(options);
  store_all(*queue, small_messages(count));
  queue->close();
  return segment_files(options.dir);
}

void overwrite_byte(const fs::path& file, std::uint64_t at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.put('\x7f');
}

// What open_log_queue threw; empty when it opened.
std::string open_error(const LogQueueOptions& options) {
  try {
    open_log_queue(options);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

TEST(LogQueue, RefusesToOpenWhenASealedSegmentIsCorruptAndTheReaderThrows) {
  TempDir dir;
  const auto options = small_segments(dir.path());
  const auto segments = write_small_segments(options, 200);
  ASSERT_GT(segments.size(), 2u);
  overwrite_byte(segments[0], 300);
  const std::string error = open_error(options);
  EXPECT_NE(error.find("00000000000000000000.log"), std::string::npos) << error;
  EXPECT_NE(error.find("sealed"), std::string::npos) << error;
  LogReader reader(dir.path(), 0);
  try {
    while (reader.next()) {
    }
    FAIL() << "the reader did not notice the corrupt record";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("00000000000000000000.log"), std::string::npos)
        << e.what();
  }
}

// ack: write syncs a sealed segment after the roll, so an OS crash can leave the segment before
// the last one short (its tail never reached the disk) or torn (half of its last record did).
// Recovery cuts it where it breaks and drops the last segment, whose records are all newer; the
// log then continues from the cut with no gap in its offsets, and no consumer is left past it.
TEST(LogQueue, RecoversASegmentLeftUnsealedByACrashByDroppingTheNewerLastSegment) {
  for (const bool torn : {false, true}) {
    TempDir dir;
    const auto options = small_segments(dir.path());
    const auto segments = write_small_segments(options, 120);
    ASSERT_GE(segments.size(), 3u);
    const fs::path unsealed = segments[segments.size() - 2];
    const std::uint64_t base = std::stoull(unsealed.filename().string().substr(0, 20));
    // Where its third-to-last record ends: keep that much, plus half a record when torn.
    std::vector<std::uint64_t> ends;
    {
      const int fd = ::open(unsealed.c_str(), O_RDONLY | O_CLOEXEC);
      log_format::SegmentScanner scanner(fd);
      while (scanner.next() == log_format::SegmentScanner::Result::kRecord) ends.push_back(scanner.position());
      ::close(fd);
    }
    ASSERT_GE(ends.size(), 3u);
    const std::uint64_t kept_records = ends.size() - 2;
    const std::uint64_t keep = ends[kept_records - 1];
    fs::resize_file(unsealed, torn ? keep + (ends[kept_records] - keep) / 2 : keep);
    // A consumer that had read everything, and one still behind the cut.
    LogConsumerPosition(dir.path(), "caught-up").store(120);
    LogConsumerPosition(dir.path(), "behind").store(10);

    auto queue = open_log_queue(options);
    EXPECT_FALSE(fs::exists(segments.back())) << "torn=" << torn;
    EXPECT_EQ(fs::file_size(unsealed), keep) << "torn=" << torn;
    const std::uint64_t next = base + kept_records;
    // Left past the end, it would skip the records written next at those offsets.
    EXPECT_EQ(LogConsumerPosition::read(LogConsumerPosition::path_of(dir.path(), "caught-up")), next);
    EXPECT_EQ(LogConsumerPosition::read(LogConsumerPosition::path_of(dir.path(), "behind")), 10u);
    store_all(*queue, {make_message("{\"after\":true}", 999)});
    queue->close();
    const auto records = read_all(dir.path());
    ASSERT_EQ(records.size(), next + 1) << "torn=" << torn;
    for (std::size_t i = 0; i < records.size(); ++i) ASSERT_EQ(records[i].offset, i);
    EXPECT_EQ(records[next - 1].body, "{\"n\":" + std::to_string(next - 1) + "}");
    EXPECT_EQ(records.back().body, "{\"after\":true}");
  }
}

// A crash leaves an unsynced segment short, never with a wrong checksum inside: a CRC mismatch in
// the segment before the last is corruption, and refuses to open as anywhere else.
TEST(LogQueue, RefusesACrcMismatchInTheSegmentBeforeTheLast) {
  TempDir dir;
  const auto options = small_segments(dir.path());
  const auto segments = write_small_segments(options, 120);
  ASSERT_GE(segments.size(), 3u);
  const fs::path before_last = segments[segments.size() - 2];
  overwrite_byte(before_last, fs::file_size(before_last) - 3);
  const std::string error = open_error(options);
  EXPECT_NE(error.find(before_last.filename().string()), std::string::npos) << error;
  EXPECT_NE(error.find("sealed"), std::string::npos) << error;
  EXPECT_TRUE(fs::exists(segments.back()));  // nothing was dropped
}

TEST(LogQueue, RollsSegmentsNamedByTheirBaseOffset) {
  TempDir dir;
  auto options = options_for(dir.path(), AckMode::kWrite);
  options.segment_bytes = 4096;
  {
    auto queue = open_log_queue(options);
    store_all(*queue, small_messages(300));
  }
  const auto segments = segment_files(dir.path());
  ASSERT_GT(segments.size(), 3u);
  EXPECT_EQ(segments[0].filename(), "00000000000000000000.log");
  for (const auto& segment : segments) {
    EXPECT_LE(fs::file_size(segment), 4096u);
    // A segment's name is the offset of its first record.
    const std::uint64_t base = std::stoull(segment.filename().string().substr(0, 20));
    const auto from_base = read_all(dir.path(), base);
    ASSERT_FALSE(from_base.empty());
    EXPECT_EQ(from_base.front().offset, base);
    EXPECT_EQ(from_base.front().body, "{\"n\":" + std::to_string(base) + "}");
  }
  EXPECT_EQ(read_all(dir.path()).size(), 300u);
}

TEST(LogQueue, RetentionBySizeDeletesTheOldestSealedSegments) {
  TempDir dir;
  auto options = options_for(dir.path(), AckMode::kWrite);
  options.segment_bytes = 4096;
  options.retention_bytes = 3 * 4096;
  {
    auto queue = open_log_queue(options);
    store_all(*queue, small_messages(1000));
  }
  const auto segments = segment_files(dir.path());
  std::uintmax_t total = 0;
  for (const auto& s : segments) total += fs::file_size(s);
  EXPECT_LE(total, 3u * 4096u + 4096u);
  EXPECT_FALSE(fs::exists(dir.path() / "00000000000000000000.log"));
  // Reading from 0 starts at the oldest record left and ends at the newest.
  const auto records = read_all(dir.path());
  ASSERT_FALSE(records.empty());
  EXPECT_GT(records.front().offset, 0u);
  EXPECT_EQ(records.back().offset, 999u);
  EXPECT_EQ(records.back().body, "{\"n\":999}");
}

void age(const fs::path& file, std::chrono::hours by) {
  fs::last_write_time(file, fs::file_time_type::clock::now() - by);
}

TEST(LogQueue, RetentionByAgeDeletesOldSealedSegmentsOnRollAndPeriodically) {
  TempDir dir;
  auto options = options_for(dir.path(), AckMode::kWrite);
  options.segment_bytes = 4096;
  options.retention_age = 1h;
  options.retention_check_interval = 50ms;
  auto queue = open_log_queue(options);
  store_all(*queue, small_messages(200));
  auto segments = segment_files(dir.path());
  ASSERT_GE(segments.size(), 3u);
  age(segments[0], 2h);
  // The periodic check, with no traffic at all.
  for (int i = 0; i < 200 && fs::exists(segments[0]); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(fs::exists(segments[0]));
  EXPECT_TRUE(fs::exists(segments[1]));
  // The active segment is never deleted, however old.
  age(segments.back(), 2h);
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(fs::exists(segments.back()));
  queue->close();
  EXPECT_EQ(read_all(dir.path()).back().offset, 199u);
}

// Holds the writer thread inside a callback until released.
class BlockingCallback final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    status_ = status;
    entered_.count_down();
    release_.wait();
  }
  std::latch entered_{1};
  std::latch release_{1};
  StoreStatus status_{};
};

class RecordingCallback final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    status_ = status;
    calls_.fetch_add(1);
  }
  std::atomic<int> calls_{0};
  std::atomic<StoreStatus> status_{};
};

TEST(LogQueue, AnswersFullInlineWhenTheInFlightBudgetIsSpent) {
  TempDir dir;
  auto options = options_for(dir.path());
  options.max_in_flight = 2;
  auto queue = open_log_queue(options);
  const auto messages = small_messages(3);
  BlockingCallback first;
  queue->store(messages[0].view(), first);
  first.entered_.wait();  // the writer is now stuck in our callback: message 0 still counts
  RecordingCallback second, third;
  queue->store(messages[1].view(), second);
  queue->store(messages[2].view(), third);
  EXPECT_EQ(third.calls_.load(), 1);  // inline, before store() returned
  EXPECT_EQ(third.status_.load(), StoreStatus::kFull);
  EXPECT_EQ(second.calls_.load(), 0);
  first.release_.count_down();
  queue->close();
  EXPECT_EQ(first.status_, StoreStatus::kStored);
  EXPECT_EQ(second.calls_.load(), 1);
  EXPECT_EQ(second.status_.load(), StoreStatus::kStored);
  EXPECT_EQ(read_all(dir.path()).size(), 2u);
}

// Which thread answered a store, and how.
class ThreadNamingCallback final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    thread_ = name;
    status_ = status;
    done_.store(true, std::memory_order_release);
  }
  std::atomic<bool> done_{false};
  std::string thread_;
  StoreStatus status_{};
};

// With ack: write an I/O thread writes its burst itself, but never rolls: sealing a segment syncs
// it and the directory, and retention deletes files, which are the writer thread's to wait on. The
// records of a burst past a segment's end go to the writer thread, ahead of anything still
// pending, so each producer's records keep their order in the log.
TEST(LogQueue, AnIoThreadBurstLeavesEveryRollToTheWriterThreadAndKeepsOrder) {
  TempDir dir;
  auto options = options_for(dir.path(), AckMode::kWrite);
  options.segment_bytes = 4096;  // a roll every ~25 records
  options.max_in_flight = 100000;
  auto queue = open_log_queue(options);
  constexpr int kThreads = 4, kPerThread = 600, kBurst = 5;
  const auto messages = small_messages(kThreads * kPerThread);
  std::vector<ThreadNamingCallback> callbacks(messages.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      pthread_setname_np(pthread_self(), "test-io");
      for (int i = 0; i < kPerThread; i += kBurst) {
        for (int k = i; k < i + kBurst; ++k) {
          const std::size_t index = static_cast<std::size_t>(t * kPerThread + k);
          queue->store_deferred(messages[index].view(), callbacks[index]);
        }
        queue->flush();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (const auto& callback : callbacks) {
    while (!callback.done_.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_TRUE(callback.done_.load(std::memory_order_acquire)) << "a store was never answered";
    ASSERT_EQ(callback.status_, StoreStatus::kStored);
  }
  queue->close();

  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), messages.size());
  std::map<std::string, std::size_t> index_of_body;
  for (std::size_t i = 0; i < messages.size(); ++i) index_of_body[messages[i].body] = i;
  std::vector<std::size_t> message_at(records.size());
  for (std::size_t offset = 0; offset < records.size(); ++offset) {
    ASSERT_EQ(records[offset].offset, offset);
    message_at[offset] = index_of_body.at(records[offset].body);
  }
  // Each producer's records appear in the order it stored them.
  std::vector<int> last_of_thread(kThreads, -1);
  for (std::size_t index : message_at) {
    const int thread = static_cast<int>(index) / kPerThread, position = static_cast<int>(index) % kPerThread;
    EXPECT_GT(position, last_of_thread[thread]) << "thread " << thread;
    last_of_thread[thread] = position;
  }
  // The first record of every segment but the first was written after a roll: by the writer.
  const auto segments = segment_files(dir.path());
  ASSERT_GT(segments.size(), 20u);
  for (std::size_t s = 1; s < segments.size(); ++s) {
    const std::uint64_t base = std::stoull(segments[s].filename().string().substr(0, 20));
    EXPECT_EQ(callbacks[message_at[base]].thread_, "inlet-log") << "offset " << base;
  }
  // And the I/O threads still wrote bursts themselves (here a few: with a roll every ~25 records,
  // the writer mostly holds the files).
  EXPECT_TRUE(std::any_of(callbacks.begin(), callbacks.end(), [](const auto& c) { return c.thread_ == "test-io"; }));
}

TEST(LogQueue, CloseCallsBackEverythingPendingBeforeReturning) {
  TempDir dir;
  auto queue = open_log_queue(options_for(dir.path()));
  const auto messages = small_messages(2000);
  std::vector<RecordingCallback> callbacks(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) queue->store(messages[i].view(), callbacks[i]);
  queue->close();
  for (const auto& cb : callbacks) {
    ASSERT_EQ(cb.calls_.load(), 1);
    ASSERT_EQ(cb.status_.load(), StoreStatus::kStored);
  }
  EXPECT_FALSE(queue->ready());
  RecordingCallback late;
  queue->store(messages[0].view(), late);
  EXPECT_EQ(late.status_.load(), StoreStatus::kUnavailable);
  EXPECT_EQ(read_all(dir.path()).size(), 2000u);
}

TEST(LogQueue, AWriteErrorAnswersUnavailableAndLaterWritesSucceedOnceTheDiskRecovers) {
  TempDir dir;
  auto queue = open_log_queue(options_for(dir.path()));
  store_all(*queue, small_messages(1));
  const fs::path segment = dir.path() / "00000000000000000000.log";
  const auto good_size = fs::file_size(segment);

  // RLIMIT_FSIZE makes writes past the limit fail with EFBIG, like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit saved{};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  rlimit tight = saved;
  tight.rlim_cur = good_size + 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  OwnedMessage big = make_message(std::string(4000, 'x'), 7);
  Waiter failed;
  queue->store(big.view(), failed);
  const auto statuses = failed.wait(1);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ASSERT_EQ(statuses.size(), 1u);
  EXPECT_EQ(statuses[0], StoreStatus::kUnavailable);
  EXPECT_FALSE(queue->ready());
  EXPECT_EQ(fs::file_size(segment), good_size);  // the partial write was cut

  store_all(*queue, small_messages(1, 1));
  EXPECT_TRUE(queue->ready());
  queue->close();
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].offset, 1u);
  EXPECT_EQ(records[1].body, "{\"n\":1}");
  EXPECT_EQ(counter_value(*queue, "inlet_log_queue_write_failures_total"), 1u);
}

// Reads `count` records from the start in a thread of its own, as a consumer tails the log, into
// `seen` (within 60 s); join the thread before reading `seen`.
std::thread follow(const fs::path& dir, std::size_t count, std::vector<LogRecord>& seen) {
  return std::thread([dir, count, &seen] {
    LogReader reader(dir, 0);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (seen.size() < count && std::chrono::steady_clock::now() < deadline) {
      if (auto r = reader.next()) {
        seen.push_back(std::move(*r));
      } else {
        std::this_thread::yield();
      }
    }
  });
}

TEST(LogQueue, TheReaderSeesRecordsWhileTheWriterAppendsAndRolls) {
  TempDir dir;
  auto options = options_for(dir.path(), AckMode::kWrite);
  options.segment_bytes = 8192;
  auto queue = open_log_queue(options);
  constexpr std::size_t kCount = 3000;
  const auto messages = small_messages(kCount);
  std::vector<LogRecord> seen;
  std::thread follower = follow(dir.path(), kCount, seen);
  Waiter waiter;
  for (std::size_t i = 0; i < kCount; ++i) {
    queue->store(messages[i].view(), waiter);
    if (i % 100 == 0) std::this_thread::sleep_for(1ms);  // let the reader catch up to live tails
  }
  waiter.wait(kCount);
  follower.join();
  ASSERT_EQ(seen.size(), kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(seen[i].offset, i);
    ASSERT_EQ(seen[i].body, messages[i].body);
  }
  EXPECT_GT(segment_files(dir.path()).size(), 3u);
}

std::string read_command_output(const fs::path& dir, std::uint64_t from, int* rc) {
  std::FILE* out = std::tmpfile();
  *rc = run_queue_read(dir, from, false, out);
  std::rewind(out);
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, out)) > 0) text.append(buf, n);
  std::fclose(out);
  return text;
}

TEST(QueueReadCommand, PrintsOneJsonLinePerMessageWithTheBodyMinified) {
  TempDir dir;
  OwnedMessage first = make_message("{ \"a\" : [1, 2.50],\n \"s\": \"x y\" }", 1);
  OwnedMessage second = make_message("not json", 2);
  second.user = "alice";
  second.identity = "key-1";
  second.scopes = {"read", "write"};
  {
    auto queue = open_log_queue(options_for(dir.path()));
    store_all(*queue, {first, second});
  }
  int rc = -1;
  const std::string text = read_command_output(dir.path(), 0, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(text,
            "{\"offset\":0,\"tracking_id\":\"00000000000000000000000000000001\","
            "\"received_at\":\"2026-11-22T13:40:02.123456Z\",\"message_type\":\"echo.json\","
            "\"node\":\"edge-1\",\"tenant\":null,"
            "\"content_type\":\"application/json\",\"user\":null,\"identity\":null,\"error\":null,"
            "\"attempts\":null,\"endpoint\":null,\"status\":null,\"scopes\":[],"
            "\"prev_tracking_ids\":[],"
            "\"body\":{\"a\":[1,2.50],\"s\":\"x y\"}}\n"
            "{\"offset\":1,\"tracking_id\":\"00000000000000000000000000000002\","
            "\"received_at\":\"2026-11-22T13:40:02.123456Z\",\"message_type\":\"echo.json\","
            "\"node\":\"edge-1\",\"tenant\":null,"
            "\"content_type\":\"application/json\",\"user\":\"alice\",\"identity\":\"key-1\","
            "\"error\":null,\"attempts\":null,\"endpoint\":null,\"status\":null,"
            "\"scopes\":[\"read\",\"write\"],\"prev_tracking_ids\":[],\"body\":\"not json\"}\n");
  const std::string from_one = read_command_output(dir.path(), 1, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(from_one.rfind("{\"offset\":1,", 0), 0u);
  EXPECT_EQ(std::count(from_one.begin(), from_one.end(), '\n'), 1);
}

TEST(QueueReadCommand, FailsOnAMissingDirectory) {
  int rc = -1;
  const std::string text = read_command_output("/nonexistent/inlet-queue", 0, &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(text, "");
}

TEST(QueueReadCommand, FollowPrintsNewRecordsUntilStopped) {
  TempDir dir;
  auto queue = open_log_queue(options_for(dir.path(), AckMode::kWrite));
  store_all(*queue, small_messages(1));
  std::atomic<bool> stop{false};
  std::FILE* out = std::tmpfile();
  int rc = -1;
  std::thread reader([&] { rc = run_queue_read(dir.path(), 0, true, out, &stop); });
  std::this_thread::sleep_for(150ms);
  store_all(*queue, small_messages(2, 1));
  std::this_thread::sleep_for(300ms);
  stop = true;
  reader.join();
  EXPECT_EQ(rc, 0);
  std::rewind(out);
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, out)) > 0) text.append(buf, n);
  std::fclose(out);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_NE(text.find("\"body\":{\"n\":2}"), std::string::npos);
}


// Segments written over zeros (segment_spare.h, ack: fsync).

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The bytes of `count` small records as the log writes them, from a scratch log beside `dir`.
std::string record_bytes(const fs::path& dir, int count, int first = 0) {
  const fs::path scratch = dir.string() + "-scratch";
  fs::remove_all(scratch);
  {
    auto queue = open_log_queue(options_for(scratch, AckMode::kWrite));
    store_all(*queue, small_messages(count, first));
  }
  std::string bytes = file_bytes(scratch / "00000000000000000000.log");
  fs::remove_all(scratch);
  return bytes;
}

std::uint64_t counter(const Queue& queue, std::string_view name) {
  std::vector<QueueCounter> counters;
  queue.counters(counters);
  for (const auto& c : counters) {
    if (c.name == name) return c.value;
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

LogQueueOptions over_zeros(const fs::path& dir) {
  auto options = options_for(dir, AckMode::kFsync);
  options.segment_bytes = 64 << 10;
  options.spare_after_syncs = 1;
  return options;
}

// The log syncs, asks for a spare, and moves onto it: the active segment is then segment_bytes
// long while open. Rolls take the next spares and cut their zeros; the records read back in order
// throughout, a clean stop cuts the zeros of the last segment, and no spare file is left behind.
TEST(LogQueue, MovesOntoSegmentsOfZerosAndReadsTheSame) {
  TempDir dir;
  const auto options = over_zeros(dir.path());
  const auto messages = small_messages(3000);
  std::size_t stored = 0;
  {
    auto queue = open_log_queue(options);
    const auto store_next = [&](std::size_t n) {
      store_all(*queue, {messages.begin() + static_cast<std::ptrdiff_t>(stored),
                         messages.begin() + static_cast<std::ptrdiff_t>(stored + n)});
      stored += n;
    };
    // The spare thread runs at SCHED_IDLE: it is ready when this core has time for it.
    const auto until_over_zeros = [&] {
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (stored < messages.size() && std::chrono::steady_clock::now() < deadline) {
        store_next(1);
        if (fs::file_size(segment_files(dir.path()).back()) == options.segment_bytes) return true;
        std::this_thread::sleep_for(5ms);
      }
      return false;
    };
    ASSERT_TRUE(until_over_zeros()) << "the log never moved onto a spare";
    while (stored + 50 <= 2500) store_next(50);
    ASSERT_TRUE(until_over_zeros()) << "the log never moved onto a spare again";
    EXPECT_GE(counter(*queue, "inlet_log_queue_spares_total"), 2u);

    const auto records = read_all(dir.path());
    ASSERT_EQ(records.size(), stored);
    for (std::size_t i = 0; i < records.size(); ++i) {
      ASSERT_EQ(records[i].offset, i);
      ASSERT_EQ(records[i].body, messages[i].body);
    }
    const auto segments = segment_files(dir.path());
    ASSERT_GE(segments.size(), 4u);
    // Sealed segments hold their records and nothing else.
    for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
      const codecs::UniqueFd fd(::open(segments[i].c_str(), O_RDONLY | O_CLOEXEC));
      log_format::SegmentScanner scanner(fd.get());
      while (scanner.next() == log_format::SegmentScanner::Result::kRecord) {
      }
      EXPECT_EQ(scanner.position(), fs::file_size(segments[i])) << segments[i];
    }
  }
  EXPECT_FALSE(fs::exists(dir.path() / ".spare"));
  EXPECT_LT(fs::file_size(segment_files(dir.path()).back()), options.segment_bytes);
  auto queue = open_log_queue(options);
  store_all(*queue, small_messages(1, 5000));
  const auto records = read_all(dir.path(), stored);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].offset, stored);
  EXPECT_EQ(records[0].body, "{\"n\":5000}");
}

// A spare costs a write of its bytes and saves a journal commit per sync: a log whose syncs carry
// large batches (here one 64 KiB record each) is not given one.
TEST(LogQueue, GivesNoSpareToALogWhoseSyncsAreLarge) {
  TempDir dir;
  auto options = over_zeros(dir.path());
  options.segment_bytes = 1 << 20;
  auto queue = open_log_queue(options);
  const auto messages = large_messages(40);
  for (const auto& message : messages) store_all(*queue, {message});
  std::this_thread::sleep_for(100ms);
  store_all(*queue, small_messages(1, 100));
  EXPECT_EQ(counter(*queue, "inlet_log_queue_spares_total"), 0u);
  EXPECT_FALSE(fs::exists(dir.path() / ".spare"));
  EXPECT_EQ(read_all(dir.path()).size(), messages.size() + 1);
}

// A crash may leave a spare half made: whatever the ack mode of the next run, it goes.
TEST(LogQueue, RemovesASpareLeftByAnEarlierRun) {
  for (AckMode ack : {AckMode::kWrite, AckMode::kFsync}) {
    TempDir dir;
    write_file(dir.path() / ".spare", std::string(4096, '\0'));
    auto queue = open_log_queue(options_for(dir.path(), ack));
    EXPECT_FALSE(fs::exists(dir.path() / ".spare"));
  }
}

// After an OS crash the disk may hold records past one that never reached it, after a run of
// zeros; none was acknowledged. Recovery cuts them: a new record written at the end would
// otherwise be followed by them, and a reader would serve them as newer records.
TEST(LogQueue, RecoveryCutsWhatFollowsTheZerosAfterTheLastRecord) {
  TempDir dir;
  const std::string kept = record_bytes(dir.path(), 5);
  const std::string stale = record_bytes(dir.path(), 3, 100);
  const std::string first_stale(stale.data(), stale.size() / 3);  // one record: the three are alike
  std::string segment = kept + std::string(first_stale.size(), '\0') + stale;
  segment.resize(64 << 10, '\0');
  write_file(dir.path() / "00000000000000000000.log", segment);
  {
    auto queue = open_log_queue(options_for(dir.path()));
    EXPECT_EQ(fs::file_size(dir.path() / "00000000000000000000.log"), kept.size());
    store_all(*queue, small_messages(1, 5));  // exactly where the zeros were
  }
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 6u);
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].offset, i);
    EXPECT_EQ(records[i].body, "{\"n\":" + std::to_string(i) + "}");
  }
}

// A record torn over zeros (its header and part of its body reached the disk) is cut like a torn
// append, and the log goes on from the record before it.
TEST(LogQueue, CutsARecordTornOverZerosOnOpen) {
  TempDir dir;
  const std::string kept = record_bytes(dir.path(), 4);
  const std::string torn = record_bytes(dir.path(), 1, 4);
  std::string segment = kept + torn.substr(0, torn.size() - 6);
  segment.resize(64 << 10, '\0');
  write_file(dir.path() / "00000000000000000000.log", segment);
  {
    auto queue = open_log_queue(options_for(dir.path()));
    EXPECT_EQ(fs::file_size(dir.path() / "00000000000000000000.log"), kept.size());
    store_all(*queue, small_messages(1, 100));
  }
  const auto records = read_all(dir.path());
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[3].body, "{\"n\":3}");
  EXPECT_EQ(records[4].offset, 4u);
  EXPECT_EQ(records[4].body, "{\"n\":100}");
}

// In the live segment a record whose CRC does not match yet may be one being written over zeros:
// the reader waits for it, and reads it once whole. Once a newer segment exists, a mismatch is
// corruption, and the reader says so.
TEST(LogReader, WaitsAtARecordBeingWrittenOverZerosAndRefusesOneInASealedSegment) {
  TempDir dir;
  const std::string records = record_bytes(dir.path(), 3);
  const std::size_t record = records.size() / 3;  // alike in size
  const fs::path live = dir.path() / "00000000000000000000.log";
  std::string half = records.substr(0, 2 * record) + records.substr(2 * record, record / 2);
  half.resize(64 << 10, '\0');
  write_file(live, half);
  LogReader reader(dir.path(), 0);
  ASSERT_TRUE(reader.next());
  ASSERT_TRUE(reader.next());
  EXPECT_FALSE(reader.next());  // no throw: it is being written
  std::string whole = records;
  whole.resize(64 << 10, '\0');
  write_file(live, whole);
  const auto third = reader.next();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->body, "{\"n\":2}");
  EXPECT_FALSE(reader.next());

  std::string damaged = records;
  damaged[damaged.size() - 2] = 'X';
  write_file(live, damaged);
  LogReader from_start(dir.path(), 0);
  ASSERT_TRUE(from_start.next());
  ASSERT_TRUE(from_start.next());
  EXPECT_FALSE(from_start.next());
  write_file(dir.path() / "00000000000000000003.log", "");
  EXPECT_THROW(from_start.next(), std::runtime_error);
}

// A follower in another thread reads every record in order while the writer syncs, moves onto
// spares and rolls: it never takes a record being written over zeros for the end or for damage.
TEST(LogQueue, TheReaderSeesRecordsWhileTheWriterWritesOverZerosAndRolls) {
  TempDir dir;
  auto options = over_zeros(dir.path());
  options.segment_bytes = 16 << 10;
  auto queue = open_log_queue(options);
  constexpr std::size_t kCount = 3000;
  const auto messages = small_messages(kCount);
  std::vector<LogRecord> seen;
  std::thread follower = follow(dir.path(), kCount, seen);
  // Slowly until the first spare is in use (its thread runs at SCHED_IDLE, when the core has time).
  const auto patience = std::chrono::steady_clock::now() + 20s;
  for (std::size_t i = 0; i < kCount; i += 10) {
    store_all(*queue, {messages.begin() + static_cast<std::ptrdiff_t>(i),
                       messages.begin() + static_cast<std::ptrdiff_t>(i + 10)});
    if (counter(*queue, "inlet_log_queue_spares_total") == 0 && std::chrono::steady_clock::now() < patience) {
      std::this_thread::sleep_for(50ms);
    }
  }
  follower.join();
  ASSERT_EQ(seen.size(), kCount);
  for (std::size_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(seen[i].offset, i);
    ASSERT_EQ(seen[i].body, messages[i].body);
  }
  EXPECT_GE(counter(*queue, "inlet_log_queue_spares_total"), 1u);
}

}  // namespace
}  // namespace inlet::runtime
