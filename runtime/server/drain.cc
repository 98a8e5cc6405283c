#include "runtime/server/drain.h"

#include <csignal>

#include "runtime/log.h"

namespace inlet::runtime {

using boost::system::error_code;

namespace {
constexpr auto kConnectionPollInterval = std::chrono::milliseconds(20);
}  // namespace

Drain::Drain(boost::asio::io_context& control, ServerState& state, WebhookListener& listener,
             const std::shared_ptr<const NodeConfig>& config)
    : control_(control),
      state_(state),
      listener_(listener),
      config_(config),
      signals_(control, SIGINT, SIGTERM),
      timer_(control) {}

void Drain::start() {
  signals_.async_wait([this](const error_code& ec, int signal_number) {
    if (!ec) on_signal(signal_number);
  });
}

void Drain::on_signal(int signal_number) {
  signalled_ = Clock::now();
  log_info("draining", {{"signal", signal_number},
                        {"drain_delay_ms", static_cast<std::int64_t>(config_->drain_delay.count())}});
  state_.draining.store(true);
  timer_.expires_after(config_->drain_delay);
  timer_.async_wait([this](const error_code& ec) {
    if (!ec) close_listeners();
  });
  signals_.async_wait([this](const error_code& ec, int) {
    if (ec) return;
    log_warn("drain_interrupted");
    control_.stop();
  });
}

void Drain::close_listeners() {
  listener_.close();
  state_.listeners_closed.store(true);
  log_info("listeners_closed",
           {{"open_connections", static_cast<int>(state_.open_connections.load())}});
  const Limits& limits = config_->limits;
  give_up_ = Clock::now() + limits.header_timeout + limits.body_timeout;
  wait_for_connections();
}

void Drain::wait_for_connections() {
  if ((listener_.closed() && state_.open_connections.load() == 0) || Clock::now() >= give_up_) {
    return finish();
  }
  timer_.expires_after(kConnectionPollInterval);
  timer_.async_wait([this](const error_code& ec) {
    if (!ec) wait_for_connections();
  });
}

void Drain::finish() {
  const std::uint32_t open = state_.open_connections.load();
  if (open != 0) log_warn("drain_timeout", {{"open_connections", static_cast<int>(open)}});
  const auto drain_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - signalled_).count();
  log_info("drained", {{"open_connections", static_cast<int>(open)},
                       {"drain_ms", static_cast<std::int64_t>(drain_ms)}});
  control_.stop();
}

}  // namespace inlet::runtime
