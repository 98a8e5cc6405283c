// The shutdown sequence, on the control thread. SIGTERM or SIGINT: the node reports draining
// (/readyz fails, so a load balancer stops sending), after drain_delay the listeners close, then
// the open connections finish, for at most header_timeout + body_timeout, and the control loop
// stops. A second signal stops at once.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "runtime/config/node_config.h"
#include "runtime/server/webhook_listener.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

class Drain {
 public:
  // `config` is the server's config in force (a reload may replace it before the signal).
  Drain(boost::asio::io_context& control, ServerState& state, WebhookListener& listener,
        const std::shared_ptr<const NodeConfig>& config);

  // Arms the signals.
  void start();

 private:
  using Clock = std::chrono::steady_clock;

  void on_signal(int signal_number);
  void close_listeners();
  void wait_for_connections();
  void finish();

  boost::asio::io_context& control_;
  ServerState& state_;
  WebhookListener& listener_;
  const std::shared_ptr<const NodeConfig>& config_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer timer_;
  Clock::time_point signalled_;
  Clock::time_point give_up_;
};

}  // namespace inlet::runtime
