// NATS JetStream edge (CONTRACT.md section 8) on libnats: asynchronous JetStream publishes, the
// store callback fired on the PubAck, which means the stream's quorum has the message.
//
// store() pushes onto a lock-free list and never blocks. One publisher thread owns the JetStream
// context: it turns each message into a natsMsg (the body, the attributes as headers,
// Nats-Msg-Id = the dedup key, else the tracking id) and publishes it asynchronously; libnats'
// thread reads the PubAcks. A failed try (no PubAck within ack_timeout_ms, no stream leader, the
// connection down) is published again by the publisher after a backoff, with the same
// Nats-Msg-Id, so the stream stores it once, until retry_budget_ms after store(); then the
// message is kUnavailable (503 + Retry-After). The connection reconnects on its own for ever, so
// the edge recovers by itself when a quorum is back.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/queue/consumer.h"
#include "runtime/queue/queue.h"

namespace inlet::runtime {

struct NatsConnectionOptions {
  std::vector<std::string> servers;  // nats://host:port, tls://host:port
  std::string credentials_file;      // a .creds file (user JWT and NKey seed)
  std::string user;                  // or a user and password
  std::string password;
  std::string token;
  bool tls = false;      // also implied by a tls:// server
  std::string ca_file;   // the CA that signed the servers' certificates
  std::string cert_file;  // a client certificate (mutual TLS), with key_file
  std::string key_file;
  std::string name = "inlet";  // the connection's name, in the servers' monitoring
};

struct NatsQueueOptions {
  NatsConnectionOptions connection;
  std::string stream;
  std::string subject;
  // The stream, when the edge creates it (`create: true` and it does not exist yet).
  bool create = true;
  int replicas = 1;
  std::chrono::milliseconds duplicate_window{120000};  // how long Nats-Msg-Id dedups a retry
  std::chrono::milliseconds max_age{0};                 // 0: messages are kept until removed
  std::uint32_t max_in_flight = 10000;
  // A stream leader lost is replaced within about 5 s (the servers' election timeout); 8 s of
  // budget rides that out and stays under the 10 s most senders wait for an answer.
  std::uint32_t retry_budget_ms = 8000;  // how long a message may wait for a quorum
  std::uint32_t ack_timeout_ms = 1000;   // how long one try waits for its PubAck (retries are idempotent)
  // Consuming: a message not acknowledged this long after delivery is delivered again.
  std::chrono::milliseconds ack_wait{30000};
};

// Connects in the background: opening succeeds while every server is down. The stream is looked
// up (and created when `create`) by the publisher thread, again each second until it is there.
std::unique_ptr<Queue> open_nats_queue(const NatsQueueOptions& options);

// A durable pull consumer named `durable` (a node's name, with characters NATS does not allow in
// a name replaced by '_') on the stream, filtered to the subject, explicit acks: commit()
// acknowledges every message handed out up to the position, the last one synchronously. A
// message not acknowledged within ack_wait is delivered again; those are counted (redelivered()).
std::unique_ptr<Consumer> open_nats_consumer(const NatsQueueOptions& options,
                                             const std::string& durable);

}  // namespace inlet::runtime
