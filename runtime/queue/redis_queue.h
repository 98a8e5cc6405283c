// Redis Streams edge: pipelined XADD with MAXLEN ~ over hiredis; the store callback fires when
// Redis has answered. The attributes and the body become fields of the entry.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "runtime/queue/queue.h"

namespace inlet::runtime {

struct RedisQueueOptions {
  std::string url = "redis://127.0.0.1:6379";
  std::string stream;
  std::uint64_t maxlen = 0;  // 0 = no trimming
  std::uint32_t max_in_flight = 10000;
  std::uint32_t retry_budget_ms = 5000;  // how long a message may wait for Redis to come back
};

std::unique_ptr<Queue> open_redis_queue(const RedisQueueOptions& options);

}  // namespace inlet::runtime
