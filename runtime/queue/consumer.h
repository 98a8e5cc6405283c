// The interface a consumer node reads an edge through, beside Queue (which writes one): the log
// today (log_consumer.h); Kafka, Redis and NATS consumers implement the same. Pull-based, for one
// consumer thread: poll() hands out messages in order, commit() makes a position durable, so that a
// restart resumes after the last message committed. At least once: what was polled and not yet
// committed when the process died is handed out again.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace inlet::runtime {

struct ConsumedMessage {
  std::uint64_t position = 0;  // increasing; commit(position) covers this message and those before
  std::string attributes;      // compact JSON object, the schema of runtime/message.h
  std::string body;
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Appends up to `max` messages after the last one handed out, waiting up to `timeout` when none
  // is there yet (without busy polling). Returns how many it appended: 0 on timeout or after
  // stop(). Throws std::runtime_error when the input cannot be read (a corrupt record).
  virtual std::size_t poll(std::vector<ConsumedMessage>& out, std::size_t max,
                           std::chrono::milliseconds timeout) = 0;
  // Every message up to `position` is done: durable when this returns. Positions only go forward.
  virtual void commit(std::uint64_t position) = 0;
  // The next position a restart would resume at (one past the last committed).
  virtual std::uint64_t committed() const noexcept = 0;
  // Messages after the committed position (inlet_consumer_lag); nullopt when the queue cannot
  // tell. Same thread as poll(); may read the input, so call it now and then, not per message.
  virtual std::optional<std::uint64_t> lag() { return std::nullopt; }
  // Why the input cannot be read now (its server is down), for /readyz; empty when it can. Same
  // thread as poll(). A consumer that reconnects by itself says so here rather than throwing.
  virtual std::string unreachable() const { return {}; }
  // Messages the input handed out again because an earlier delivery was not acknowledged in time
  // (NATS' ack_wait); 0 where the queue cannot tell. Same thread as poll().
  virtual std::uint64_t redelivered() const noexcept { return 0; }
  // Wakes a poll() in progress from any thread; later polls return 0 at once.
  virtual void stop() noexcept = 0;
};

}  // namespace inlet::runtime
