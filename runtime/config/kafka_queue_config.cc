#include <librdkafka/rdkafka.h>

#include "runtime/config/filter_config.h"
#include "runtime/config/node_config.h"
#include "runtime/queue/kafka_queue.h"

namespace inlet::runtime {

QueueSpec parse_kafka_queue(ConfigMap& queue) {
  queue.raw("type");
  KafkaQueueOptions options;
  options.brokers = queue.required_string("brokers");
  options.topic = queue.required_string("topic");
  std::shared_ptr<const KeyPath> key;
  if (queue.has("key")) {
    key = std::make_shared<const KeyPath>(key_path_at(queue.string("key", ""), queue.path_of("key")));
  }
  options.max_in_flight =
      static_cast<std::uint32_t>(queue.integer("max_in_flight", options.max_in_flight, 1, 1000000));
  options.delivery_timeout_ms = static_cast<std::uint32_t>(
      queue.integer("delivery_timeout_ms", options.delivery_timeout_ms, 1, 900000));
  options.properties = queue.string_map("properties");
  // Check property names and values now, without connecting: a typo is a config error, not a crash.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [name, value] : options.properties) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      queue.map("properties").fail(name, errstr);
    }
    if (name == "enable.idempotence" && value != "true") {
      rd_kafka_conf_destroy(conf);
      queue.map("properties")
          .fail(name, "must stay true: the edge relies on the idempotent producer");
    }
  }
  rd_kafka_conf_destroy(conf);
  queue.finish();
  QueueSpec spec{"kafka", [options] { return open_kafka_queue(options); }, {}, {}, key};
  spec.open_consumer = [options](const std::string& group) { return open_kafka_consumer(options, group); };
  return spec;
}

}  // namespace inlet::runtime
