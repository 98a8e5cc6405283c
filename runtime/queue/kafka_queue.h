// Kafka edge: librdkafka idempotent producer, acks=all; the store callback fires on the delivery
// report. Attributes travel as record headers; the key is a dotted JSON path or the tracking id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "runtime/queue/queue.h"

namespace inlet::runtime {

struct KafkaQueueOptions {
  std::string brokers;  // bootstrap.servers
  std::string topic;
  std::string key;      // dotted JSON path; empty = the tracking id
  std::uint32_t max_in_flight = 10000;
  std::uint32_t delivery_timeout_ms = 30000;
  std::vector<std::pair<std::string, std::string>> properties;  // passed to librdkafka as is
};

std::unique_ptr<Queue> open_kafka_queue(const KafkaQueueOptions& options);

}  // namespace inlet::runtime
