#include "runtime/config/node_config.h"
#include "runtime/queue/redis_queue.h"

namespace inlet::runtime {

QueueSpec parse_redis_queue(ConfigMap& queue) {
  queue.raw("type");
  RedisQueueOptions options;
  options.url = queue.string("url", options.url);
  std::string reason;
  if (!parse_redis_url(options.url, reason)) queue.fail("url", reason);
  options.stream = queue.required_string("stream");
  options.maxlen = static_cast<std::uint64_t>(queue.integer("maxlen", 0, 0, std::int64_t{1} << 48));
  options.max_in_flight =
      static_cast<std::uint32_t>(queue.integer("max_in_flight", options.max_in_flight, 1, 1000000));
  options.retry_budget_ms = static_cast<std::uint32_t>(
      queue.integer("retry_budget_ms", options.retry_budget_ms, 0, 3600000));
  queue.finish();
  QueueSpec spec{"redis", [options] { return open_redis_queue(options); }, {}, {}, nullptr};
  spec.open_consumer = [options](const std::string& group) {
    RedisConsumerOptions consumer;
    consumer.group = group;
    return open_redis_consumer(options, consumer);
  };
  return spec;
}

}  // namespace inlet::runtime
