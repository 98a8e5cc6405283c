// The Kafka side of the Consumer interface (kafka_queue.h): one rd_kafka_t consumer in a group,
// polled and committed from the consumer node's thread.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "runtime/log.h"
#include "runtime/message.h"
#include "runtime/queue/consumer.h"
#include "runtime/queue/kafka_queue.h"

namespace inlet::runtime {
namespace {

class KafkaConsumer final : public Consumer {
 public:
  KafkaConsumer(const KafkaQueueOptions& options, const std::string& group) : topic_(options.topic) {
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& name, const std::string& value) {
      if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error("kafka property " + name + ": " + errstr);
      }
    };
    set("bootstrap.servers", options.brokers);
    set("group.id", group);
    set("client.id", "inlet-" + group);
    set("auto.offset.reset", "earliest");
    set("reconnect.backoff.max.ms", "1000");
    for (const auto& [name, value] : options.properties) set(name, value);
    // At least once: nothing is committed but what the node has stored the outputs of.
    set("enable.auto.commit", "false");
    set("enable.auto.offset.store", "false");
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int err, const char* reason, void* opaque) {
      // Served by rd_kafka_consumer_poll, on the consumer's thread.
      if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        static_cast<KafkaConsumer*>(opaque)->down_ = std::string("kafka: ") + reason;
      }
    });
    rk_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("kafka consumer: ") + errstr);
    }
    rd_kafka_poll_set_consumer(rk_);
    rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic_.c_str(), RD_KAFKA_PARTITION_UA);
    const rd_kafka_resp_err_t err = rd_kafka_subscribe(rk_, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_destroy(rk_);
      throw std::runtime_error("kafka subscribe " + topic_ + ": " + rd_kafka_err2str(err));
    }
  }

  ~KafkaConsumer() override {
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
  }

  std::size_t poll(std::vector<ConsumedMessage>& out, std::size_t max,
                   std::chrono::milliseconds timeout) override {
    std::size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!down_.empty()) probe();
    // Short waits, so that stop() is seen within 100 ms.
    while (got < max && !stopped_.load(std::memory_order_acquire)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      const int wait = got > 0 ? 0 : static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 100));
      rd_kafka_message_t* message = rd_kafka_consumer_poll(rk_, wait);
      if (message == nullptr) {
        if (got > 0 || left.count() <= 0) break;
        continue;
      }
      if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) warn_failed(rd_kafka_message_errstr(message));
        rd_kafka_message_destroy(message);
        continue;
      }
      out.push_back(to_consumed(message));
      rd_kafka_message_destroy(message);
      down_.clear();
      ++got;
    }
    return got;
  }

  void commit(std::uint64_t position) override {
    // The highest offset per partition among the messages up to `position`. They leave the list
    // only once the commit succeeded, so that a retried commit() sends them again.
    std::map<std::int32_t, std::int64_t> next;
    std::size_t covered = 0;
    for (const Handed& h : handed_out_) {
      if (h.position > position) break;
      next[h.partition] = h.offset + 1;
      ++covered;
    }
    if (next.empty()) return;
    rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(static_cast<int>(next.size()));
    for (const auto& [partition, offset] : next) {
      rd_kafka_topic_partition_list_add(offsets, topic_.c_str(), partition)->offset = offset;
    }
    const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, offsets, /*async=*/0);
    rd_kafka_topic_partition_list_destroy(offsets);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("kafka commit on " + topic_ + ": " + rd_kafka_err2str(err));
    }
    committed_ = handed_out_[covered - 1].position + 1;
    handed_out_.erase(handed_out_.begin(), handed_out_.begin() + static_cast<std::ptrdiff_t>(covered));
  }

  std::uint64_t committed() const noexcept override { return committed_; }

  void stop() noexcept override { stopped_.store(true, std::memory_order_release); }

  std::string unreachable() const override { return down_; }

  // Over the partitions assigned to this member: the high watermark (as last fetched) less the
  // group's committed offset (asked of the coordinator, briefly), or the low watermark when none.
  std::optional<std::uint64_t> lag() override {
    rd_kafka_topic_partition_list_t* assigned = nullptr;
    if (rd_kafka_assignment(rk_, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    std::optional<std::uint64_t> total;
    if (assigned->cnt > 0 && rd_kafka_committed(rk_, assigned, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      total = 0;
      for (int i = 0; i < assigned->cnt; ++i) {
        const rd_kafka_topic_partition_t& p = assigned->elems[i];
        std::int64_t low = 0;
        std::int64_t high = 0;
        if (rd_kafka_get_watermark_offsets(rk_, p.topic, p.partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR || high < 0) {
          total.reset();
          break;
        }
        const std::int64_t from = p.offset >= 0 ? p.offset : low;
        if (high > from) *total += static_cast<std::uint64_t>(high - from);
      }
    }
    rd_kafka_topic_partition_list_destroy(assigned);
    return total;
  }

 private:
  // Every broker was down: no callback says they are back, so ask for the topic's metadata now
  // and then (briefly: this runs inside poll()).
  void probe() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_probe_) return;
    next_probe_ = now + std::chrono::seconds(1);
    rd_kafka_topic_t* topic = rd_kafka_topic_new(rk_, topic_.c_str(), nullptr);
    const struct rd_kafka_metadata* metadata = nullptr;
    if (rd_kafka_metadata(rk_, 0, topic, &metadata, 200) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_metadata_destroy(metadata);
      down_.clear();
    }
    rd_kafka_topic_destroy(topic);
  }

  struct Handed {
    std::uint64_t position;
    std::int32_t partition;
    std::int64_t offset;
  };

  void warn_failed(const char* reason) {
    if (throttle_.allow()) log_warn("kafka_consume_failed", {{"topic", topic_}, {"error", reason}});
  }

  ConsumedMessage to_consumed(const rd_kafka_message_t* message) {
    ConsumedMessage consumed;
    consumed.position = next_position_++;
    handed_out_.push_back({consumed.position, message->partition, message->offset});
    consumed.body.assign(static_cast<const char*>(message->payload), message->len);
    std::vector<AttributeField> fields;
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      std::size_t size = 0;
      for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                              RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        fields.push_back({name, std::string_view(static_cast<const char*>(value), value ? size : 0)});
      }
    }
    append_attributes_json(consumed.attributes, fields);
    return consumed;
  }

  std::string topic_;
  rd_kafka_t* rk_ = nullptr;
  std::deque<Handed> handed_out_;
  std::uint64_t next_position_ = 0;
  std::uint64_t committed_ = 0;
  std::atomic<bool> stopped_{false};
  LogThrottle throttle_;
  std::string down_;  // why no broker can be reached; empty when one can
  std::chrono::steady_clock::time_point next_probe_{};
};

}  // namespace

std::unique_ptr<Consumer> open_kafka_consumer(const KafkaQueueOptions& options, const std::string& group) {
  return std::make_unique<KafkaConsumer>(options, group);
}

}  // namespace inlet::runtime
