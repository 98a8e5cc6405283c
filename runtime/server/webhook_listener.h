// The webhook listener: one acceptor per worker on one port (SO_REUSEPORT), each accepting on its
// worker's own thread, so a connection is served where it was accepted. Past max_connections a
// connection gets the 503 and is closed before any request is read.
#pragma once

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/server/worker.h"

namespace inlet::runtime {

class WebhookListener {
 public:
  // Binds and listens; throws std::runtime_error naming the address (start-up only). Port 0 picks
  // one port for all the acceptors.
  WebhookListener(const std::vector<std::unique_ptr<Worker>>& workers, const std::string& host,
                  std::uint16_t port);
  ~WebhookListener();
  WebhookListener(const WebhookListener&) = delete;
  WebhookListener& operator=(const WebhookListener&) = delete;

  // Accepts on every worker (before its thread starts).
  void start();

  // The drain: each worker takes the connections the kernel has already completed, so that a
  // client whose connect succeeded gets an answer rather than a reset, then closes its acceptor.
  // From any thread.
  void close();
  // True once every acceptor is closed; the sessions of its last accepts are counted by then.
  bool closed() const noexcept { return open_.load(std::memory_order_acquire) == 0; }

 private:
  void accept(Worker& worker, boost::asio::ip::tcp::acceptor& acceptor);
  static void start_session(Worker& worker, boost::asio::ip::tcp::socket socket);

  const std::vector<std::unique_ptr<Worker>>& workers_;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;  // by worker
  std::atomic<std::size_t> open_{0};
};

}  // namespace inlet::runtime
