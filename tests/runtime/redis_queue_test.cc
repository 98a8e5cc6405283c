#include "runtime/queue/redis_queue.h"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <map>
#include <set>
#include <thread>

#include "runtime/config/node_config.h"
#include "tests/redis_server.h"
#include "tests/runtime/edge_test_support.h"

namespace inlet::runtime {
namespace {

using namespace std::chrono_literals;
using testing::Recorder;
using testing::StoredMessages;

using testing::Entry;
using testing::RedisServer;

RedisQueueOptions options_for(const RedisServer& server) {
  RedisQueueOptions options;
  options.url = server.url();
  options.stream = "webhooks";
  options.retry_budget_ms = 2000;
  return options;
}

bool wait_ready(const Queue& queue, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!queue.ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

TEST(RedisQueue, AddsEntriesWithAttributesAndBodyByteForByte) {
  RedisServer server(false);
  StoredMessages stored(300);
  Recorder recorder(stored.messages.size());
  auto queue = open_redis_queue(options_for(server));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  EXPECT_EQ(recorder.count(StoreStatus::kStored), stored.messages.size());
  queue->close();

  std::vector<Entry> entries = server.xrange("webhooks");
  ASSERT_EQ(entries.size(), stored.messages.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    const Message& m = stored.messages[i];
    EXPECT_EQ(e["body"], m.body) << i;
    EXPECT_EQ(e["tracking_id"], m.tracking_id);
    EXPECT_EQ(e["received_at"], m.received_at);
    EXPECT_EQ(e["message_type"], m.message_type);
    EXPECT_EQ(e["node"], m.node);
    EXPECT_EQ(e["content_type"], m.content_type);
    if (i % 3 == 0) {
      EXPECT_EQ(
          e["#order"],
          "tracking_id,received_at,message_type,node,tenant,content_type,user,identity,scopes,body,");
      EXPECT_EQ(e["tenant"], "acme");
      EXPECT_EQ(e["user"], "alice");
      EXPECT_EQ(e["identity"], "alice@example.com");
      EXPECT_EQ(e["scopes"], R"(["read","write \"all\""])");
    } else {
      EXPECT_EQ(e["#order"], "tracking_id,received_at,message_type,node,content_type,body,");
    }
  }
}

// Seven at a time: a batch boundary falls inside the pending and claimed ranges.
std::vector<ConsumedMessage> poll_until(Consumer& consumer, std::size_t count) {
  return testing::poll_until(consumer, count, 10s, 7);
}

TEST(RedisConsumer, ReadsEntriesBackResumesOwnPendingAndClaimsAbandonedOnes) {
  RedisServer server(false);
  StoredMessages stored(30);
  Recorder recorder(stored.messages.size());
  auto queue = open_redis_queue(options_for(server));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  queue->close();

  RedisConsumerOptions split{"split", "pod-0", 60s};
  {
    auto consumer = open_redis_consumer(options_for(server), split);
    const std::vector<ConsumedMessage> got = poll_until(*consumer, 20);
    ASSERT_EQ(got.size(), 20u);
    EXPECT_EQ(got[3].body, stored.messages[3].body);
    EXPECT_EQ(got[0].attributes,
              R"({"tracking_id":"00000000000000000000000000000000","received_at":"2026-11-22T13:40:02.123456Z",)"
              R"("message_type":"echo.json","node":"edges-test","tenant":"acme","content_type":"application/json",)"
              R"("user":"alice","identity":"alice@example.com","scopes":["read","write \"all\""]})");
    consumer->commit(11);  // 12..19 stay pending on pod-0, as after a crash
  }
  // The same consumer again: its own unacknowledged entries first, in order, then the new ones.
  auto again = open_redis_consumer(options_for(server), split);
  const std::vector<ConsumedMessage> rest = poll_until(*again, 18);
  ASSERT_EQ(rest.size(), 18u);
  for (std::size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i].body, stored.messages[12 + i].body) << i;
  // Another consumer of the group claims what pod-0 left pending past claim_after.
  std::this_thread::sleep_for(300ms);
  auto other = open_redis_consumer(options_for(server), RedisConsumerOptions{"split", "pod-1", 200ms});
  const std::vector<ConsumedMessage> claimed = poll_until(*other, 18);
  ASSERT_EQ(claimed.size(), 18u);
  EXPECT_EQ(claimed.front().body, stored.messages[12].body);
  other->commit(claimed.back().position);
  auto third = open_redis_consumer(options_for(server), RedisConsumerOptions{"split", "pod-2", 200ms});
  std::this_thread::sleep_for(300ms);
  std::vector<ConsumedMessage> none;
  EXPECT_EQ(third->poll(none, 10, 300ms), 0u);  // everything is acknowledged
}

TEST(RedisConsumer, ACommitThatFailedWhileRedisWasDownIsSentAgain) {
  RedisServer server(true);  // appendfsync always: the stream and the group survive the restart
  StoredMessages stored(5);
  Recorder recorder(stored.messages.size());
  auto queue = open_redis_queue(options_for(server));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  queue->close();
  auto consumer = open_redis_consumer(options_for(server), RedisConsumerOptions{"split", "pod-0", 60s});
  const std::vector<ConsumedMessage> got = poll_until(*consumer, 5);
  ASSERT_EQ(got.size(), 5u);
  server.stop();
  EXPECT_THROW(consumer->commit(got.back().position), std::runtime_error);
  EXPECT_EQ(consumer->committed(), 0u);
  server.start();
  consumer->commit(got.back().position);
  EXPECT_EQ(consumer->committed(), 5u);
  // Nothing is left pending: another consumer claiming everything idle finds nothing.
  auto other = open_redis_consumer(options_for(server), RedisConsumerOptions{"split", "pod-1", 1ms});
  std::vector<ConsumedMessage> none;
  EXPECT_EQ(other->poll(none, 10, 300ms), 0u);
}

TEST(RedisQueue, TrimsTheStreamApproximatelyToMaxlen) {
  RedisServer server(false);
  StoredMessages stored(2000);
  Recorder recorder(stored.messages.size());
  RedisQueueOptions options = options_for(server);
  options.maxlen = 100;
  auto queue = open_redis_queue(options);
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 20s));
  EXPECT_EQ(recorder.count(StoreStatus::kStored), stored.messages.size());
  queue->close();
  const long long length = server.xlen("webhooks");
  EXPECT_GE(length, 100);
  EXPECT_LE(length, 300);  // `~` trims whole stream nodes (100 entries each by default)
}

TEST(RedisQueue, WaitsWithinTheRetryBudgetForRedisToComeBack) {
  RedisServer server(true);
  StoredMessages stored(20);
  Recorder recorder(stored.messages.size());
  RedisQueueOptions options = options_for(server);
  options.retry_budget_ms = 5000;
  auto queue = open_redis_queue(options);
  server.stop();
  store_all(*queue, stored, recorder);
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(recorder.done(), 0u) << "answered while Redis was down and the budget not spent";
  server.start();
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  EXPECT_EQ(recorder.count(StoreStatus::kStored), stored.messages.size());
  queue->close();
  EXPECT_EQ(server.xrange("webhooks").size(), stored.messages.size());
}

TEST(RedisQueue, AnswersUnavailableOnceDownPastTheBudgetThenRecovers) {
  RedisServer server(false);
  StoredMessages stored(10);
  StoredMessages later(10, 1000);
  Recorder recorder(stored.messages.size());
  Recorder after(later.messages.size());
  RedisQueueOptions options = options_for(server);
  options.retry_budget_ms = 300;
  auto queue = open_redis_queue(options);
  server.stop();
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < 5; ++i) queue->store(stored.messages[i], recorder.at(i));
  ASSERT_TRUE(recorder.wait_for(5, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);
  EXPECT_EQ(recorder.count(StoreStatus::kUnavailable), 5u);
  EXPECT_FALSE(queue->ready());
  // Down past the budget: answered inline, without waiting.
  for (std::size_t i = 5; i < 10; ++i) {
    queue->store(stored.messages[i], recorder.at(i));
    EXPECT_EQ(recorder.status(i), static_cast<int>(StoreStatus::kUnavailable));
  }
  server.start();
  ASSERT_TRUE(wait_ready(*queue, 5s));
  store_all(*queue, later, after);
  ASSERT_TRUE(after.wait_for(later.messages.size(), 5s));
  EXPECT_EQ(after.count(StoreStatus::kStored), later.messages.size());
  queue->close();
}

TEST(RedisQueue, NeverAcknowledgesAnEntryLostWhenRedisIsKilledMidLoad) {
  RedisServer server(true);  // appendfsync always: an acknowledged XADD survives SIGKILL
  StoredMessages stored(3000);
  StoredMessages later(50, 100000);
  Recorder recorder(stored.messages.size());
  Recorder after(later.messages.size());
  RedisQueueOptions options = options_for(server);
  options.retry_budget_ms = 500;
  auto queue = open_redis_queue(options);
  std::thread producer([&] {
    for (std::size_t i = 0; i < stored.messages.size(); ++i) {
      queue->store(stored.messages[i], recorder.at(i));
      if (i % 20 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (recorder.count(StoreStatus::kStored) < 300 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  server.stop();
  producer.join();
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  const std::size_t acknowledged = recorder.count(StoreStatus::kStored);
  EXPECT_EQ(acknowledged + recorder.count(StoreStatus::kUnavailable), stored.messages.size());
  EXPECT_LT(acknowledged, stored.messages.size()) << "Redis was killed before the load ended";
  EXPECT_EQ(recorder.twice(), 0u);

  server.start();
  std::set<std::string> present;
  for (Entry& e : server.xrange("webhooks")) present.insert(e["tracking_id"]);
  std::size_t lost = 0;
  for (std::size_t i = 0; i < stored.messages.size(); ++i) {
    if (recorder.status(i) == static_cast<int>(StoreStatus::kStored) &&
        !present.contains(stored.ids[i]))
      ++lost;
  }
  EXPECT_EQ(lost, 0u) << "acknowledged entries missing after restart";

  ASSERT_TRUE(wait_ready(*queue, 5s));
  store_all(*queue, later, after);
  ASSERT_TRUE(after.wait_for(later.messages.size(), 5s));
  EXPECT_EQ(after.count(StoreStatus::kStored), later.messages.size());
  queue->close();
}

TEST(RedisQueue, AnswersUnavailableWhenRedisHangsAndRecoversWhenItResumes) {
  RedisServer server(false);
  StoredMessages stored(10);
  StoredMessages later(10, 1000);
  Recorder recorder(stored.messages.size());
  Recorder after(later.messages.size());
  RedisQueueOptions options = options_for(server);
  options.retry_budget_ms = 300;
  auto queue = open_redis_queue(options);
  server.pause();  // accepts connections, answers nothing
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  EXPECT_EQ(recorder.count(StoreStatus::kUnavailable), stored.messages.size());
  server.resume();
  ASSERT_TRUE(wait_ready(*queue, 10s));
  store_all(*queue, later, after);
  ASSERT_TRUE(after.wait_for(later.messages.size(), 5s));
  EXPECT_EQ(after.count(StoreStatus::kStored), later.messages.size());
  queue->close();
}

TEST(RedisQueue, ReportsFullInlineWhenTheInFlightBudgetIsSpent) {
  RedisServer server(false);
  StoredMessages stored(8);
  Recorder recorder(stored.messages.size());
  RedisQueueOptions options = options_for(server);
  options.max_in_flight = 5;
  options.retry_budget_ms = 1000;
  auto queue = open_redis_queue(options);
  server.stop();
  store_all(*queue, stored, recorder);
  EXPECT_EQ(recorder.count(StoreStatus::kFull), 3u);
  queue->close();  // waits out the retry budget: every callback fires once
  EXPECT_EQ(recorder.done(), stored.messages.size());
  EXPECT_EQ(recorder.count(StoreStatus::kUnavailable), 5u);
  EXPECT_EQ(recorder.twice(), 0u);
}

TEST(RedisUrl, ParsesHostPortDatabaseAndCredentials) {
  std::string reason;
  auto a = parse_redis_url("redis://cache.internal:6380/2", reason);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "cache.internal");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  auto b = parse_redis_url("redis://inlet:s3cret@10.0.0.5", reason);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->user, "inlet");
  EXPECT_EQ(b->password, "s3cret");
  EXPECT_EQ(b->port, 6379);
  auto c = parse_redis_url("redis://[::1]:7000", reason);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 7000);
  auto d = parse_redis_url("unix:///run/redis.sock?db=3", reason);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->unix_path, "/run/redis.sock");
  EXPECT_EQ(d->db, 3);
  for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h/x",
                          "rediss://h", "unix://relative"}) {
    EXPECT_FALSE(parse_redis_url(bad, reason)) << bad;
    EXPECT_FALSE(reason.empty());
  }
}

}  // namespace
}  // namespace inlet::runtime

namespace inlet::runtime {
namespace {

TEST(RedisQueueConfig, RefusesBadSettingsWithTheKeyPath) {
  const auto error = [](const std::string& yaml) {
    return testing::config_error_path(parse_redis_queue, yaml);
  };
  EXPECT_EQ(error("{type: redis}"), "edges[0].queue.stream");
  EXPECT_EQ(error("{type: redis, stream: s, url: 'http://x'}"), "edges[0].queue.url");
  EXPECT_EQ(error("{type: redis, stream: s, maxlen: -1}"), "edges[0].queue.maxlen");
  EXPECT_EQ(error("{type: redis, stream: s, topic: t}"), "edges[0].queue.topic");
  EXPECT_EQ(error("{type: redis, stream: s, url: 'redis://r:6380/1', maxlen: 1000, max_in_flight: 5, "
                "retry_budget_ms: 100}"),
            "");
}

}  // namespace
}  // namespace inlet::runtime
