#include "runtime/node/consumer_node.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "codecs/json_validator.h"
#include "codecs/thread_name.h"
#include "runtime/delivery/deliverer.h"
#include "runtime/log.h"
#include "runtime/node/node_outputs.h"

namespace inlet::runtime {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kPollWait = 200ms;       // a poll's longest wait: how late a commit may be
constexpr auto kReconnectWait = 1s;     // between attempts to open or read an unreachable input
constexpr auto kLagEvery = 1s;
// Commits (an fdatasync each, for a log) at most this often while messages stream; stop() commits
// the last one. What a crash re-reads grows by at most this much.
constexpr auto kCommitEvery = 10ms;
constexpr auto kBackpressureFirst = 5ms;  // a full output edge: first wait, doubled up to the cap
constexpr auto kBackpressureMax = 200ms;
constexpr std::size_t kPollBatch = 256;

std::string first_line(std::string_view text) {
  return std::string(text.substr(0, text.find('\n')));
}

}  // namespace

struct ConsumerNode::Impl {
  // One input message in the window, from poll to commit. Its address is stable (the window holds
  // unique_ptrs), so the interpreter and the queues can call it back.
  struct Slot;

  // One store of one output to one edge.
  struct Store final : StoreCallback {
    Slot* slot = nullptr;
    Queue* queue = nullptr;
    Message message;
    bool stored = false;
    Clock::duration wait = kBackpressureFirst;
    void on_stored(StoreStatus status) noexcept override;
  };

  struct Slot final : python::FunctionCallback, DeliveryCallback {
    // kQueued: read, waiting for one of the `concurrency` places in flight.
    enum class State : std::uint8_t { kQueued, kCalling, kStoring, kWaiting, kDone };
    Impl* node = nullptr;
    ConsumedMessage input;
    InputAttributes attributes;
    State state = State::kQueued;
    std::uint32_t attempts = 0;
    Clock::time_point polled_at;
    Clock::time_point called_at;
    Clock::time_point stores_started_at;
    Clock::time_point wake_at;  // kWaiting: when to call again, or to store again
    bool retry_call = false;    // kWaiting for a new call (not for a refused store)
    bool dead_lettering = false;
    std::string error;  // the last failure, for the dead letter
    std::string attempts_text;
    std::vector<std::string> bodies;
    std::vector<std::string> tracking_ids;  // one per body
    char received_at[27] = {};
    std::vector<std::string> prev_tracking_ids;
    std::deque<Store> stores;  // deque: stable addresses while it grows
    std::size_t stores_pending = 0;
    // A delivery node's: the id every endpoint sees on every try (X-Inlet-Tracking-Id,
    // webhook-id), and each dead letter's endpoint and status.
    std::string delivery_id;
    std::vector<EndpointFailure> failures;
    std::vector<std::string> failure_statuses;
    std::vector<std::string> failure_attempts;

    void on_function_done(python::FunctionResult&& result) noexcept override;
    void on_delivery_done(DeliveryOutcome&& outcome) noexcept override;
  };

  // What the interpreter and the queues hand the node thread.
  struct Event {
    Slot* slot = nullptr;
    Store* store = nullptr;  // set for a store's answer
    StoreStatus status = StoreStatus::kStored;
    python::FunctionResult result;
    std::optional<DeliveryOutcome> delivery;  // set for a delivery's answer
  };

  Impl(std::shared_ptr<const NodeConfig> owner_config, const ConsumerNodeConfig& node_config,
       std::vector<NodeOutput> node_outputs, std::optional<NodeOutput> dead_letter_output)
      : owner(std::move(owner_config)),
        config(node_config),
        outputs(std::move(node_outputs)),
        dead_letter(dead_letter_output),
        function(config.make_function ? config.make_function() : nullptr),
        deliverer(config.kind == ConsumerKind::kDelivery
                      ? std::make_unique<Deliverer>(config.name, config.endpoints, [this] { wake(); })
                      : nullptr),
        random(std::random_device{}()) {}

  // Only the first event or arrival since the node thread last took them wakes it: it takes them
  // all at once, so the others need no signal (each one is a context switch on a shared core).
  // `quiet`: the poster calls wake() after a run of them (the deliverer's answers).
  void post(Event&& event, bool quiet = false) {
    bool wake = false;
    {
      std::lock_guard lock(mu);
      wake = !quiet && events.empty() && arrived.empty();
      events.push_back(std::move(event));
    }
    if (wake) node_cv.notify_one();
  }
  void wake() { node_cv.notify_one(); }

  // ---- the reader thread ----
  void reader_main();
  bool open_consumer();
  void set_not_ready(std::string reason);

  // ---- the node thread ----
  void node_main();
  void start_slot(Slot& slot);
  void start_queued();
  void call(Slot& slot);
  void on_result(Slot& slot, python::FunctionResult&& result);
  void deliver(Slot& slot);
  void on_delivered(Slot& slot, DeliveryOutcome&& outcome);
  void fail(Slot& slot, std::string error);
  void store_outputs(Slot& slot);
  void store_dead_letter(Slot& slot);
  void fill_dead_letter(const Slot& slot, Message& message) const;
  void on_store(Slot& slot, Store& store, StoreStatus status);
  void finish(Slot& slot, NodeResult result);
  void wake_due(Clock::time_point now);
  void advance_commit();
  bool stopping_seen() {
    std::lock_guard lock(mu);
    return stopping;
  }

  std::shared_ptr<const NodeConfig> owner;
  const ConsumerNodeConfig& config;
  std::vector<NodeOutput> outputs;
  std::optional<NodeOutput> dead_letter;
  std::unique_ptr<python::PythonFunction> function;  // processor and router
  std::unique_ptr<Deliverer> deliverer;              // delivery
  NodeMetrics metrics;

  std::unique_ptr<Consumer> consumer;  // the reader thread's, then stop()'s once it has joined
  std::atomic<Consumer*> consumer_ptr{nullptr};  // for stop() to wake a poll in progress
  std::thread reader;
  std::thread worker;

  // Shared between the two threads and the callbacks.
  std::mutex mu;
  std::condition_variable node_cv;    // the node thread waits for events, arrivals, stop
  std::condition_variable reader_cv;  // the reader waits for room, a commit, stop
  std::vector<Event> events;
  std::vector<ConsumedMessage> arrived;
  std::size_t in_window = 0;  // arrived + in the node's window: what the reader may not exceed
  std::optional<std::uint64_t> commit_target;  // done up to and including this position
  bool stopping = false;       // no more polls
  bool started = false;
  bool stopped = false;
  mutable std::mutex ready_mu;
  std::string not_ready = "starting";

  // The node thread's own.
  std::deque<std::unique_ptr<Slot>> window;
  codecs::JsonValidator validator;
  RoutedOutputs routed;
  std::mt19937_64 random;
  ReceivedAtClock clock;
  LogThrottle failure_log;
  LogThrottle backpressure_log;
};

void ConsumerNode::Impl::Slot::on_function_done(python::FunctionResult&& result) noexcept {
  node->post(Event{this, nullptr, StoreStatus::kStored, std::move(result), std::nullopt});
}

void ConsumerNode::Impl::Slot::on_delivery_done(DeliveryOutcome&& outcome) noexcept {
  node->post(Event{this, nullptr, StoreStatus::kStored, {}, std::move(outcome)}, /*quiet=*/true);
}

void ConsumerNode::Impl::Store::on_stored(StoreStatus status) noexcept {
  slot->node->post(Event{slot, this, status, {}, std::nullopt});
}

void ConsumerNode::Impl::set_not_ready(std::string reason) {
  std::lock_guard lock(ready_mu);
  not_ready = std::move(reason);
}

bool ConsumerNode::Impl::open_consumer() {
  LogThrottle throttle;
  for (;;) {
    {
      std::unique_lock lock(mu);
      if (stopping) return false;
    }
    try {
      consumer = config.input_queue.open_consumer(config.name);
      consumer_ptr.store(consumer.get());
      set_not_ready({});
      log_info("node_input_open", {{"node", config.name}, {"input", config.input},
                                   {"type", config.input_queue.type},
                                   {"resume_at", consumer->committed()}});
      return true;
    } catch (const std::exception& e) {
      const std::string reason = "cannot reach input '" + config.input + "': " + e.what();
      set_not_ready(reason);
      if (throttle.allow()) log_warn("node_input_unreachable", {{"node", config.name}, {"error", reason}});
    }
    std::unique_lock lock(mu);
    reader_cv.wait_for(lock, kReconnectWait, [&] { return stopping; });
  }
}

void ConsumerNode::Impl::reader_main() {
  codecs::name_this_thread("rd:" + config.name);
  if (!open_consumer()) return;
  std::vector<ConsumedMessage> batch;
  std::optional<std::uint64_t> committed;  // the last target this thread committed
  Clock::time_point lag_at{};
  LogThrottle throttle;
  const std::size_t capacity = std::max<std::size_t>(config.concurrency * 2, 16);
  // The reader polls once this much of the window is free, not at each freed slot: fewer, larger
  // polls, and fewer wake-ups of this thread.
  const std::size_t poll_room = std::min<std::size_t>(capacity / 2, kPollBatch);
  Clock::time_point commit_after{};  // the earliest the next commit may run
  for (;;) {
    std::optional<std::uint64_t> target;
    std::size_t room = 0;
    {
      std::unique_lock lock(mu);
      const Clock::time_point now = Clock::now();
      const bool commit_pending = commit_target != committed;
      const Clock::time_point until =
          commit_pending && commit_after > now ? std::min(now + kPollWait, commit_after) : now + kPollWait;
      reader_cv.wait_until(lock, until, [&] {
        return stopping || in_window + poll_room <= capacity ||
               (commit_target != committed && Clock::now() >= commit_after);
      });
      if (stopping) break;
      target = commit_target;
      room = capacity > in_window ? capacity - in_window : 0;
    }
    try {
      if (target && target != committed && Clock::now() >= commit_after) {
        consumer->commit(*target);
        committed = target;
        commit_after = Clock::now() + kCommitEvery;
      }
      if (Clock::now() - lag_at >= kLagEvery) {
        lag_at = Clock::now();
        const std::optional<std::uint64_t> lag = consumer->lag();
        metrics.lag.store(lag ? static_cast<std::int64_t>(*lag) : -1, std::memory_order_relaxed);
        metrics.redelivered.store(consumer->redelivered(), std::memory_order_relaxed);
      }
      if (room == 0) continue;  // a full window: the queue waits, and so does the input
      batch.clear();
      const std::size_t got = consumer->poll(batch, std::min(room, kPollBatch), kPollWait);
      const std::string unreachable = consumer->unreachable();
      set_not_ready(unreachable.empty() ? std::string() : "cannot reach input '" + config.input + "': " + unreachable);
      if (got == 0) continue;
      bool wake = false;
      {
        std::lock_guard lock(mu);
        wake = events.empty() && arrived.empty();
        in_window += got;
        for (ConsumedMessage& m : batch) arrived.push_back(std::move(m));
      }
      if (wake) node_cv.notify_one();
    } catch (const std::exception& e) {
      const std::string reason = "cannot read input '" + config.input + "': " + e.what();
      set_not_ready(reason);
      if (throttle.allow()) log_error("node_input_failed", {{"node", config.name}, {"error", reason}});
      std::unique_lock lock(mu);
      reader_cv.wait_for(lock, kReconnectWait, [&] { return stopping; });
    }
  }
}

void ConsumerNode::Impl::start_slot(Slot& slot) {
  slot.attributes = parse_input_attributes(slot.input.attributes);
  slot.prev_tracking_ids = slot.attributes.prev_tracking_ids;
  if (!slot.attributes.tracking_id.empty()) slot.prev_tracking_ids.push_back(slot.attributes.tracking_id);
  slot.polled_at = Clock::now();
  call(slot);
}

void ConsumerNode::Impl::call(Slot& slot) {
  slot.state = Slot::State::kCalling;
  ++slot.attempts;
  slot.called_at = Clock::now();
  if (deliverer) {
    deliver(slot);
    return;
  }
  function->call(slot.input.body, config.input, slot);
}

void ConsumerNode::Impl::deliver(Slot& slot) {
  std::uint64_t mask = 0;
  bool parsed = false;
  for (std::size_t e = 0; e < config.endpoints.size(); ++e) {
    const Filter* filter = config.endpoints[e].filter.get();
    if (filter != nullptr && !parsed) {
      // Room for simdjson's padding, so validating makes no copy.
      slot.input.body.reserve(slot.input.body.size() + codecs::kJsonPadding);
      if (!validator.validate(slot.input.body)) {
        fail(slot, "the input is not JSON, so the endpoints' filters cannot run: " +
                       std::string(validator.error()));
        return;
      }
      parsed = true;
    }
    if (filter == nullptr || filter->matches(validator.root())) mask |= std::uint64_t{1} << e;
  }
  if (mask == 0) {
    finish(slot, NodeResult::kFiltered);
    return;
  }
  // The same id on every try and after a restart: the receiver's key to drop duplicates.
  slot.delivery_id = !slot.attributes.tracking_id.empty()
                         ? slot.attributes.tracking_id
                         : config.input + "-" + std::to_string(slot.input.position);
  deliverer->deliver(slot.input.body, slot.delivery_id, mask, slot);
}

void ConsumerNode::Impl::on_delivered(Slot& slot, DeliveryOutcome&& outcome) {
  metrics.stages[static_cast<std::size_t>(NodeStage::kFunction)].observe(Clock::now() - slot.called_at);
  if (outcome.stopped) {
    // Never finished: not committed, so delivered again after a restart.
    slot.state = Slot::State::kWaiting;
    slot.retry_call = true;
    slot.wake_at = Clock::time_point::max();
    return;
  }
  if (outcome.failures.empty()) {
    finish(slot, NodeResult::kEmitted);
    return;
  }
  // One dead letter for each endpoint that did not take the message.
  slot.failures = std::move(outcome.failures);
  slot.failure_statuses.clear();
  slot.attempts_text.clear();
  slot.stores.clear();
  slot.dead_lettering = true;
  for (const EndpointFailure& failure : slot.failures) slot.failure_statuses.push_back(std::to_string(failure.status));
  std::uint32_t most_attempts = 0;
  for (const EndpointFailure& failure : slot.failures) most_attempts = std::max(most_attempts, failure.attempts);
  slot.attempts = most_attempts;
  slot.error = slot.failures.front().error;
  slot.failure_attempts.clear();
  for (const EndpointFailure& failure : slot.failures) slot.failure_attempts.push_back(std::to_string(failure.attempts));
  for (std::size_t i = 0; i < slot.failures.size(); ++i) {
    Store& store = slot.stores.emplace_back();
    store.slot = &slot;
    store.queue = dead_letter->queue;
    fill_dead_letter(slot, store.message);
    store.message.error = slot.failures[i].error;
    store.message.attempts = slot.failure_attempts[i];
    store.message.endpoint = config.endpoints[slot.failures[i].endpoint].name;
    store.message.status = slot.failure_statuses[i];
  }
  slot.stores_started_at = Clock::now();
  store_outputs(slot);
}

void ConsumerNode::Impl::on_result(Slot& slot, python::FunctionResult&& result) {
  metrics.stages[static_cast<std::size_t>(NodeStage::kFunction)].observe(Clock::now() - slot.called_at);
  if (result.status != python::FunctionResult::Status::kOk) {
    fail(slot, std::move(result.error));
    return;
  }
  std::string error;
  if (!route_function_result(config, std::move(result), slot.input.body, validator, routed, error)) {
    fail(slot, config.kind == ConsumerKind::kRouter ? error : "processor emitted invalid JSON: " + error);
    return;
  }
  slot.bodies = std::move(routed.bodies);
  slot.tracking_ids.assign(slot.bodies.size(), std::string(32, '0'));
  for (std::string& id : slot.tracking_ids) make_tracking_id(random, id.data());
  format_received_at(clock, slot.received_at);
  slot.stores.clear();
  for (const auto& [body, edge] : routed.routes) {
    Store& store = slot.stores.emplace_back();
    store.slot = &slot;
    store.queue = outputs[edge].queue;
    Message& m = store.message;
    m.body = slot.bodies[body];
    m.tracking_id = slot.tracking_ids[body];
    m.message_type = config.send_message_type;
    m.received_at = std::string_view(slot.received_at, 27);
    m.node = config.name;
    m.tenant = owner->tenant;
    m.content_type = config.kind == ConsumerKind::kRouter && !slot.attributes.content_type.empty()
                         ? std::string_view(slot.attributes.content_type)
                         : std::string_view("application/json");
    m.user = slot.attributes.user;
    m.identity = slot.attributes.identity;
    m.scopes = slot.attributes.scopes;
    m.prev_tracking_ids = slot.prev_tracking_ids;
  }
  routed.routes.clear();
  if (slot.stores.empty()) {
    finish(slot, NodeResult::kFiltered);
    return;
  }
  slot.stores_started_at = Clock::now();
  store_outputs(slot);
}

void ConsumerNode::Impl::fail(Slot& slot, std::string error) {
  metrics.results[static_cast<std::size_t>(NodeResult::kFailed)].add();
  slot.error = std::move(error);
  const bool give_up = slot.attempts >= config.max_attempts && dead_letter.has_value();
  if (failure_log.allow()) {
    log_warn("node_message_failed",
             {{"node", config.name}, {"position", slot.input.position},
              {"tracking_id", slot.attributes.tracking_id}, {"attempts", std::uint64_t{slot.attempts}},
              {"error", first_line(slot.error)},
              {"next", give_up ? "dead_letter" : "retry"}});
  }
  if (give_up) {
    store_dead_letter(slot);
    return;
  }
  // Capped exponential backoff; without a dead-letter edge this goes on for ever.
  const unsigned shift = std::min<std::uint32_t>(slot.attempts - 1, 30);
  auto wait = config.retry_backoff * (std::int64_t{1} << shift);
  wait = std::min(wait, config.retry_backoff_max);
  slot.state = Slot::State::kWaiting;
  slot.retry_call = true;
  slot.wake_at = Clock::now() + wait;
  metrics.retries.add();
}

void ConsumerNode::Impl::store_dead_letter(Slot& slot) {
  slot.dead_lettering = true;
  slot.attempts_text = std::to_string(slot.attempts);
  slot.stores.clear();
  Store& store = slot.stores.emplace_back();
  store.slot = &slot;
  store.queue = dead_letter->queue;
  fill_dead_letter(slot, store.message);
  store.message.error = slot.error;
  store.message.attempts = slot.attempts_text;
  slot.stores_started_at = Clock::now();
  store_outputs(slot);
}

// A dead letter is the input as it came, with its attributes, and why.
void ConsumerNode::Impl::fill_dead_letter(const Slot& slot, Message& m) const {
  m.body = slot.input.body;
  m.tracking_id = slot.attributes.tracking_id;
  m.message_type = slot.attributes.message_type;
  m.received_at = slot.attributes.received_at;
  m.node = config.name;
  m.tenant = owner->tenant;
  m.content_type = slot.attributes.content_type;
  m.user = slot.attributes.user;
  m.identity = slot.attributes.identity;
  m.scopes = slot.attributes.scopes;
  m.prev_tracking_ids = slot.attributes.prev_tracking_ids;
}

void ConsumerNode::Impl::store_outputs(Slot& slot) {
  slot.state = Slot::State::kStoring;
  slot.stores_pending = 0;
  for (Store& store : slot.stores) {
    if (!store.stored) ++slot.stores_pending;
  }
  // Deferred: the node thread flushes every output once per turn, so a turn's outputs to a log
  // are one write (ack: write: written by this thread, with no hand-off to the writer's).
  for (Store& store : slot.stores) {
    if (!store.stored) store.queue->store_deferred(store.message, store);
  }
}

void ConsumerNode::Impl::on_store(Slot& slot, Store& store, StoreStatus status) {
  if (status == StoreStatus::kStored) {
    store.stored = true;
  } else {
    // Back-pressure: the edge is full or down. Nothing is dropped; the store is tried again.
    metrics.backpressure.add();
    if (backpressure_log.allow()) {
      log_warn("node_output_refused",
               {{"node", config.name},
                {"status", status == StoreStatus::kFull ? "full" : "unavailable"},
                {"detail", "the output is stored again after a wait; the input does not advance"}});
    }
  }
  if (--slot.stores_pending != 0) return;
  const bool all_stored = std::all_of(slot.stores.begin(), slot.stores.end(),
                                      [](const Store& s) { return s.stored; });
  if (!all_stored) {
    Clock::duration wait = kBackpressureMax;
    for (Store& s : slot.stores) {
      if (s.stored) continue;
      wait = std::min(wait, s.wait);
      s.wait = std::min<Clock::duration>(s.wait * 2, kBackpressureMax);
    }
    slot.state = Slot::State::kWaiting;
    slot.retry_call = false;
    slot.wake_at = Clock::now() + wait;
    return;
  }
  metrics.stages[static_cast<std::size_t>(NodeStage::kStore)].observe(Clock::now() -
                                                                      slot.stores_started_at);
  finish(slot, slot.dead_lettering ? NodeResult::kDeadLettered : NodeResult::kEmitted);
}

void ConsumerNode::Impl::finish(Slot& slot, NodeResult result) {
  slot.state = Slot::State::kDone;
  metrics.results[static_cast<std::size_t>(result)].add();
  metrics.stages[static_cast<std::size_t>(NodeStage::kTotal)].observe(Clock::now() - slot.polled_at);
  if (result == NodeResult::kDeadLettered) {
    log_warn("node_message_dead_lettered",
             {{"node", config.name}, {"position", slot.input.position},
              {"tracking_id", slot.attributes.tracking_id}, {"attempts", std::uint64_t{slot.attempts}},
              {"dead_letter", dead_letter->edge->name}, {"error", first_line(slot.error)}});
  }
}

void ConsumerNode::Impl::wake_due(Clock::time_point now) {
  if (stopping_seen()) return;
  for (auto& owned : window) {
    Slot& slot = *owned;
    if (slot.state != Slot::State::kWaiting || slot.wake_at > now) continue;
    if (slot.retry_call) {
      call(slot);
    } else {
      store_outputs(slot);
    }
  }
}

// Positions are committed in input order: up to the first message not done.
void ConsumerNode::Impl::advance_commit() {
  std::optional<std::uint64_t> done;
  std::size_t removed = 0;
  while (!window.empty() && window.front()->state == Slot::State::kDone) {
    done = window.front()->input.position;
    window.pop_front();
    ++removed;
  }
  if (!done) return;
  {
    std::lock_guard lock(mu);
    commit_target = done;
    in_window -= removed;
  }
  reader_cv.notify_one();
}

void ConsumerNode::Impl::node_main() {
  codecs::name_this_thread("node:" + config.name);
  std::vector<Event> taken;
  std::vector<ConsumedMessage> fresh;
  std::vector<Queue*> flushed;  // every queue this node stores to, once
  for (const NodeOutput& output : outputs) {
    if (std::find(flushed.begin(), flushed.end(), output.queue) == flushed.end()) flushed.push_back(output.queue);
  }
  if (dead_letter && std::find(flushed.begin(), flushed.end(), dead_letter->queue) == flushed.end()) {
    flushed.push_back(dead_letter->queue);
  }
  for (;;) {
    Clock::time_point next_wake = Clock::now() + kPollWait;
    for (const auto& slot : window) {
      if (slot->state == Slot::State::kWaiting) next_wake = std::min(next_wake, slot->wake_at);
    }
    bool leaving = false;
    {
      std::unique_lock lock(mu);
      node_cv.wait_until(lock, next_wake, [&] { return !events.empty() || !arrived.empty() || stopping; });
      taken.swap(events);
      fresh.swap(arrived);
      // Stopping: no new call and no new store starts, and the thread leaves once every one in
      // progress has called back (a function call ends by its timeout, a store by its queue's).
      leaving = stopping && taken.empty() && std::none_of(window.begin(), window.end(), [](const auto& slot) {
                  return slot->state == Slot::State::kCalling || slot->state == Slot::State::kStoring;
                });
    }
    if (leaving) break;
    if (stopping_seen()) fresh.clear();  // read, never started: read again after a restart
    for (ConsumedMessage& message : fresh) {
      auto slot = std::make_unique<Slot>();
      slot->node = this;
      slot->input = std::move(message);
      window.push_back(std::move(slot));
    }
    fresh.clear();
    for (Event& event : taken) {
      if (event.store != nullptr) {
        on_store(*event.slot, *event.store, event.status);
      } else if (event.delivery) {
        on_delivered(*event.slot, std::move(*event.delivery));
      } else {
        on_result(*event.slot, std::move(event.result));
      }
    }
    taken.clear();
    wake_due(Clock::now());
    advance_commit();
    if (!stopping_seen()) start_queued();
    if (deliverer) deliverer->submit();
    for (Queue* queue : flushed) queue->flush();
  }
}

// Starts read messages, oldest first, while fewer than `concurrency` are in flight.
void ConsumerNode::Impl::start_queued() {
  std::uint32_t in_flight = 0;
  for (auto& slot : window) {
    if (slot->state != Slot::State::kQueued && slot->state != Slot::State::kDone) ++in_flight;
  }
  for (auto& slot : window) {
    if (in_flight >= config.concurrency) return;
    if (slot->state != Slot::State::kQueued) continue;
    start_slot(*slot);
    ++in_flight;
  }
}

ConsumerNode::ConsumerNode(std::shared_ptr<const NodeConfig> owner, const ConsumerNodeConfig& config,
                           std::vector<NodeOutput> outputs, std::optional<NodeOutput> dead_letter)
    : impl_(std::make_unique<Impl>(std::move(owner), config, std::move(outputs), dead_letter)) {}

ConsumerNode::~ConsumerNode() {
  stop();
  // Every call of the function has answered once its program is released.
  impl_->function.reset();
}

void ConsumerNode::start() {
  Impl& impl = *impl_;
  impl.started = true;
  if (impl.deliverer) impl.deliverer->start();
  impl.worker = std::thread([&impl] { impl.node_main(); });
  impl.reader = std::thread([&impl] { impl.reader_main(); });
}

void ConsumerNode::stop() {
  Impl& impl = *impl_;
  if (!impl.started || impl.stopped) return;
  impl.stopped = true;
  {
    std::lock_guard lock(impl.mu);
    impl.stopping = true;
  }
  impl.reader_cv.notify_all();
  impl.node_cv.notify_all();
  // Set `stopping` first: a reader that opens its consumer after this load sees it before polling.
  if (Consumer* consumer = impl.consumer_ptr.load()) consumer->stop();
  // Its requests in flight end now, each answered `stopped`, so the node thread can leave.
  if (impl.deliverer) impl.deliverer->stop();
  impl.reader.join();
  impl.worker.join();
  // Both threads are gone: the consumer is this thread's now. What finished is committed; the
  // rest is read again after a restart.
  if (impl.consumer && impl.commit_target) {
    try {
      impl.consumer->commit(*impl.commit_target);
    } catch (const std::exception& e) {
      log_error("node_commit_failed", {{"node", impl.config.name}, {"error", e.what()}});
    }
  }
  log_info("node_stopped", {{"node", impl.config.name},
                            {"committed", impl.consumer ? impl.consumer->committed() : 0}});
}

const std::string& ConsumerNode::name() const noexcept { return impl_->config.name; }
const std::string& ConsumerNode::input() const noexcept { return impl_->config.input; }
const NodeMetrics& ConsumerNode::metrics() const noexcept { return impl_->metrics; }
const ConsumerNodeConfig& ConsumerNode::config() const noexcept { return impl_->config; }
const Deliverer* ConsumerNode::deliverer() const noexcept { return impl_->deliverer.get(); }

void ConsumerNode::on_config_reloaded() {
  if (impl_->deliverer) impl_->deliverer->enable_disabled_endpoints();
}

std::string ConsumerNode::not_ready_reason() const {
  std::lock_guard lock(impl_->ready_mu);
  return impl_->not_ready.empty() ? std::string() : "node '" + impl_->config.name + "': " + impl_->not_ready;
}

namespace {

// inlet_delivery_attempts_total, inlet_delivery_duration_seconds, inlet_delivery_dead_letters_total
// and inlet_endpoint_state, for every endpoint of every delivery node.
void append_delivery_metrics(std::string& out, const std::vector<std::unique_ptr<ConsumerNode>>& nodes) {
  std::vector<std::pair<const ConsumerNode*, std::size_t>> endpoints;
  for (const auto& node : nodes) {
    if (node->deliverer() == nullptr) continue;
    for (std::size_t e = 0; e < node->config().endpoints.size(); ++e) endpoints.emplace_back(node.get(), e);
  }
  if (endpoints.empty()) return;
  const auto labels_of = [](const ConsumerNode& node, std::size_t e) {
    return "node=\"" + escape_label(node.name()) + "\",endpoint=\"" +
           escape_label(node.config().endpoints[e].name) + "\"";
  };
  append_metric_header(out, "inlet_delivery_attempts_total", "counter",
                       "Tries of a delivery endpoint, by how each ended.");
  for (const auto& [node, e] : endpoints) {
    const EndpointMetrics& m = node->deliverer()->metrics(e);
    for (std::size_t r = 0; r < static_cast<std::size_t>(AttemptOutcome::kCount); ++r) {
      append_sample(out, "inlet_delivery_attempts_total",
                    labels_of(*node, e) + ",result=\"" + std::string(kAttemptOutcomeNames[r]) + "\"",
                    m.attempts[r].get());
    }
  }
  append_metric_header(out, "inlet_delivery_dead_letters_total", "counter",
                       "Messages an endpoint did not take, sent to the node's dead letter.");
  for (const auto& [node, e] : endpoints) {
    append_sample(out, "inlet_delivery_dead_letters_total", labels_of(*node, e),
                  node->deliverer()->metrics(e).dead_letters.get());
  }
  append_metric_header(out, "inlet_endpoint_state", "gauge",
                       "1 for the endpoint's circuit state: closed, open (paused after failures) or "
                       "disabled (it answered 410 Gone).");
  for (const auto& [node, e] : endpoints) {
    const EndpointState state = node->deliverer()->metrics(e).state.load(std::memory_order_relaxed);
    for (std::size_t st = 0; st < static_cast<std::size_t>(EndpointState::kCount); ++st) {
      append_sample(out, "inlet_endpoint_state",
                    labels_of(*node, e) + ",state=\"" + std::string(kEndpointStateNames[st]) + "\"",
                    std::uint64_t{static_cast<std::size_t>(state) == st});
    }
  }
  append_metric_header(out, "inlet_delivery_duration_seconds", "histogram",
                       "One try of a delivery endpoint: connect (when no pooled connection is idle), "
                       "write and read the answer.");
  for (const auto& [node, e] : endpoints) {
    append_histogram(out, "inlet_delivery_duration_seconds", labels_of(*node, e),
                     node->deliverer()->metrics(e).duration);
  }
}

}  // namespace

void append_node_metrics(std::string& out, const std::vector<std::unique_ptr<ConsumerNode>>& nodes) {
  if (nodes.empty()) return;
  append_metric_header(out, "inlet_consumer_lag", "gauge",
                       "Messages of the input edge after the consumer's committed position.");
  for (const auto& node : nodes) {
    const std::int64_t lag = node->metrics().lag.load(std::memory_order_relaxed);
    if (lag < 0) continue;
    append_sample(out, "inlet_consumer_lag",
                  "edge=\"" + escape_label(node->input()) + "\",consumer=\"" + escape_label(node->name()) + "\"",
                  static_cast<std::uint64_t>(lag));
  }
  append_metric_header(out, "inlet_consumer_redelivered_total", "counter",
                       "Input messages delivered again after their ack wait (NATS); 0 for other queues.");
  for (const auto& node : nodes) {
    append_sample(out, "inlet_consumer_redelivered_total",
                  "edge=\"" + escape_label(node->input()) + "\",consumer=\"" + escape_label(node->name()) + "\"",
                  node->metrics().redelivered.load(std::memory_order_relaxed));
  }
  append_metric_header(out, "inlet_node_messages_total", "counter",
                       "Input messages by how they ended (failed counts each failed attempt).");
  for (const auto& node : nodes) {
    for (std::size_t r = 0; r < static_cast<std::size_t>(NodeResult::kCount); ++r) {
      append_sample(out, "inlet_node_messages_total",
                    "node=\"" + escape_label(node->name()) + "\",result=\"" + std::string(kNodeResultNames[r]) + "\"",
                    node->metrics().results[r].get());
    }
  }
  append_metric_header(out, "inlet_node_retries_total", "counter",
                       "Calls of a node's function repeated after a failure.");
  append_metric_header(out, "inlet_node_backpressure_total", "counter",
                       "Output stores refused (edge full or unavailable) and tried again.");
  for (const auto& node : nodes) {
    const std::string labels = "node=\"" + escape_label(node->name()) + "\"";
    append_sample(out, "inlet_node_retries_total", labels, node->metrics().retries.get());
    append_sample(out, "inlet_node_backpressure_total", labels, node->metrics().backpressure.get());
  }
  append_delivery_metrics(out, nodes);
  append_metric_header(out, "inlet_node_stage_duration_seconds", "histogram",
                       "A node's stages: the function call (a delivery node's: deliver, every try "
                       "and wait), storing the outputs, poll to done.");
  for (const auto& node : nodes) {
    for (std::size_t st = 0; st < static_cast<std::size_t>(NodeStage::kCount); ++st) {
      const bool delivering = st == static_cast<std::size_t>(NodeStage::kFunction) && node->deliverer() != nullptr;
      const std::string_view stage = delivering ? std::string_view("deliver") : kNodeStageNames[st];
      append_histogram(out, "inlet_node_stage_duration_seconds",
                       "node=\"" + escape_label(node->name()) + "\",stage=\"" + std::string(stage) + "\"",
                       node->metrics().stages[st]);
    }
  }
}

}  // namespace inlet::runtime
