// Named consumers of the durable log: positions that survive a restart and a torn write, waking
// on new records from this process and from another one, lag, and seeking by time.
#include "runtime/queue/log_consumer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "codecs/unique_handle.h"
#include "runtime/queue/log_append_signal.h"
#include "runtime/queue/log_queue.h"
#include "runtime/queue/log_segment.h"
#include "tests/runtime/edge_test_support.h"

namespace inlet::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class LogConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("inlet-consumer-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Queue> open_queue() {
    LogQueueOptions options;
    options.dir = dir_;
    options.ack = AckMode::kWrite;
    options.segment_bytes = 4096;  // several segments from a few records
    return open_log_queue(options);
  }

  fs::path dir_;
};

// Stores `count` generated payloads and waits for every acknowledgement.
void store_n(Queue& queue, std::size_t count) {
  testing::StoredMessages batch(count);
  testing::Recorder recorder(count);
  testing::store_all(queue, batch, recorder);
  ASSERT_TRUE(recorder.wait_for(count, std::chrono::seconds(10)));
}

TEST_F(LogConsumerTest, ReadsInOrderAndResumesAfterTheLastCommit) {
  auto queue = open_queue();
  store_n(*queue, 50);
  std::vector<ConsumedMessage> got;
  {
    auto consumer = open_log_consumer(dir_, "split");
    while (got.size() < 50) ASSERT_GT(consumer->poll(got, 16, milliseconds(2000)), 0u);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].position, i);
    consumer->commit(29);
    EXPECT_EQ(consumer->committed(), 30u);
    consumer->commit(10);  // never backwards
    EXPECT_EQ(consumer->committed(), 30u);
  }
  auto again = open_log_consumer(dir_, "split");
  std::vector<ConsumedMessage> rest;
  while (rest.size() < 20) ASSERT_GT(again->poll(rest, 100, milliseconds(2000)), 0u);
  EXPECT_EQ(rest.front().position, 30u);
  EXPECT_EQ(rest.front().body, got[30].body);
  // Another name has its own position.
  auto other = open_log_consumer(dir_, "audit");
  std::vector<ConsumedMessage> first;
  ASSERT_GT(other->poll(first, 1, milliseconds(2000)), 0u);
  EXPECT_EQ(first.front().position, 0u);
  queue->close();
}

TEST_F(LogConsumerTest, LagCountsWhatIsAfterTheCommittedPositionBehindOrCaughtUp) {
  auto queue = open_queue();
  store_n(*queue, 40);
  auto consumer = open_log_consumer(dir_, "lagging");
  EXPECT_EQ(consumer->lag(), 40u);  // nothing read yet
  std::vector<ConsumedMessage> got;
  ASSERT_EQ(consumer->poll(got, 10, milliseconds(2000)), 10u);
  consumer->commit(4);
  EXPECT_EQ(consumer->lag(), 35u);  // behind: counted by reading ahead (over segments)
  store_n(*queue, 5);
  EXPECT_EQ(consumer->lag(), 40u);
  while (consumer->poll(got, 100, milliseconds(0)) > 0) {
  }
  EXPECT_EQ(got.size(), 45u);
  consumer->commit(44);
  EXPECT_EQ(consumer->lag(), 0u);  // caught up: where reading stopped is the end
  store_n(*queue, 3);
  std::vector<ConsumedMessage> more;
  while (more.size() < 3) ASSERT_GT(consumer->poll(more, 100, milliseconds(2000)), 0u);
  EXPECT_EQ(consumer->lag(), 3u);
  queue->close();
}

TEST_F(LogConsumerTest, TheInProcessSignalWakesOnlyAnArmedWaiter) {
  auto signal = LogAppendSignal::of(dir_);
  EXPECT_EQ(signal, LogAppendSignal::of(dir_ / "." / ""));  // one per directory
  codecs::UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  signal->subscribe(fd.get());
  std::uint64_t count = 0;
  signal->appended();  // nobody waits: nothing is written
  EXPECT_LT(::read(fd.get(), &count, sizeof count), 0);
  signal->arm();
  signal->appended();
  EXPECT_EQ(::read(fd.get(), &count, sizeof count), static_cast<ssize_t>(sizeof count));
  signal->appended();  // one wake per arm
  EXPECT_LT(::read(fd.get(), &count, sizeof count), 0);
  signal->unsubscribe(fd.get());
  EXPECT_FALSE(signal->has_writer());
  auto queue = open_queue();
  EXPECT_TRUE(signal->has_writer());
  queue->close();
  EXPECT_FALSE(signal->has_writer());
}

TEST_F(LogConsumerTest, ATornWriteLeavesThePreviousPosition) {
  {
    LogConsumerPosition position(dir_, "c");
    position.store(7);
    position.store(9);
  }
  const fs::path file = LogConsumerPosition::path_of(dir_, "c");
  EXPECT_EQ(LogConsumerPosition::read(file), 9u);
  // Tear the newest slot: the sequence of stores 0 (create), 7, 9 put 9 in slot 1.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(32 + 20);
    f.put('\x55');
  }
  EXPECT_EQ(LogConsumerPosition::read(file), 7u);
  LogConsumerPosition reopened(dir_, "c");
  EXPECT_EQ(reopened.next_offset(), 7u);
}

TEST_F(LogConsumerTest, RefusesNamesThatAreNotFileNames) {
  EXPECT_THROW(LogConsumerPosition(dir_, "../x"), std::runtime_error);
  EXPECT_THROW(LogConsumerPosition(dir_, ""), std::runtime_error);
  EXPECT_TRUE(is_valid_consumer_name("split-commits_v2.1"));
}

TEST_F(LogConsumerTest, AWriterInThisProcessWakesAWaitingPoll) {
  auto queue = open_queue();
  auto consumer = open_log_consumer(dir_, "c");
  std::vector<ConsumedMessage> got;
  EXPECT_EQ(consumer->poll(got, 10, milliseconds(50)), 0u);
  std::thread writer([&] {
    std::this_thread::sleep_for(milliseconds(200));
    store_n(*queue, 1);
  });
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(consumer->poll(got, 10, milliseconds(10000)), 1u);
  const auto waited = std::chrono::steady_clock::now() - started;
  writer.join();
  EXPECT_LT(waited, milliseconds(5000));  // woken by the write, not the timeout
  queue->close();
}

TEST_F(LogConsumerTest, AWriterInAnotherProcessWakesAWaitingPoll) {
  auto consumer = open_log_consumer(dir_, "c");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::this_thread::sleep_for(milliseconds(200));
    auto queue = open_queue();
    store_n(*queue, 3);
    queue->close();
    ::_exit(0);
  }
  std::vector<ConsumedMessage> got;
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(10000);
  while (got.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    consumer->poll(got, 10, milliseconds(10000));
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].position, 2u);
}

TEST_F(LogConsumerTest, StopWakesAPollFromAnotherThread) {
  auto consumer = open_log_consumer(dir_, "c");
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(100));
    consumer->stop();
  });
  std::vector<ConsumedMessage> got;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(consumer->poll(got, 10, milliseconds(10000)), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(5000));
  stopper.join();
}

TEST_F(LogConsumerTest, ListsLagAndFindsAnOffsetByTime) {
  auto queue = open_queue();
  store_n(*queue, 40);
  queue->close();
  {
    auto consumer = open_log_consumer(dir_, "behind");
    std::vector<ConsumedMessage> got;
    while (got.size() < 40) ASSERT_GT(consumer->poll(got, 100, milliseconds(2000)), 0u);
    consumer->commit(9);
  }
  const std::vector<LogConsumerInfo> consumers = list_log_consumers(dir_, log_extent(dir_));
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0].name, "behind");
  EXPECT_EQ(consumers[0].next_offset, 10u);
  EXPECT_EQ(consumers[0].lag, 30u);
  EXPECT_EQ(log_extent(dir_).end, 40u);
  EXPECT_EQ(log_offset_at_time(dir_, 0), 0u);
  EXPECT_EQ(log_offset_at_time(dir_, std::int64_t{1} << 62), 40u);
}

constexpr std::uint64_t kMiB = 1ull << 20;

// Stores 48 MiB in 64 KiB bodies to one segment of a log with ack: fsync (so that its pages are
// clean at once, and whether they are cached is up to the consumers alone); returns the bodies.
std::vector<std::string> store_48_mib(const fs::path& dir, Queue& queue) {
  std::vector<std::string> bodies, ids;
  for (int i = 0; i < 768; ++i) {
    bodies.push_back("{\"n\":" + std::to_string(i) + "}" + std::string((64u << 10) - 16, ' '));
    char id[33];
    std::snprintf(id, sizeof id, "%032x", i);
    ids.emplace_back(id);
  }
  for (std::size_t first = 0; first < bodies.size(); first += 128) {
    testing::Recorder recorder(128);
    for (std::size_t i = 0; i < 128; ++i) {
      Message message;
      message.body = bodies[first + i];
      message.tracking_id = ids[first + i];
      message.message_type = "t";
      message.received_at = "2026-12-03T10:00:00.000000Z";
      message.node = "n";
      message.content_type = "application/json";
      queue.store(message, recorder.at(i));
    }
    EXPECT_TRUE(recorder.wait_for(128, std::chrono::seconds(30)));
    EXPECT_EQ(recorder.count(StoreStatus::kStored), 128u);
  }
  EXPECT_EQ(log_format::list_segments(dir).size(), 1u);
  return bodies;
}

std::unique_ptr<Queue> open_fsync_queue(const fs::path& dir) {
  LogQueueOptions options;
  options.dir = dir;
  options.ack = AckMode::kFsync;
  return open_log_queue(options);
}

// The one consumer of a log in its process frees the page cache behind what it read (the writer
// leaves that to it); with two, neither knows where the other is, so both leave the pages be.
TEST_F(LogConsumerTest, TheOnlyConsumerHereFreesThePageCacheBehindItself) {
  auto queue = open_fsync_queue(dir_);
  auto consumer = open_log_consumer(dir_, "only");
  const auto bodies = store_48_mib(dir_, *queue);
  const fs::path segment = log_format::list_segments(dir_).front().second;
  const std::uint64_t size = fs::file_size(segment);
  EXPECT_GT(testing::resident_fraction(segment, 0, 8 * kMiB), 0.95) << "the writer freed them";
  const auto got = testing::poll_until(*consumer, bodies.size(), milliseconds(30000), 64);
  ASSERT_EQ(got.size(), bodies.size());
  for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i].body, bodies[i]) << i;
  EXPECT_LT(testing::resident_fraction(segment, 0, 8 * kMiB), 0.05);
  EXPECT_GT(testing::resident_fraction(segment, size - 16 * kMiB, size), 0.95);
  queue->close();
}

TEST_F(LogConsumerTest, TwoConsumersHereLeaveThePageCacheBe) {
  auto queue = open_fsync_queue(dir_);
  auto first = open_log_consumer(dir_, "first");
  auto second = open_log_consumer(dir_, "second");
  const auto bodies = store_48_mib(dir_, *queue);
  const fs::path segment = log_format::list_segments(dir_).front().second;
  EXPECT_EQ(testing::poll_until(*first, bodies.size(), milliseconds(30000), 64).size(), bodies.size());
  EXPECT_EQ(testing::poll_until(*second, bodies.size(), milliseconds(30000), 64).size(), bodies.size());
  EXPECT_GT(testing::resident_fraction(segment, 0, fs::file_size(segment)), 0.95);
  queue->close();
}

TEST(Rfc3339, ParsesUtcOffsetsAndFractions) {
  EXPECT_EQ(parse_rfc3339_micros("1970-01-01T00:00:01Z"), 1000000);
  EXPECT_EQ(parse_rfc3339_micros("1970-01-01T00:00:01.25Z"), 1250000);
  EXPECT_EQ(parse_rfc3339_micros("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339_micros("2026-12-01T10:00:00.123456Z"), 1796119200123456);
  EXPECT_FALSE(parse_rfc3339_micros("2026-12-01 10:00:00Z"));
  EXPECT_FALSE(parse_rfc3339_micros("2026-12-01T10:00:00"));
  EXPECT_FALSE(parse_rfc3339_micros("yesterday"));
}

}  // namespace
}  // namespace inlet::runtime
