#include "runtime/delivery/deliverer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "codecs/thread_name.h"
#include "runtime/delivery/http_client.h"
#include "runtime/log.h"

namespace inlet::runtime {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

std::string one_line(std::string_view text, std::size_t max = 200) {
  std::string out;
  for (char c : text.substr(0, max)) out.push_back(c == '\r' || c == '\n' || c == '\t' ? ' ' : c);
  return out;
}

std::string describe(const AttemptResult& result) {
  if (result.kind != AttemptResult::Kind::kAnswered) return result.error;
  std::string text = "HTTP " + std::to_string(result.status);
  if (!result.body.empty()) text += ": " + one_line(result.body);
  return text;
}

AttemptOutcome classify(const AttemptResult& result) {
  if (result.kind == AttemptResult::Kind::kTimeout) return AttemptOutcome::kTimeout;
  if (result.kind == AttemptResult::Kind::kConnectionError) return AttemptOutcome::kConnectionError;
  const unsigned status = result.status;
  if (status >= 200 && status < 300) return AttemptOutcome::kDelivered;
  if (status == 410) return AttemptOutcome::kGone;
  if (status == 408 || status == 429 || status >= 500) return AttemptOutcome::kRetryable;
  return AttemptOutcome::kRejected;
}

// The start of every give-up error of a dead letter: "gave up after 1 try", "… 3 tries".
std::string gave_up_after(std::uint32_t attempts) {
  return "gave up after " + std::to_string(attempts) + (attempts == 1 ? " try" : " tries");
}

std::string format_duration(std::chrono::milliseconds ms) {
  if (ms.count() % 60000 == 0) return std::to_string(ms.count() / 60000) + "m";
  if (ms.count() % 1000 == 0) return std::to_string(ms.count() / 1000) + "s";
  return std::to_string(ms.count()) + "ms";
}

}  // namespace

struct Deliverer::Impl {
  struct Delivery;

  // One message to one endpoint.
  struct Task {
    Delivery* delivery = nullptr;
    std::size_t endpoint = 0;
    std::uint32_t attempts = 0;
    Clock::time_point first_try;
    unsigned last_status = 0;  // of the last try that failed, for the dead letter
    std::string last_error;
    std::unique_ptr<asio::steady_timer> retry_timer;
  };

  struct Delivery {
    std::string_view body;
    std::string_view tracking_id;
    std::uint64_t mask = 0;
    DeliveryCallback* callback = nullptr;
    std::vector<Task> tasks;  // sized once: tasks' addresses are stable
    std::size_t unresolved = 0;
    std::vector<EndpointFailure> failures;
    std::list<std::unique_ptr<Delivery>>::iterator self;
  };

  enum class Circuit : std::uint8_t { kClosed, kOpen, kHalfOpen };

  struct Endpoint {
    Endpoint(asio::io_context& io, const DeliveryEndpointConfig& endpoint_config)
        : config(endpoint_config), client(io, endpoint_config), wake(io),
          tokens(std::max(1.0, endpoint_config.rate_limit)) {}
    const DeliveryEndpointConfig& config;
    EndpointClient client;
    EndpointMetrics metrics;
    std::deque<Task*> ready;  // waiting for a place, oldest first
    std::uint32_t in_flight = 0;
    Circuit circuit = Circuit::kClosed;
    std::uint32_t consecutive_failures = 0;
    Clock::time_point open_until;
    bool probing = false;
    bool disabled = false;
    asio::steady_timer wake;  // the circuit's pause, or the rate limit's next token
    bool wake_armed = false;
    double tokens;            // the rate limit's bucket; a burst of up to one second's worth
    Clock::time_point refilled_at = Clock::now();
    LogThrottle retry_log;
  };

  Impl(std::string node_name, const std::vector<DeliveryEndpointConfig>& configs,
       std::function<void()> answers_end)
      : node(std::move(node_name)), on_answers_end(std::move(answers_end)), work(io.get_executor()),
        random(std::random_device{}()) {
    if (configs.size() > kMaxEndpoints) throw std::runtime_error("a delivery node has at most 64 endpoints");
    for (const DeliveryEndpointConfig& config : configs) {
      endpoints.push_back(std::make_unique<Endpoint>(io, config));
    }
  }

  void take_inbox();
  void begin(std::unique_ptr<Delivery> delivery);
  void pump(Endpoint& endpoint);
  bool give_up_past_max_time(Endpoint& endpoint);
  void arm(Endpoint& endpoint, Clock::time_point when);
  asio::awaitable<void> attempt(Endpoint& endpoint, Task& task, bool probe);
  void retry_or_fail(Endpoint& endpoint, Task& task, const AttemptResult& result);
  void breaker_failure(Endpoint& endpoint);
  void breaker_success(Endpoint& endpoint);
  void resolve(Task& task, std::optional<EndpointFailure> failure);
  void answer(DeliveryCallback* callback, DeliveryOutcome&& outcome);
  void hand_over_answers();
  void fail(Task& task, unsigned status, std::string error) {
    resolve(task, EndpointFailure{task.endpoint, status, task.attempts, std::move(error)});
  }

  std::string node;
  std::function<void()> on_answers_end;
  // Answers of this turn of the engine, handed over together once its ready handlers have run.
  std::vector<std::pair<DeliveryCallback*, DeliveryOutcome>> answers;
  bool answers_posted = false;
  asio::io_context io;  // declared before what it runs: destroyed after them
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  std::list<std::unique_ptr<Delivery>> live;
  std::mt19937_64 random;
  std::thread thread;
  bool started = false;
  bool stopped = false;

  std::mutex inbox_mu;  // deliver()'s hand-off to the engine's thread
  std::vector<std::unique_ptr<Delivery>> inbox;
  bool inbox_posted = false;
};

void Deliverer::Impl::take_inbox() {
  std::vector<std::unique_ptr<Delivery>> taken;
  {
    std::lock_guard lock(inbox_mu);
    taken.swap(inbox);
    inbox_posted = false;
  }
  for (auto& delivery : taken) begin(std::move(delivery));
}

void Deliverer::Impl::begin(std::unique_ptr<Delivery> owned) {
  Delivery& delivery = *owned;
  live.push_front(std::move(owned));
  delivery.self = live.begin();
  for (std::size_t e = 0; e < endpoints.size(); ++e) {
    if ((delivery.mask >> e & 1) == 0) continue;
    Task& task = delivery.tasks.emplace_back();
    task.delivery = &delivery;
    task.endpoint = e;
  }
  delivery.unresolved = delivery.tasks.size();
  if (delivery.unresolved == 0) {  // no endpoint's bit: nothing to do
    DeliveryCallback* callback = delivery.callback;
    live.erase(delivery.self);
    answer(callback, DeliveryOutcome{});
    return;
  }
  for (Task& task : delivery.tasks) endpoints[task.endpoint]->ready.push_back(&task);
  // pump() may resolve tasks (a disabled endpoint), and the last one frees the delivery.
  std::uint64_t touched = 0;
  for (const Task& task : delivery.tasks) touched |= std::uint64_t{1} << task.endpoint;
  for (std::size_t e = 0; e < endpoints.size(); ++e) {
    if (touched >> e & 1) pump(*endpoints[e]);
  }
}

void Deliverer::Impl::resolve(Task& task, std::optional<EndpointFailure> failure) {
  Delivery& delivery = *task.delivery;
  if (failure) {
    endpoints[task.endpoint]->metrics.dead_letters.add();
    delivery.failures.push_back(std::move(*failure));
  }
  if (--delivery.unresolved != 0) return;
  DeliveryOutcome outcome;
  outcome.failures = std::move(delivery.failures);
  DeliveryCallback* callback = delivery.callback;
  live.erase(delivery.self);  // the Delivery and its tasks are gone from here on
  answer(callback, std::move(outcome));
}

void Deliverer::Impl::answer(DeliveryCallback* callback, DeliveryOutcome&& outcome) {
  answers.emplace_back(callback, std::move(outcome));
  if (answers_posted) return;
  answers_posted = true;
  asio::post(io, [this] { hand_over_answers(); });
}

void Deliverer::Impl::hand_over_answers() {
  answers_posted = false;
  if (answers.empty()) return;
  for (auto& [callback, outcome] : answers) callback->on_delivery_done(std::move(outcome));
  answers.clear();
  if (on_answers_end) on_answers_end();
}

void Deliverer::Impl::arm(Endpoint& endpoint, Clock::time_point when) {
  if (endpoint.wake_armed && endpoint.wake.expiry() <= when) return;
  endpoint.wake.expires_at(when);
  endpoint.wake_armed = true;
  endpoint.wake.async_wait([this, &endpoint](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;  // re-armed earlier
    endpoint.wake_armed = false;
    pump(endpoint);
  });
}

// While the circuit is open, a message that has had tries and whose max_time ends before the
// pause does gives up now rather than wait for a try it may not make. One that has not had its
// first try waits: max_time counts from the first try. True when it failed any.
bool Deliverer::Impl::give_up_past_max_time(Endpoint& endpoint) {
  const BackoffConfig& backoff = endpoint.config.backoff;
  bool failed = false;
  for (auto it = endpoint.ready.begin(); it != endpoint.ready.end();) {
    Task& task = **it;
    if (task.attempts == 0 || endpoint.open_until - task.first_try <= backoff.max_time) {
      ++it;
      continue;
    }
    it = endpoint.ready.erase(it);
    failed = true;
    fail(task, task.last_status,
         gave_up_after(task.attempts) + ": the circuit is open past max_time (" +
             format_duration(backoff.max_time) + "): " + task.last_error);
  }
  return failed;
}

void Deliverer::Impl::pump(Endpoint& endpoint) {
  const DeliveryEndpointConfig& config = endpoint.config;
  while (!endpoint.ready.empty()) {
    Task& task = *endpoint.ready.front();
    if (endpoint.disabled) {
      endpoint.ready.pop_front();
      fail(task, 410, "endpoint '" + config.name + "' is disabled: it answered 410 Gone; the next reload enables it");
      continue;
    }
    if (endpoint.in_flight >= config.concurrency) return;
    const Clock::time_point now = Clock::now();
    if (endpoint.circuit == Circuit::kOpen) {
      if (now < endpoint.open_until) {
        if (give_up_past_max_time(endpoint)) continue;
        arm(endpoint, endpoint.open_until);
        return;
      }
      endpoint.circuit = Circuit::kHalfOpen;  // one try decides
    }
    if (endpoint.circuit == Circuit::kHalfOpen && endpoint.probing) return;
    if (config.rate_limit > 0) {
      const double burst = std::max(1.0, config.rate_limit);
      endpoint.tokens = std::min(
          burst, endpoint.tokens + std::chrono::duration<double>(now - endpoint.refilled_at).count() * config.rate_limit);
      endpoint.refilled_at = now;
      if (endpoint.tokens < 1) {
        const auto wait = std::chrono::duration<double>((1 - endpoint.tokens) / config.rate_limit);
        arm(endpoint, now + std::chrono::duration_cast<Clock::duration>(wait) + std::chrono::microseconds(1));
        return;
      }
      endpoint.tokens -= 1;
    }
    endpoint.ready.pop_front();
    ++endpoint.in_flight;
    const bool probe = endpoint.circuit == Circuit::kHalfOpen;
    if (probe) endpoint.probing = true;
    asio::co_spawn(io, attempt(endpoint, task, probe), asio::detached);
  }
}

asio::awaitable<void> Deliverer::Impl::attempt(Endpoint& endpoint, Task& task, bool probe) {
  if (task.attempts == 0) task.first_try = Clock::now();
  ++task.attempts;
  const std::int64_t now_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
  const AttemptResult result =
      co_await endpoint.client.send(OutboundRequest{task.delivery->body, task.delivery->tracking_id, now_seconds});
  const AttemptOutcome outcome = classify(result);
  endpoint.metrics.attempts[static_cast<std::size_t>(outcome)].add();
  endpoint.metrics.duration.observe(result.duration);
  --endpoint.in_flight;
  if (probe) endpoint.probing = false;
  switch (outcome) {
    case AttemptOutcome::kDelivered:
      breaker_success(endpoint);
      resolve(task, std::nullopt);
      break;
    case AttemptOutcome::kRejected:
      breaker_success(endpoint);  // it answered: it is up
      fail(task, result.status, describe(result));
      break;
    case AttemptOutcome::kGone:
      if (!endpoint.disabled) {
        endpoint.disabled = true;
        endpoint.metrics.state.store(EndpointState::kDisabled, std::memory_order_relaxed);
        log_error("endpoint_disabled", {{"node", node}, {"endpoint", endpoint.config.name},
                                        {"url", endpoint.config.url.text},
                                        {"detail", "it answered 410 Gone: its messages go to the dead letter until the next reload"}});
      }
      fail(task, 410, describe(result));
      break;
    default:
      breaker_failure(endpoint);
      retry_or_fail(endpoint, task, result);
      break;
  }
  pump(endpoint);
}

void Deliverer::Impl::retry_or_fail(Endpoint& endpoint, Task& task, const AttemptResult& result) {
  const BackoffConfig& backoff = endpoint.config.backoff;
  const std::string error = describe(result);
  task.last_status = result.status;
  task.last_error = error;
  if (task.attempts >= backoff.max_tries) {
    fail(task, result.status, gave_up_after(task.attempts) + ": " + error);
    return;
  }
  // Full jitter: uniform in [0, min(max_interval, initial * 2^(tries-1))].
  const unsigned shift = std::min<std::uint32_t>(task.attempts - 1, 30);
  const auto cap = std::min<std::chrono::milliseconds>(backoff.max_interval, backoff.initial_interval * (std::int64_t{1} << shift));
  Clock::duration wait = std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::microseconds>(cap).count())(random));
  if (result.retry_after && *result.retry_after > wait) wait = *result.retry_after;
  const Clock::time_point at = Clock::now() + wait;
  if (at - task.first_try > backoff.max_time) {
    fail(task, result.status,
         gave_up_after(task.attempts) + ": the next would start past max_time (" +
             format_duration(backoff.max_time) + "): " + error);
    return;
  }
  if (endpoint.retry_log.allow()) {
    log_warn("delivery_retry", {{"node", node}, {"endpoint", endpoint.config.name},
                                {"tracking_id", task.delivery->tracking_id},
                                {"attempts", std::uint64_t{task.attempts}}, {"error", one_line(error)},
                                {"wait_ms", static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count())}});
  }
  // With concurrency 1 the waiting message keeps the endpoint's one place: delivery stays in
  // input order. Otherwise the others go on meanwhile.
  const bool ordered = endpoint.config.concurrency == 1;
  if (ordered) ++endpoint.in_flight;
  if (!task.retry_timer) task.retry_timer = std::make_unique<asio::steady_timer>(io);
  task.retry_timer->expires_at(at);
  task.retry_timer->async_wait([this, &endpoint, &task, ordered](const boost::system::error_code& ec) {
    if (ec) return;
    if (ordered) --endpoint.in_flight;
    endpoint.ready.push_front(&task);
    pump(endpoint);
  });
}

void Deliverer::Impl::breaker_failure(Endpoint& endpoint) {
  ++endpoint.consecutive_failures;
  const CircuitBreakerConfig& breaker = endpoint.config.circuit_breaker;
  if (endpoint.circuit != Circuit::kHalfOpen && endpoint.consecutive_failures < breaker.failures) return;
  const bool was_closed = endpoint.circuit == Circuit::kClosed;
  endpoint.circuit = Circuit::kOpen;
  endpoint.open_until = Clock::now() + breaker.pause;
  if (!endpoint.disabled) endpoint.metrics.state.store(EndpointState::kOpen, std::memory_order_relaxed);
  if (was_closed) {
    log_warn("endpoint_circuit_open",
             {{"node", node}, {"endpoint", endpoint.config.name},
              {"consecutive_failures", std::uint64_t{endpoint.consecutive_failures}},
              {"pause_ms", static_cast<std::uint64_t>(breaker.pause.count())}});
  }
}

void Deliverer::Impl::breaker_success(Endpoint& endpoint) {
  endpoint.consecutive_failures = 0;
  if (endpoint.circuit == Circuit::kClosed) return;
  endpoint.circuit = Circuit::kClosed;
  if (!endpoint.disabled) endpoint.metrics.state.store(EndpointState::kClosed, std::memory_order_relaxed);
  log_info("endpoint_circuit_closed", {{"node", node}, {"endpoint", endpoint.config.name}});
}

Deliverer::Deliverer(std::string node, const std::vector<DeliveryEndpointConfig>& endpoints,
                     std::function<void()> on_answers_end)
    : impl_(std::make_unique<Impl>(std::move(node), endpoints, std::move(on_answers_end))) {}

Deliverer::~Deliverer() { stop(); }

void Deliverer::start() {
  Impl& impl = *impl_;
  impl.started = true;
  impl.thread = std::thread([&impl] {
    codecs::name_this_thread("dlv:" + impl.node);
    impl.io.run();
  });
}

void Deliverer::stop() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.inbox_mu);
    if (impl.stopped) return;
    impl.stopped = true;
  }
  impl.io.stop();
  if (impl.thread.joinable()) impl.thread.join();
  // The engine's thread is gone: its state is this thread's. Answers not yet handed over stand
  // as they are. Requests in flight are abandoned (their handlers never run); their messages are
  // delivered again after a restart.
  for (auto& [callback, outcome] : impl.answers) callback->on_delivery_done(std::move(outcome));
  impl.answers.clear();
  std::vector<DeliveryCallback*> callbacks;
  for (auto& delivery : impl.live) callbacks.push_back(delivery->callback);
  {
    std::lock_guard lock(impl.inbox_mu);
    for (auto& delivery : impl.inbox) callbacks.push_back(delivery->callback);
    impl.inbox.clear();
  }
  for (DeliveryCallback* callback : callbacks) {
    DeliveryOutcome outcome;
    outcome.stopped = true;
    callback->on_delivery_done(std::move(outcome));
  }
  if (impl.on_answers_end) impl.on_answers_end();
}

void Deliverer::deliver(std::string_view body, std::string_view tracking_id, std::uint64_t endpoint_mask,
                        DeliveryCallback& callback) {
  Impl& impl = *impl_;
  auto delivery = std::make_unique<Impl::Delivery>();
  delivery->body = body;
  delivery->tracking_id = tracking_id;
  delivery->mask = endpoint_mask;
  delivery->callback = &callback;
  delivery->tasks.reserve(static_cast<std::size_t>(__builtin_popcountll(endpoint_mask)));
  {
    std::lock_guard lock(impl.inbox_mu);
    if (!impl.stopped) impl.inbox.push_back(std::move(delivery));
  }
  if (delivery) {  // stopped: answered at once
    DeliveryOutcome outcome;
    outcome.stopped = true;
    callback.on_delivery_done(std::move(outcome));
    if (impl.on_answers_end) impl.on_answers_end();
  }
}

void Deliverer::submit() {
  Impl& impl = *impl_;
  {
    std::lock_guard lock(impl.inbox_mu);
    if (impl.stopped || impl.inbox.empty() || impl.inbox_posted) return;
    impl.inbox_posted = true;
  }
  asio::post(impl.io, [&impl] { impl.take_inbox(); });
}

void Deliverer::enable_disabled_endpoints() {
  Impl& impl = *impl_;
  asio::post(impl.io, [&impl] {
    for (auto& endpoint : impl.endpoints) {
      if (!endpoint->disabled) continue;
      endpoint->disabled = false;
      endpoint->metrics.state.store(
          endpoint->circuit == Impl::Circuit::kClosed ? EndpointState::kClosed : EndpointState::kOpen,
          std::memory_order_relaxed);
      log_info("endpoint_enabled", {{"node", impl.node}, {"endpoint", endpoint->config.name},
                                    {"detail", "the reload ends the 410's disabling"}});
    }
  });
}

const EndpointMetrics& Deliverer::metrics(std::size_t endpoint) const noexcept {
  return impl_->endpoints[endpoint]->metrics;
}

}  // namespace inlet::runtime
