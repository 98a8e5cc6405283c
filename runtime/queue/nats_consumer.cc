// The NATS JetStream side of the Consumer interface (nats_queue.h): a durable pull consumer, used
// from the consumer node's reader thread. Positions are this process' own count of messages handed
// out (a redelivery gets a new one), each kept with its natsMsg until commit() acknowledges it.
#include <algorithm>
#include <cstdlib>
#include <atomic>
#include <deque>
#include <stdexcept>
#include <thread>

#include "runtime/log.h"
#include "runtime/message.h"
#include "runtime/queue/nats_connection.h"
#include "runtime/queue/nats_queue.h"

namespace inlet::runtime {
namespace {

// NATS names (streams, consumers) may not hold '.', '*', '>', whitespace or path separators.
std::string durable_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || static_cast<unsigned char>(c) <= ' ') c = '_';
  }
  return out;
}

class NatsConsumer final : public Consumer {
 public:
  NatsConsumer(const NatsQueueOptions& options, const std::string& durable)
      : options_(options), durable_(durable_name(durable)) {
    jsOptions js;
    jsOptions_Init(&js);
    js.Wait = 2000;
    connection_ = std::make_unique<NatsConnection>(options.connection, js);
  }

  ~NatsConsumer() override {
    for (auto& [position, msg] : handed_out_) natsMsg_Destroy(msg);
    if (subscription_ != nullptr) natsSubscription_Destroy(subscription_);
  }

  std::size_t poll(std::vector<ConsumedMessage>& out, std::size_t max,
                   std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopped_.load(std::memory_order_acquire)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (subscription_ == nullptr && !subscribe()) {
        if (left.count() <= 0) return 0;
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
        continue;
      }
      // Short fetches, so that stop() is seen within 100 ms.
      const std::int64_t wait = std::clamp<std::int64_t>(left.count(), 1, 100);
      natsMsgList list{};
      jsErrCode code = static_cast<jsErrCode>(0);
      const natsStatus status = natsSubscription_Fetch(&list, subscription_, static_cast<int>(max), wait, &code);
      if (status == NATS_OK) {
        unreachable_.clear();
        const std::size_t got = take(list, out);
        natsMsgList_Destroy(&list);
        if (got > 0) return got;
      } else {
        natsMsgList_Destroy(&list);
        if (status != NATS_TIMEOUT) {
          unreachable_ = "fetch from stream " + options_.stream + ": " + nats_error(status);
          if (throttle_.allow()) log_warn("nats_fetch_failed", {{"consumer", durable_}, {"reason", unreachable_}});
          if (!connection_->connected()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } else if (connection_->connected()) {
          unreachable_.clear();
        } else {
          unreachable_ = "no NATS server reachable";
        }
      }
      if (left.count() <= 0) return 0;
    }
    return 0;
  }

  void commit(std::uint64_t position) override {
    natsMsg* last = nullptr;
    while (!handed_out_.empty() && handed_out_.front().first <= position) {
      if (last != nullptr) {
        natsMsg_Ack(last, nullptr);
        natsMsg_Destroy(last);
      }
      last = handed_out_.front().second;
      handed_out_.pop_front();
    }
    if (last == nullptr) return;
    // The server handles one connection's acks in order: once the last is confirmed, all are.
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus status = natsMsg_AckSync(last, nullptr, &code);
    natsMsg_Destroy(last);
    if (status != NATS_OK && throttle_.allow()) {
      // At least once still holds: what was not acknowledged is delivered again after ack_wait.
      log_warn("nats_ack_failed", {{"consumer", durable_}, {"reason", nats_error(status)}});
    }
    committed_ = position + 1;
  }

  std::uint64_t committed() const noexcept override { return committed_; }

  std::optional<std::uint64_t> lag() override {
    if (subscription_ == nullptr) return std::nullopt;
    jsConsumerInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    if (natsSubscription_GetConsumerInfo(&info, subscription_, nullptr, &code) != NATS_OK) return std::nullopt;
    const std::uint64_t lag = info->NumPending + static_cast<std::uint64_t>(std::max<std::int64_t>(info->NumAckPending, 0));
    jsConsumerInfo_Destroy(info);
    return lag;
  }

  std::string unreachable() const override { return unreachable_; }

  std::uint64_t redelivered() const noexcept override { return redelivered_; }

  void stop() noexcept override { stopped_.store(true, std::memory_order_release); }

 private:
  bool subscribe() {
    jsSubOptions sub;
    jsSubOptions_Init(&sub);
    sub.Stream = options_.stream.c_str();
    sub.ManualAck = true;
    sub.Config.Durable = durable_.c_str();
    sub.Config.AckPolicy = js_AckExplicit;
    sub.Config.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.ack_wait).count();
    sub.Config.DeliverPolicy = js_DeliverAll;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus status = js_PullSubscribe(&subscription_, connection_->jetstream(), options_.subject.c_str(),
                                               durable_.c_str(), nullptr, &sub, &code);
    if (status == NATS_OK) {
      log_info("nats_consumer_subscribed", {{"stream", options_.stream}, {"consumer", durable_}});
      unreachable_.clear();
      return true;
    }
    subscription_ = nullptr;
    unreachable_ = "consumer " + durable_ + " on stream " + options_.stream + ": " + nats_error(status);
    if (throttle_.allow()) log_warn("nats_subscribe_failed", {{"reason", unreachable_}});
    return false;
  }

  std::size_t take(natsMsgList& list, std::vector<ConsumedMessage>& out) {
    std::size_t got = 0;
    for (int i = 0; i < list.Count; ++i) {
      natsMsg* msg = list.Msgs[i];
      list.Msgs[i] = nullptr;  // ours now, until commit()
      jsMsgMetaData* meta = nullptr;
      if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        if (meta->NumDelivered > 1) ++redelivered_;
        jsMsgMetaData_Destroy(meta);
      }
      ConsumedMessage& message = out.emplace_back();
      message.position = next_position_++;
      attributes(msg, message.attributes);
      message.body.assign(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
      handed_out_.emplace_back(message.position, msg);
      ++got;
    }
    return got;
  }

  // The headers that are the schema's attributes, as the producer wrote them.
  static void attributes(natsMsg* msg, std::string& out) {
    const char** keys = nullptr;
    int count = 0;
    std::vector<AttributeField> fields;
    if (natsMsgHeader_Keys(msg, &keys, &count) == NATS_OK) {
      for (int i = 0; i < count; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value != nullptr) {
          fields.push_back({keys[i], value});
        }
      }
    }
    out.clear();
    append_attributes_json(out, fields);
    free(static_cast<void*>(keys));
  }

  const NatsQueueOptions options_;
  const std::string durable_;
  std::unique_ptr<NatsConnection> connection_;
  natsSubscription* subscription_ = nullptr;
  std::deque<std::pair<std::uint64_t, natsMsg*>> handed_out_;
  std::uint64_t next_position_ = 1;
  std::uint64_t committed_ = 1;
  std::uint64_t redelivered_ = 0;
  std::string unreachable_;
  std::atomic<bool> stopped_{false};
  LogThrottle throttle_;
};

}  // namespace

std::unique_ptr<Consumer> open_nats_consumer(const NatsQueueOptions& options, const std::string& durable) {
  return std::make_unique<NatsConsumer>(options, durable);
}

}  // namespace inlet::runtime
