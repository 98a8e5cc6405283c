// The interface of a downstream queue ("edge" storage): the embedded log, Kafka, Redis Streams.
#pragma once

#include <cstdint>
#include <string_view>

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
};

}  // namespace inlet::runtime
