#include "runtime/queue/kafka_queue.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <map>
#include <thread>

#include "runtime/config/node_config.h"
#include "tests/runtime/edge_test_support.h"

namespace inlet::runtime {
namespace {

using namespace std::chrono_literals;
using testing::Recorder;
using testing::StoredMessages;

constexpr int kBrokers = 3;

struct Record {
  std::string key;
  std::string body;
  std::map<std::string, std::string> headers;
};

// A librdkafka mock cluster (in-process brokers on 127.0.0.1), owned by a bare handle.
class MockCluster {
 public:
  MockCluster() {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cluster_ = rd_kafka_mock_cluster_new(handle_, kBrokers);
    rd_kafka_mock_topic_create(cluster_, "webhooks", 1, kBrokers);
  }
  ~MockCluster() {
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(handle_);
  }
  std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
  void set_all(bool up) {
    for (int id = 1; id <= kBrokers; ++id) {
      if (up) {
        rd_kafka_mock_broker_set_up(cluster_, id);
      } else {
        rd_kafka_mock_broker_set_down(cluster_, id);
      }
    }
  }

  // Reads the topic from the beginning until `expected` records arrived or `timeout` passed.
  std::vector<Record> consume(std::size_t expected, std::chrono::milliseconds timeout) {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps().c_str(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "edges-test", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    rd_kafka_topic_partition_list_t* partitions = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(partitions, "webhooks", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(consumer, partitions);
    rd_kafka_topic_partition_list_destroy(partitions);
    std::vector<Record> records;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (records.size() < expected && std::chrono::steady_clock::now() < deadline) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 200);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Record r;
        r.key.assign(static_cast<const char*>(m->key), m->key_len);
        r.body.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* headers = nullptr;
        if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
          const char* name;
          const void* value;
          size_t size;
          for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) == 0; ++i) {
            r.headers[name].assign(static_cast<const char*>(value), size);
          }
        }
        records.push_back(std::move(r));
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return records;
  }

 private:
  rd_kafka_t* handle_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

KafkaQueueOptions options_for(const MockCluster& cluster) {
  KafkaQueueOptions options;
  options.brokers = cluster.bootstraps();
  options.topic = "webhooks";
  options.delivery_timeout_ms = 10000;
  return options;
}

TEST(KafkaQueue, DeliversBodiesAndAttributeHeadersByteForByte) {
  MockCluster cluster;
  StoredMessages stored(60);
  Recorder recorder(stored.messages.size());
  auto queue = open_kafka_queue(options_for(cluster));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 20s));
  EXPECT_EQ(recorder.count(StoreStatus::kStored), stored.messages.size());
  queue->close();

  std::vector<Record> records = cluster.consume(stored.messages.size(), 20s);
  ASSERT_EQ(records.size(), stored.messages.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const Message& m = stored.messages[i];  // one partition: order is kept
    EXPECT_EQ(r.body, m.body) << i;
    EXPECT_EQ(r.key, m.tracking_id);
    EXPECT_EQ(r.headers.at("tracking_id"), m.tracking_id);
    EXPECT_EQ(r.headers.at("received_at"), m.received_at);
    EXPECT_EQ(r.headers.at("message_type"), m.message_type);
    EXPECT_EQ(r.headers.at("node"), m.node);
    EXPECT_EQ(r.headers.at("content_type"), m.content_type);
    if (i % 3 == 0) {
      EXPECT_EQ(r.headers.at("tenant"), "acme");
      EXPECT_EQ(r.headers.at("user"), "alice");
      EXPECT_EQ(r.headers.at("identity"), "alice@example.com");
      EXPECT_EQ(r.headers.at("scopes"), R"(["read","write \"all\""])");
    } else {
      EXPECT_EQ(r.headers.count("tenant"), 0u);
      EXPECT_EQ(r.headers.count("user"), 0u);
      EXPECT_EQ(r.headers.count("scopes"), 0u);
    }
  }
}

// A group join takes a moment.
std::vector<ConsumedMessage> poll_until(Consumer& consumer, std::size_t count) {
  return testing::poll_until(consumer, count, 30s);
}

TEST(KafkaConsumer, ReadsTheAttributesBackAndResumesAfterTheLastCommit) {
  MockCluster cluster;
  StoredMessages stored(20);
  Recorder recorder(stored.messages.size());
  auto queue = open_kafka_queue(options_for(cluster));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 20s));
  queue->close();

  KafkaQueueOptions options = options_for(cluster);
  // A member that left is replaced at once, not after the default 45 s session timeout.
  options.properties = {{"log_level", "0"}, {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}};
  {
    auto consumer = open_kafka_consumer(options, "split");
    const std::vector<ConsumedMessage> got = poll_until(*consumer, 20);
    ASSERT_EQ(got.size(), 20u);
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].body, stored.messages[i].body) << i;
      EXPECT_EQ(got[i].position, i);
    }
    EXPECT_EQ(got[0].attributes,
              R"({"tracking_id":"00000000000000000000000000000000","received_at":"2026-11-22T13:40:02.123456Z",)"
              R"("message_type":"echo.json","node":"edges-test","tenant":"acme","content_type":"application/json",)"
              R"("user":"alice","identity":"alice@example.com","scopes":["read","write \"all\""]})");
    EXPECT_EQ(got[1].attributes.find("\"user\""), std::string::npos);
    consumer->commit(11);
    EXPECT_EQ(consumer->committed(), 12u);
  }
  auto again = open_kafka_consumer(options, "split");
  const std::vector<ConsumedMessage> rest = poll_until(*again, 8);
  ASSERT_EQ(rest.size(), 8u);
  EXPECT_EQ(rest.front().body, stored.messages[12].body);
  auto other = open_kafka_consumer(options, "audit");
  const std::vector<ConsumedMessage> all = poll_until(*other, 20);
  EXPECT_EQ(all.size(), 20u);
}

TEST(KafkaQueue, KeysRecordsByTheMessageKeyOrFallsBackToTheTrackingId) {
  MockCluster cluster;
  StoredMessages stored(40);
  // What the pipeline sets from the edge's key path; every third message has none.
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < stored.messages.size(); ++i) {
    keys.push_back(i % 3 == 0 ? "" : "key-" + std::to_string(i % 5));
  }
  for (std::size_t i = 0; i < stored.messages.size(); ++i) stored.messages[i].key = keys[i];
  Recorder recorder(stored.messages.size());
  auto queue = open_kafka_queue(options_for(cluster));
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 20s));
  queue->close();

  std::vector<Record> records = cluster.consume(stored.messages.size(), 20s);
  ASSERT_EQ(records.size(), stored.messages.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].key, keys[i].empty() ? stored.ids[i] : keys[i]) << i;
  }
}

TEST(KafkaQueue, HoldsMessagesWhileBrokersAreDownThenDeliversEachOnce) {
  MockCluster cluster;
  StoredMessages stored(30);
  Recorder recorder(stored.messages.size());
  auto queue = open_kafka_queue(options_for(cluster));
  cluster.set_all(false);
  store_all(*queue, stored, recorder);
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(recorder.count(StoreStatus::kStored), 0u) << "stored while every broker was down";
  cluster.set_all(true);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 20s));
  EXPECT_EQ(recorder.count(StoreStatus::kStored), stored.messages.size());
  queue->close();

  std::vector<Record> records = cluster.consume(stored.messages.size() + 1, 5s);
  ASSERT_EQ(records.size(), stored.messages.size()) << "lost or duplicated records";
  std::map<std::string, int> seen;
  for (const Record& r : records) ++seen[r.headers.at("tracking_id")];
  for (const std::string& id : stored.ids) EXPECT_EQ(seen[id], 1) << id;
  EXPECT_EQ(recorder.twice(), 0u);
}

TEST(KafkaQueue, AnswersUnavailableAfterTheDeliveryTimeoutAndRecovers) {
  MockCluster cluster;
  StoredMessages stored(20);
  Recorder recorder(stored.messages.size());
  KafkaQueueOptions options = options_for(cluster);
  options.delivery_timeout_ms = 1500;
  // The client's reconnect backoff grows to 10 s by default, longer than the delivery timeout:
  // cap it so "recovers" is measured in rounds, not in backoff luck.
  options.properties = {{"reconnect.backoff.max.ms", "200"}};
  auto queue = open_kafka_queue(options);
  cluster.set_all(false);
  store_all(*queue, stored, recorder);
  ASSERT_TRUE(recorder.wait_for(stored.messages.size(), 10s));
  EXPECT_EQ(recorder.count(StoreStatus::kUnavailable), stored.messages.size());

  // A client retries an unavailable answer; so does this loop, a batch per delivery timeout,
  // until a batch is stored or 30 s passed.
  cluster.set_all(true);
  std::vector<std::unique_ptr<StoredMessages>> batches;
  std::vector<std::unique_ptr<Recorder>> answers;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  std::size_t stored_after = 0;
  while (stored_after == 0 && std::chrono::steady_clock::now() < deadline) {
    batches.push_back(std::make_unique<StoredMessages>(10, 1000 + 100 * batches.size()));
    answers.push_back(std::make_unique<Recorder>(10));
    for (std::size_t i = 0; i < 10; ++i)
      queue->store(batches.back()->messages[i], answers.back()->at(i));
    ASSERT_TRUE(answers.back()->wait_for(10, 10s));
    stored_after = answers.back()->count(StoreStatus::kStored);
  }
  queue->close();
  ASSERT_GT(stored_after, 0u) << "nothing stored within 30 s of the brokers coming back";

  // Every kStored record is in the topic, once; the timed-out ones may not be.
  std::vector<Record> records =
      cluster.consume(stored.messages.size() + 10 * batches.size(), 5s);
  std::map<std::string, int> seen;
  for (const Record& r : records) ++seen[r.headers.at("tracking_id")];
  for (std::size_t b = 0; b < batches.size(); ++b) {
    for (std::size_t i = 0; i < 10; ++i) {
      if (answers[b]->status(i) == static_cast<int>(StoreStatus::kStored)) {
        EXPECT_EQ(seen[batches[b]->ids[i]], 1) << b << "/" << i;
      }
    }
  }
}

TEST(KafkaQueue, ReportsFullInlineWhenTheInFlightBudgetIsSpent) {
  MockCluster cluster;
  StoredMessages stored(8);
  Recorder recorder(stored.messages.size());
  KafkaQueueOptions options = options_for(cluster);
  options.max_in_flight = 5;
  options.delivery_timeout_ms = 1000;
  auto queue = open_kafka_queue(options);
  cluster.set_all(false);
  store_all(*queue, stored, recorder);
  EXPECT_EQ(recorder.count(StoreStatus::kFull), 3u);
  for (std::size_t i = 5; i < 8; ++i)
    EXPECT_EQ(recorder.status(i), static_cast<int>(StoreStatus::kFull));
  queue->close();  // every callback fires before close() returns
  EXPECT_EQ(recorder.done(), stored.messages.size());
  EXPECT_EQ(recorder.count(StoreStatus::kStored), 0u);
  EXPECT_EQ(recorder.twice(), 0u);
}

TEST(KafkaQueue, RejectsAnUnknownLibrdkafkaProperty) {
  KafkaQueueOptions options;
  options.brokers = "127.0.0.1:1";
  options.topic = "webhooks";
  options.properties = {{"no.such.property", "1"}};
  EXPECT_THROW(open_kafka_queue(options), std::runtime_error);
}

}  // namespace
}  // namespace inlet::runtime

namespace inlet::runtime {
namespace {

TEST(KafkaQueueConfig, RefusesBadSettingsWithTheKeyPath) {
  const auto error = [](const std::string& yaml) {
    return testing::config_error_path(parse_kafka_queue, yaml);
  };
  EXPECT_EQ(error("{type: kafka, topic: t}"), "edges[0].queue.brokers");
  EXPECT_EQ(error("{type: kafka, brokers: b:9092}"), "edges[0].queue.topic");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, bogus: 1}"),
            "edges[0].queue.bogus");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, key: 'a..b'}"),
            "edges[0].queue.key");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, max_in_flight: 0}"),
            "edges[0].queue.max_in_flight");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, properties: {no.such: 1}}"),
            "edges[0].queue.properties.no.such");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, properties: {enable.idempotence: false}}"),
            "edges[0].queue.properties.enable.idempotence");
  EXPECT_EQ(error("{type: kafka, brokers: b, topic: t, key: data.id, max_in_flight: 10, "
                "delivery_timeout_ms: 5000, properties: {linger.ms: 1, compression.type: lz4}}"),
            "");
}

}  // namespace
}  // namespace inlet::runtime
