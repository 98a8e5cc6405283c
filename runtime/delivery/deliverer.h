// A delivery node's engine (CONTRACT.md section 6): each message to each matching endpoint, with
// retries (exponential backoff, full jitter, Retry-After), a circuit breaker, a concurrency and a
// rate limit per endpoint, and 410 disabling. It answers each message once: every endpoint
// delivered it, or which ones did not and why (for the dead letter); or that it stopped first.
//
// One thread runs an io_context with every endpoint's client; the endpoints' state is that
// thread's alone. deliver() may be called from any thread; the callback runs on the engine's.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/config/delivery_config.h"
#include "runtime/metrics.h"

namespace inlet::runtime {

// How one try ended, for inlet_delivery_attempts_total{endpoint,result}.
enum class AttemptOutcome : std::uint8_t {
  kDelivered,   // 2xx
  kRetryable,   // 408, 429, 5xx
  kRejected,    // another status: to the dead letter at once
  kGone,        // 410: the endpoint is disabled
  kTimeout,
  kConnectionError,
  kCount
};
inline constexpr std::string_view kAttemptOutcomeNames[] = {"delivered", "retryable", "rejected",
                                                            "gone",      "timeout",   "connection_error"};

enum class EndpointState : std::uint8_t { kClosed, kOpen, kDisabled, kCount };
inline constexpr std::string_view kEndpointStateNames[] = {"closed", "open", "disabled"};

struct EndpointMetrics {
  std::array<LocalCounter, static_cast<std::size_t>(AttemptOutcome::kCount)> attempts;
  LatencyHistogram duration;
  LocalCounter dead_letters;
  std::atomic<EndpointState> state{EndpointState::kClosed};
};

// One endpoint that did not take the message: the dead letter's attributes.
struct EndpointFailure {
  std::size_t endpoint = 0;  // index in the node's endpoints
  unsigned status = 0;       // the last HTTP status; 0 when none came
  std::uint32_t attempts = 0;
  std::string error;
};

struct DeliveryOutcome {
  bool stopped = false;  // the engine stopped first: deliver the message again after a restart
  std::vector<EndpointFailure> failures;  // empty: every matching endpoint delivered it
};

class DeliveryCallback {
 public:
  virtual void on_delivery_done(DeliveryOutcome&& outcome) noexcept = 0;

 protected:
  ~DeliveryCallback() = default;
};

class Deliverer {
 public:
  static constexpr std::size_t kMaxEndpoints = 64;

  // `endpoints` outlive the engine. Answers are handed over in runs: `on_answers_end` is called
  // after each run of on_delivery_done calls, so that their receiver can take them all with one
  // wake-up. Throws std::runtime_error when an endpoint's TLS context cannot be built.
  Deliverer(std::string node, const std::vector<DeliveryEndpointConfig>& endpoints,
            std::function<void()> on_answers_end = {});
  ~Deliverer();
  Deliverer(const Deliverer&) = delete;
  Deliverer& operator=(const Deliverer&) = delete;

  void start();
  // Ends every request in flight and every wait; answers each unanswered message with
  // `stopped`, from the calling thread, and joins. Idempotent.
  void stop();

  // Delivers `body` to the endpoints whose bit is set in `endpoint_mask` (bit i: endpoint i),
  // once submit() hands it over. `body` and `tracking_id` stay valid until `callback` is answered.
  void deliver(std::string_view body, std::string_view tracking_id, std::uint64_t endpoint_mask,
               DeliveryCallback& callback);
  // Hands what deliver() queued since the last call to the engine's thread, with one wake-up.
  void submit();

  // A reload's part: endpoints disabled by a 410 take messages again. Any thread.
  void enable_disabled_endpoints();

  const EndpointMetrics& metrics(std::size_t endpoint) const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inlet::runtime
