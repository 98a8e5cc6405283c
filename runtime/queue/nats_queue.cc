#include "runtime/queue/nats_queue.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "codecs/handoff_list.h"
#include "codecs/thread_name.h"
#include "runtime/log.h"
#include "runtime/queue/nats_connection.h"

namespace inlet::runtime {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// A header value is one line: the line breaks a dead letter's error may hold become spaces.
const char* header_value(std::string& scratch, std::string_view value) {
  scratch.assign(value);
  std::replace_if(scratch.begin(), scratch.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return scratch.c_str();
}

class NatsQueue final : public Queue {
 public:
  explicit NatsQueue(const NatsQueueOptions& options)
      : options_(options),
        budget_ns_(std::int64_t{options.retry_budget_ms} * 1000000),
        subject_(options.subject) {
    jsOptions js;
    jsOptions_Init(&js);
    js.PublishAsync.MaxPending = options.max_in_flight;  // our own budget keeps below it
    js.PublishAsync.AckHandler = &NatsQueue::on_ack;
    js.PublishAsync.AckHandlerClosure = this;
    js.Wait = 2000;  // stream lookups
    connection_ = std::make_unique<NatsConnection>(options.connection, js);
    jsPubOptions_Init(&publish_options_);
    publish_options_.MaxWait = options.ack_timeout_ms;
    publisher_ = std::thread([this] { run(); });
    // Its own thread: a lookup waits up to js.Wait for an answer, and publishes must not wait.
    stream_checker_ = std::thread([this] { check_stream_until_ready(); });
  }

  ~NatsQueue() override { close(); }

  void store(const Message& message, StoreCallback& callback) override {
    store_deferred(message, callback);
    flush();
  }

  void store_deferred(const Message& message, StoreCallback& callback) override {
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= options_.max_in_flight) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      callback.on_stored(StoreStatus::kFull);
      return;
    }
    auto* pending = new Pending{nullptr, &message, &callback, now_ns() + budget_ns_, 0, 0};
    pushed_.push(*pending);
  }

  void flush() noexcept override { wake(); }

  void close() override {
    if (closed_.exchange(true)) return;
    stop_.store(true, std::memory_order_release);
    wake();
    if (publisher_.joinable()) publisher_.join();
    if (stream_checker_.joinable()) stream_checker_.join();
    // The connection closes with the queue (its destructor): ready() may still be asked.
  }

  bool ready() const noexcept override {
    return stream_ready_.load(std::memory_order_relaxed) && connection_->connected();
  }
  std::string_view type() const noexcept override { return "nats"; }

  void counters(std::vector<QueueCounter>& out) const override {
    out.push_back({"inlet_nats_publishes_total", "JetStream publishes sent, retries included.",
                   publishes_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_nats_retries_total",
                   "Publishes tried again after a failure or a PubAck timeout (same Nats-Msg-Id).",
                   retries_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_nats_duplicates_total",
                   "PubAcks that said the stream already had the Nats-Msg-Id (stored once).",
                   duplicates_.load(std::memory_order_relaxed)});
    out.push_back({"inlet_nats_unavailable_total",
                   "Messages answered unavailable: no PubAck within the retry budget.",
                   unavailable_.load(std::memory_order_relaxed)});
  }

 private:
  struct Pending {
    Pending* next;
    const Message* message;
    StoreCallback* callback;
    std::int64_t deadline_ns;  // the retry budget's end
    std::int64_t retry_at_ns;
    std::uint32_t tries;
  };

  static constexpr std::int64_t kIdleWake = 1000000000;

  void wake() noexcept {
    if (!sleeping_.load(std::memory_order_seq_cst)) return;
    std::lock_guard lock(sleep_mu_);
    sleep_cv_.notify_one();
  }

  void finish(Pending* pending, StoreStatus status) {
    StoreCallback* callback = pending->callback;
    delete pending;
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (status == StoreStatus::kUnavailable) unavailable_.fetch_add(1, std::memory_order_relaxed);
    callback->on_stored(status);
  }

  // Publisher thread.
  void run() {
    codecs::name_this_thread("inlet-nats");
    while (true) {
      for (Pending* p = pushed_.take_all(); p != nullptr;) {
        Pending* next = p->next;
        publish(p);
        p = next;
      }
      for (Pending* p = failed_.take_all(); p != nullptr;) {
        Pending* next = p->next;
        delayed_.push_back(p);
        p = next;
      }
      const std::int64_t now = now_ns();
      std::int64_t next_due = now + kIdleWake;
      for (std::size_t i = 0; i < delayed_.size();) {
        Pending* p = delayed_[i];
        if (p->retry_at_ns > now) {
          next_due = std::min(next_due, p->retry_at_ns);
          ++i;
          continue;
        }
        delayed_[i] = delayed_.back();
        delayed_.pop_back();
        retries_.fetch_add(1, std::memory_order_relaxed);
        publish(p);
      }
      if (stop_.load(std::memory_order_acquire) && in_flight_.load(std::memory_order_acquire) == 0) break;
      sleep_until(next_due);
    }
  }

  void sleep_until(std::int64_t due_ns) {
    std::unique_lock lock(sleep_mu_);
    sleeping_.store(true, std::memory_order_seq_cst);
    if (pushed_.empty() && failed_.empty() && !stop_.load(std::memory_order_acquire)) {
      const std::int64_t wait = std::max<std::int64_t>(due_ns - now_ns(), 0);
      sleep_cv_.wait_for(lock, std::chrono::nanoseconds(wait));
    } else if (stop_.load(std::memory_order_acquire) && pushed_.empty() && failed_.empty()) {
      // Stopping with messages still waiting for their PubAck: look again soon.
      sleep_cv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    sleeping_.store(false, std::memory_order_relaxed);
  }

  // Until the stream is there: publishes before then fail (no responders) and are tried again.
  void check_stream_until_ready() {
    codecs::name_this_thread("inlet-nats-check");
    std::string last_error;
    while (!stop_.load(std::memory_order_acquire)) {
      std::string error;
      if (ensure_nats_stream(connection_->jetstream(), options_, error)) {
        stream_ready_.store(true, std::memory_order_relaxed);
        log_info("nats_stream_ready", {{"stream", options_.stream}, {"subject", options_.subject}});
        return;
      }
      if (error != last_error) log_warn("nats_stream_unavailable", {{"stream", options_.stream}, {"reason", error}});
      last_error = error;
      for (int i = 0; i < 10 && !stop_.load(std::memory_order_acquire); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }

  natsMsg* build(const Message& message) {
    natsMsg* msg = nullptr;
    natsStatus status = natsMsg_Create(&msg, subject_.c_str(), nullptr, message.body.data(),
                                       static_cast<int>(message.body.size()));
    const std::string_view id = message.dedup_key.empty() ? message.tracking_id : message.dedup_key;
    if (status == NATS_OK) status = natsMsgHeader_Set(msg, "Nats-Msg-Id", header_value(scratch_, id));
    // The names are kTextAttributes' literals: NUL-terminated, as libnats wants them.
    for_each_text_attribute(message, [&](std::string_view name, std::string_view value) {
      if (status == NATS_OK) status = natsMsgHeader_Set(msg, name.data(), header_value(scratch_, value));
    });
    for_each_list_attribute(message, [&](std::string_view name, std::span<const std::string> list) {
      scratch_.clear();
      append_scopes_json(scratch_, list);
      if (status == NATS_OK) status = natsMsgHeader_Set(msg, name.data(), scratch_.c_str());
    });
    if (status == NATS_OK) return msg;
    natsMsg_Destroy(msg);
    failure_reason_ = nats_error(status);
    return nullptr;
  }

  void publish(Pending* pending) {
    ++pending->tries;
    natsMsg* msg = build(*pending->message);
    if (msg == nullptr) return retry_later(pending, failure_reason_);
    natsMsg* const key = msg;
    {
      std::lock_guard lock(by_message_mu_);
      by_message_.emplace(key, pending);
    }
    publishes_.fetch_add(1, std::memory_order_relaxed);
    const natsStatus status = js_PublishMsgAsync(connection_->jetstream(), &msg, &publish_options_);
    if (status == NATS_OK) return;  // libnats owns it now; on_ack hands it back
    {
      std::lock_guard lock(by_message_mu_);
      by_message_.erase(key);
    }
    natsMsg_Destroy(msg);
    retry_later(pending, nats_error(status));
  }

  // Any thread. Backs off 50 ms doubling to 1 s; a try that could not start before the budget
  // ends is answered at once rather than at the deadline.
  void retry_later(Pending* pending, std::string_view reason) {
    if (throttle_.allow()) {
      log_warn("nats_publish_failed", {{"stream", options_.stream}, {"tries", static_cast<int>(pending->tries)},
                                       {"reason", reason}});
    }
    const std::int64_t backoff = std::min<std::int64_t>(std::int64_t{50000000} << std::min(pending->tries - 1, 5u),
                                                        1000000000);
    pending->retry_at_ns = now_ns() + backoff;
    if (pending->retry_at_ns >= pending->deadline_ns) return finish(pending, StoreStatus::kUnavailable);
    failed_.push(*pending);
    wake();
  }

  // libnats' thread, once per published message: its PubAck, or its error (the server's, or no
  // PubAck within MaxWait).
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
    static_cast<NatsQueue*>(closure)->acked(msg, ack, error);
    natsMsg_Destroy(msg);
  }

  void acked(natsMsg* msg, const jsPubAck* ack, const jsPubAckErr* error) {
    Pending* pending = nullptr;
    {
      std::lock_guard lock(by_message_mu_);
      auto it = by_message_.find(msg);
      if (it == by_message_.end()) return;
      pending = it->second;
      by_message_.erase(it);
    }
    if (ack != nullptr) {
      if (ack->Duplicate) duplicates_.fetch_add(1, std::memory_order_relaxed);
      return finish(pending, StoreStatus::kStored);
    }
    std::string reason = error != nullptr ? nats_error(error->Err) : "no PubAck";
    if (error != nullptr && error->ErrText != nullptr && *error->ErrText != '\0' &&
        reason.find(error->ErrText) == std::string::npos) {
      reason += std::string(": ") + error->ErrText;
    }
    retry_later(pending, reason);
  }

  const NatsQueueOptions options_;
  const std::int64_t budget_ns_;
  const std::string subject_;
  std::unique_ptr<NatsConnection> connection_;
  jsPubOptions publish_options_;
  codecs::HandoffList<Pending, &Pending::next> pushed_;
  codecs::HandoffList<Pending, &Pending::next> failed_;  // from on_ack and the publisher
  std::mutex by_message_mu_;  // the publisher and libnats' PubAck thread
  std::unordered_map<natsMsg*, Pending*> by_message_;
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<bool> sleeping_{false};
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<bool> stream_ready_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::atomic<std::uint64_t> publishes_{0};
  std::atomic<std::uint64_t> retries_{0};
  std::atomic<std::uint64_t> duplicates_{0};
  std::atomic<std::uint64_t> unavailable_{0};
  LogThrottle throttle_;
  std::thread publisher_;
  std::thread stream_checker_;
  // Publisher thread only.
  std::vector<Pending*> delayed_;
  std::string scratch_;
  std::string failure_reason_;
};

}  // namespace

std::unique_ptr<Queue> open_nats_queue(const NatsQueueOptions& options) {
  return std::make_unique<NatsQueue>(options);
}

}  // namespace inlet::runtime
