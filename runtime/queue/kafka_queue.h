// Kafka edge: librdkafka idempotent producer, acks=all; the store callback fires on the delivery
// report. Attributes travel as record headers; the record key is Message::key (the pipeline reads
// the edge's `key:` path from the parsed body), or the tracking id when that is empty.
//
// Owns one rd_kafka_t and a poller thread that serves delivery reports. store() is thread-safe and
// never blocks: the payload is not copied (the Message outlives its callback), the key and headers
// are. The in-flight budget is an atomic counter; a full budget or librdkafka's full queue answers
// kFull inline. A permanent error or a message timeout (delivery_timeout_ms) answers kUnavailable.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/queue/consumer.h"
#include "runtime/queue/queue.h"

namespace inlet::runtime {

struct KafkaQueueOptions {
  std::string brokers;  // bootstrap.servers
  std::string topic;
  std::uint32_t max_in_flight = 10000;
  std::uint32_t delivery_timeout_ms = 30000;
  // Passed to librdkafka after the defaults, so they may override them, except
  // enable.idempotence, which stays true.
  std::vector<std::pair<std::string, std::string>> properties;
};

// Throws std::runtime_error naming the property on a bad librdkafka setting (start-up only). The
// broker connection is made in the background: opening succeeds while brokers are down.
std::unique_ptr<Queue> open_kafka_queue(const KafkaQueueOptions& options);

// A consumer of the topic in the consumer group `group` (a node's name): auto-commit off, so an
// offset is committed only by commit(), after the node has stored its outputs; a new group starts
// at the earliest offset. Record headers become the attributes. Same property rules as above.
std::unique_ptr<Consumer> open_kafka_consumer(const KafkaQueueOptions& options,
                                              const std::string& group);

}  // namespace inlet::runtime
