// What the NATS edge's producer and consumer share: one connection with JetStream, made from
// NatsConnectionOptions (servers, credentials, TLS), reconnecting for ever; the stream's lookup or
// creation; libnats' error text.
#pragma once

#include <nats/nats.h>

#include <string>

#include "codecs/unique_handle.h"
#include "runtime/queue/nats_queue.h"

namespace inlet::runtime {

// libnats' status text, with its last error's detail when there is one.
std::string nats_error(natsStatus status);

class NatsConnection {
 public:
  // Returns at once: with every server down the connection keeps trying in the background
  // (libnats' retry on failed connect) and publishes wait in its reconnect buffer. Throws
  // std::runtime_error on options libnats refuses (a credentials or certificate file it cannot
  // read), naming the option.
  NatsConnection(const NatsConnectionOptions& options, const jsOptions& jetstream);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  natsConnection* connection() const noexcept { return connection_; }
  jsCtx* jetstream() const noexcept { return jetstream_; }
  bool connected() const noexcept;

 private:
  natsConnection* connection_ = nullptr;
  jsCtx* jetstream_ = nullptr;
};

// Looks the stream up; when it is missing and options.create, creates it (file storage,
// options.replicas, the duplicate window, the subject). True when it is there; otherwise false
// with `error` set (unreachable, no JetStream, missing and not created). A stream that exists with
// other settings is used as it is, with a warning naming what differs.
bool ensure_nats_stream(jsCtx* jetstream, const NatsQueueOptions& options, std::string& error);

}  // namespace inlet::runtime
