// Throughput of the Redis and Kafka edges (store() to callback, batches of 1000 payload messages),
// each beside the raw library doing the same work: hiredis pipelined XADD on one connection, and
// librdkafka produce + flush. Redis is a real redis-server child (no persistence); Kafka is
// librdkafka's in-process mock cluster.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/queue/kafka_queue.h"
#include "runtime/queue/redis_queue.h"
#include "redis_server.h"
#include "test_payloads.h"

namespace {

using inlet::runtime::Message;
using inlet::runtime::StoreCallback;
using inlet::runtime::StoreStatus;

constexpr std::size_t kBatch = 1000;

struct Corpus {
  Corpus() {
    const std::vector<inlet::testing::Payload>& payloads = inlet::testing::payloads();
    for (std::size_t i = 0; i < kBatch; ++i) {
      bodies.push_back(payloads[i % payloads.size()].body);
      char id[33];
      std::snprintf(id, sizeof id, "%032zx", i);
      ids.emplace_back(id);
      bytes += bodies.back().size();
    }
    messages.resize(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      Message& m = messages[i];
      m.body = bodies[i];
      m.tracking_id = ids[i];
      m.message_type = "echo.json";
      m.received_at = "2026-11-22T13:40:02.123456Z";
      m.node = "bench";
      m.content_type = "application/json";
    }
  }
  std::vector<std::string> bodies, ids;
  std::vector<Message> messages;
  std::size_t bytes = 0;
};

const Corpus& corpus() {
  static const Corpus instance;
  return instance;
}

// Counts callbacks; the benchmark thread waits for the whole batch.
struct Counter final : StoreCallback {
  void on_stored(StoreStatus status) noexcept override {
    if (status != StoreStatus::kStored) failed.fetch_add(1, std::memory_order_relaxed);
    done.fetch_add(1, std::memory_order_release);
    done.notify_one();
  }
  void wait(std::uint64_t target) {
    for (std::uint64_t seen = done.load(std::memory_order_acquire); seen < target;
         seen = done.load(std::memory_order_acquire)) {
      done.wait(seen, std::memory_order_acquire);
    }
  }
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
};

void run_batches(benchmark::State& state, inlet::runtime::Queue& queue) {
  const Corpus& c = corpus();
  Counter counter;
  std::uint64_t target = 0;
  for (auto _ : state) {
    for (const Message& m : c.messages) queue.store(m, counter);
    target += kBatch;
    counter.wait(target);
  }
  if (counter.failed.load() != 0) state.SkipWithError("some messages were not stored");
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes));
}

inlet::runtime::testing::RedisServer& redis() {
  static inlet::runtime::testing::RedisServer instance(/*durable=*/false);
  return instance;
}

void BM_RedisEdge(benchmark::State& state) {
  inlet::runtime::RedisQueueOptions options;
  options.url = redis().url();
  options.stream = "bench-edge";
  options.maxlen = 10000;
  auto queue = inlet::runtime::open_redis_queue(options);
  run_batches(state, *queue);
  queue->close();
}
BENCHMARK(BM_RedisEdge)->UseRealTime()->MinTime(2);

// The same XADDs pipelined by hand on one connection: what the edge could reach at best.
void BM_RedisRawPipelinedXadd(benchmark::State& state) {
  const Corpus& c = corpus();
  redisContext* ctx = redisConnect("127.0.0.1", redis().port());
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; i += 256) {
      const std::size_t end = std::min(kBatch, i + 256);
      for (std::size_t j = i; j < end; ++j) {
        const Message& m = c.messages[j];
        const char* argv[] = {"XADD",         "bench-raw",
                              "MAXLEN",       "~",
                              "10000",        "*",
                              "tracking_id",  m.tracking_id.data(),
                              "received_at",  m.received_at.data(),
                              "message_type", m.message_type.data(),
                              "node",         m.node.data(),
                              "content_type", m.content_type.data(),
                              "body",         m.body.data()};
        const std::size_t lens[] = {4,  9,
                                    6,  1,
                                    5,  1,
                                    11, m.tracking_id.size(),
                                    11, m.received_at.size(),
                                    12, m.message_type.size(),
                                    4,  m.node.size(),
                                    12, m.content_type.size(),
                                    4,  m.body.size()};
        redisAppendCommandArgv(ctx, 18, argv, lens);
      }
      for (std::size_t j = i; j < end; ++j) {
        void* reply = nullptr;
        redisGetReply(ctx, &reply);
        freeReplyObject(reply);
      }
    }
  }
  redisFree(ctx);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes));
}
BENCHMARK(BM_RedisRawPipelinedXadd)->UseRealTime()->MinTime(2);

struct KafkaMock {
  KafkaMock() {
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    cluster = rd_kafka_mock_cluster_new(handle, 3);
    rd_kafka_mock_topic_create(cluster, "bench", 3, 3);
    bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  }
  rd_kafka_t* handle = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::string bootstraps;
};

KafkaMock& kafka() {
  static KafkaMock
      instance;  // leaked on purpose: destroying a mock cluster at exit races its threads
  return instance;
}

void BM_KafkaEdge(benchmark::State& state) {
  inlet::runtime::KafkaQueueOptions options;
  options.brokers = kafka().bootstraps;
  options.topic = "bench";
  auto queue = inlet::runtime::open_kafka_queue(options);
  run_batches(state, *queue);
  queue->close();
}
BENCHMARK(BM_KafkaEdge)->UseRealTime()->MinTime(2);

// Raw librdkafka with the same settings: produce the batch (no copy, headers), then wait for all
// delivery reports via flush.
void BM_KafkaRawProduce(benchmark::State& state) {
  const Corpus& c = corpus();
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", kafka().bootstraps.c_str(), errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr);
  rd_kafka_conf_set(conf, "linger.ms", "5", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  for (auto _ : state) {
    for (const Message& m : c.messages) {
      rd_kafka_producev(
          rk, RD_KAFKA_V_TOPIC("bench"), RD_KAFKA_V_MSGFLAGS(0),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.body.data()), m.body.size()),
          RD_KAFKA_V_KEY(m.tracking_id.data(), m.tracking_id.size()),
          RD_KAFKA_V_HEADER("tracking_id", m.tracking_id.data(), m.tracking_id.size()),
          RD_KAFKA_V_HEADER("received_at", m.received_at.data(), m.received_at.size()),
          RD_KAFKA_V_HEADER("message_type", m.message_type.data(), m.message_type.size()),
          RD_KAFKA_V_HEADER("node", m.node.data(), m.node.size()),
          RD_KAFKA_V_HEADER("content_type", m.content_type.data(), m.content_type.size()),
          RD_KAFKA_V_END);
    }
    rd_kafka_flush(rk, 30000);
  }
  rd_kafka_destroy(rk);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes));
}
BENCHMARK(BM_KafkaRawProduce)->UseRealTime()->MinTime(2);

}  // namespace

BENCHMARK_MAIN();
