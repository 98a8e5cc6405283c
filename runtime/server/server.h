// The ingest server: opens the edges' queues, builds the pipeline, runs one Worker per I/O thread
// with its own acceptor (SO_REUSEPORT), the admin listener, and the signal handling (drain on
// SIGTERM/SIGINT). Owns everything it starts; run() returns when the drain is complete.
#pragma once

#include <memory>

#include "runtime/config/node_config.h"

namespace inlet::runtime {

class Server {
 public:
  // Opens queues and starts the authenticator; throws std::runtime_error with a precise message.
  explicit Server(std::shared_ptr<const NodeConfig> config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves until SIGTERM or SIGINT, drains, flushes the queues; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::runtime
