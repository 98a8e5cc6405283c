// Redis Streams edge: pipelined XADD with MAXLEN ~ over hiredis; the store callback fires when
// Redis has answered. The attributes and the body become fields of the entry.
//
// One writer thread owns a synchronous hiredis connection. store() pushes onto a lock-free MPSC
// list and never blocks; the writer takes everything pending, pipelines one XADD per message and
// reads the replies: an ID reply is kStored. When Redis is unreachable the writer reconnects with
// backoff and messages wait up to retry_budget_ms, then get kUnavailable; once down past the
// budget, store() answers kUnavailable inline until the connection is back. A message sent without
// a reply (the connection died mid-batch) is kUnavailable: it may or may not be in the stream, and
// clients retry; consumers dedupe on tracking_id.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "runtime/queue/consumer.h"
#include "runtime/queue/queue.h"

struct redisContext;  // hiredis

namespace inlet::runtime {

struct RedisQueueOptions {
  std::string url = "redis://127.0.0.1:6379";
  std::string stream;
  std::uint64_t maxlen = 0;  // 0 = no trimming
  std::uint32_t max_in_flight = 10000;
  std::uint32_t retry_budget_ms = 5000;  // how long a message may wait for Redis to come back
};

// redis://[[user]:password@]host[:port][/db] or unix:///path/to/socket[?db=N].
struct RedisAddress {
  std::string host;  // empty for a unix socket
  std::uint16_t port = 6379;
  std::string unix_path;
  std::string user;
  std::string password;
  int db = 0;
};

// Nullopt with `reason` set on a malformed URL.
std::optional<RedisAddress> parse_redis_url(const std::string& url, std::string& reason);

struct RedisConsumerOptions {
  std::string group;     // a consumer node's name
  std::string consumer;  // this process within the group; empty: the host name (a pod's name)
  // Entries another consumer of the group read and did not acknowledge for this long are claimed.
  std::chrono::milliseconds claim_after{30000};
};
// XREADGROUP/XACK in `group` (created at the stream's start when missing): a restart first reads
// this consumer's own unacknowledged entries again, then new ones; entries pending too long on
// another consumer are claimed (XAUTOCLAIM). commit() acknowledges. Connects lazily and again
// after a failure; poll() returns nothing while Redis is down.
std::unique_ptr<Consumer> open_redis_consumer(const RedisQueueOptions& queue,
                                              const RedisConsumerOptions& options);

// A connected, authenticated hiredis context on the address's db that has answered a PING (a
// stopped server still accepts TCP connections), with `io_timeout` on reads and writes; nullptr
// with `error` set otherwise. The caller owns it (redisFree). The queue and its consumer use it.
::redisContext* connect_redis(const RedisAddress& address, std::chrono::milliseconds io_timeout,
                             std::string& error);

// Connects lazily in the writer thread: opening succeeds while Redis is down.
std::unique_ptr<Queue> open_redis_queue(const RedisQueueOptions& options);

}  // namespace inlet::runtime
