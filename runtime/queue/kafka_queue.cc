#include "runtime/queue/kafka_queue.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "codecs/thread_name.h"
#include "runtime/log.h"

namespace inlet::runtime {
namespace {

class KafkaQueue final : public Queue {
 public:
  explicit KafkaQueue(const KafkaQueueOptions& options)
      : max_in_flight_(options.max_in_flight),
        delivery_timeout_ms_(options.delivery_timeout_ms) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& name, const std::string& value) {
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka property " + name + ": " + errstr);
      }
    };
    set("bootstrap.servers", options.brokers);
    set("enable.idempotence", "true");
    set("acks", "all");
    // The 200 waits for the delivery report, so linger is paid per request: under closed-loop load,
    // 1 ms measured 2.5x the request rate of librdkafka's default 5 ms (load batches anyway).
    set("linger.ms", "1");
    set("message.timeout.ms", std::to_string(options.delivery_timeout_ms));
    set("queue.buffering.max.messages",
        std::to_string(std::max<std::uint32_t>(100000, options.max_in_flight)));
    set("client.id", "inlet");
    // librdkafka's reconnect backoff doubles up to 10 s: after an outage, webhooks would keep
    // getting 503 for up to 10 s once the brokers are back. One second bounds that wait.
    set("reconnect.backoff.max.ms", "1000");
    for (const auto& [name, value] : options.properties) set(name, value);
    set("enable.idempotence", "true");
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &KafkaQueue::on_delivery);
    rd_kafka_conf_set_error_cb(conf, &KafkaQueue::on_error);
    rd_kafka_conf_set_log_cb(conf, &KafkaQueue::on_log);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka producer: ") + errstr);
    }
    rkt_ = rd_kafka_topic_new(rk_, options.topic.c_str(), nullptr);
    if (rkt_ == nullptr) {
      std::string reason = rd_kafka_err2str(rd_kafka_last_error());
      rd_kafka_destroy(rk_);
      throw std::runtime_error("kafka topic " + options.topic + ": " + reason);
    }
    poller_ = std::thread([this] {
      codecs::name_this_thread("inlet-kafka");
      while (!stop_.load(std::memory_order_acquire)) rd_kafka_poll(rk_, 100);
    });
  }

  ~KafkaQueue() override { close(); }

  void store(const Message& message, StoreCallback& callback) override {
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= max_in_flight_) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      callback.on_stored(StoreStatus::kFull);
      return;
    }
    thread_local std::string lists[std::size(kListAttributes)];  // headers are copied by produceva
    std::size_t lists_used = 0;
    const std::string_view key = message.key.empty() ? message.tracking_id : message.key;

    rd_kafka_vu_t vus[8 + std::size(kTextAttributes) + std::size(kListAttributes)];
    std::size_t n = 0;
    // The names are kTextAttributes' literals: NUL-terminated, as librdkafka wants them.
    auto header = [&](std::string_view name, std::string_view value) {
      vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
      vus[n].u.header = {name.data(), value.data(), static_cast<ssize_t>(value.size())};
      ++n;
    };
    vus[n].vtype = RD_KAFKA_VTYPE_RKT;
    vus[n++].u.rkt = rkt_;
    vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vus[n++].u.i = 0;  // the payload outlives the delivery report: no copy
    vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vus[n++].u.mem = {const_cast<char*>(message.body.data()), message.body.size()};
    vus[n].vtype = RD_KAFKA_VTYPE_KEY;
    vus[n++].u.mem = {const_cast<char*>(key.data()), key.size()};
    vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vus[n++].u.ptr = &callback;
    for_each_text_attribute(message, header);
    for_each_list_attribute(message, [&](std::string_view name, std::span<const std::string> list) {
      std::string& text = lists[lists_used++];
      text.clear();
      append_scopes_json(text, list);
      header(name, text);
    });

    rd_kafka_error_t* error = rd_kafka_produceva(rk_, vus, n);
    if (error == nullptr) return;
    const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      callback.on_stored(StoreStatus::kFull);
      return;
    }
    log_rate_limited("kafka_produce_failed", rd_kafka_err2str(code));
    callback.on_stored(StoreStatus::kUnavailable);
  }

  void close() override {
    if (closed_.exchange(true)) return;
    stop_.store(true, std::memory_order_release);
    if (poller_.joinable()) poller_.join();
    // Message timeouts bound how long librdkafka keeps a record, so this flush normally empties it.
    rd_kafka_flush(rk_, static_cast<int>(delivery_timeout_ms_) + 2000);
    if (rd_kafka_outq_len(rk_) > 0) {
      log_warn("kafka_close_purging", {{"messages", rd_kafka_outq_len(rk_)}});
      // Purged messages get a delivery report with an error, so every callback still fires once.
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_flush(rk_, 5000);
      rd_kafka_poll(rk_, 0);
    }
    rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
  }

  bool ready() const noexcept override { return !fatal_.load(std::memory_order_relaxed); }
  std::string_view type() const noexcept override { return "kafka"; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto* self = static_cast<KafkaQueue*>(opaque);
    auto* callback = static_cast<StoreCallback*>(message->_private);
    self->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      callback->on_stored(StoreStatus::kStored);
      return;
    }
    self->log_rate_limited("kafka_delivery_failed", rd_kafka_err2str(message->err));
    callback->on_stored(StoreStatus::kUnavailable);
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<KafkaQueue*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512];
      rd_kafka_fatal_error(rk, fatal, sizeof fatal);
      self->fatal_.store(true, std::memory_order_relaxed);
      log_error("kafka_fatal_error", {{"reason", std::string_view(fatal)}});
      return;
    }
    self->log_rate_limited("kafka_error", reason);
  }

  static void on_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
    if (level <= 3) {
      log_error("kafka_log", {{"facility", facility}, {"message", text}});
    } else if (level <= 4) {
      log_warn("kafka_log", {{"facility", facility}, {"message", text}});
    } else {
      log_debug("kafka_log", {{"facility", facility}, {"message", text}});
    }
  }

  // A broker outage fails thousands of messages at once.
  void log_rate_limited(std::string_view event, const char* reason) {
    if (throttle_.allow()) log_warn(event, {{"reason", reason}});
  }

  const std::uint32_t max_in_flight_;
  const std::uint32_t delivery_timeout_ms_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  std::thread poller_;
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::atomic<bool> fatal_{false};
  LogThrottle throttle_;
};

}  // namespace

std::unique_ptr<Queue> open_kafka_queue(const KafkaQueueOptions& options) {
  return std::make_unique<KafkaQueue>(options);
}

}  // namespace inlet::runtime
