// The interface of a downstream queue ("edge" storage): the embedded log, Kafka, Redis Streams.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "runtime/message.h"

namespace inlet::runtime {

enum class StoreStatus : std::uint8_t {
  kStored,       // durable as the queue's ack mode promises
  kFull,         // in-flight budget exhausted: answer 503 + Retry-After
  kUnavailable,  // the queue is down past its retry budget: 503 + Retry-After
};

class StoreCallback {
 public:
  // Called exactly once per store(), from any thread (often the queue's own). Must not block.
  virtual void on_stored(StoreStatus status) noexcept = 0;

 protected:
  ~StoreCallback() = default;
};

// One counter a queue reports on /metrics. The series are the queue type's own; the server renders
// every queue's the same way, labelled by edge, and knows none of them.
struct QueueCounter {
  std::string_view name;  // "inlet_log_queue_records_total"
  std::string_view help;
  std::uint64_t value;
};

// Thread-safe: store() is called concurrently from every I/O thread. It must not block on I/O:
// work is handed to the queue's own thread(s) and `callback` is called when the message is safe.
class Queue {
 public:
  virtual ~Queue() = default;
  // `message` (and what it points to) and `callback` stay valid until the callback is called.
  // A full in-flight budget may be reported inline (callback called before store() returns).
  virtual void store(const Message& message, StoreCallback& callback) = 0;
  // store() for one message of a burst (an I/O thread's turn): the queue may hold the work back
  // until flush(), so that one wake-up or one write covers the whole burst.
  virtual void store_deferred(const Message& message, StoreCallback& callback) { store(message, callback); }
  // Starts the work of every message store_deferred() has queued. Never blocks on another thread.
  virtual void flush() noexcept {}
  // Waits until every stored message has been called back, then stops the queue's threads.
  // store() must not be called after close().
  virtual void close() = 0;
  // For /readyz: false while the queue cannot accept messages.
  virtual bool ready() const noexcept { return true; }
  virtual std::string_view type() const noexcept = 0;
  // Appends this queue's counters, in the same order every time. Thread-safe.
  virtual void counters(std::vector<QueueCounter>& out) const {}
};

// One counter of `queue` by name; 0 when the queue does not report it (tests, benchmarks).
inline std::uint64_t counter_value(const Queue& queue, std::string_view name) {
  std::vector<QueueCounter> counters;
  queue.counters(counters);
  for (const QueueCounter& c : counters) {
    if (c.name == name) return c.value;
  }
  return 0;
}

}  // namespace inlet::runtime
