// The Redis Streams side of the Consumer interface (redis_queue.h), on one synchronous hiredis
// connection used from the consumer node's thread.
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <stdexcept>
#include <thread>

#include "runtime/log.h"
#include "runtime/message.h"
#include "runtime/queue/redis_queue.h"

namespace inlet::runtime {
namespace {

using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "inlet";
  return name;
}

class RedisConsumer final : public Consumer {
 public:
  RedisConsumer(const RedisQueueOptions& queue, const RedisConsumerOptions& options)
      : stream_(queue.stream),
        group_(options.group),
        consumer_(options.consumer.empty() ? host_name() : options.consumer),
        claim_after_(options.claim_after) {
    std::string reason;
    std::optional<RedisAddress> address = parse_redis_url(queue.url, reason);
    if (!address) throw std::runtime_error("redis url: " + reason);
    address_ = *address;
  }

  ~RedisConsumer() override {
    if (ctx_ != nullptr) redisFree(ctx_);
  }

  std::size_t poll(std::vector<ConsumedMessage>& out, std::size_t max,
                   std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopped_.load(std::memory_order_acquire)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (ctx_ == nullptr && !connect()) {
        if (left.count() <= 0) return 0;
        std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
        continue;
      }
      std::size_t got = 0;
      const std::string count = std::to_string(max);
      if (!own_pending_read_) {
        // Our own entries a crash left unacknowledged: they come first, in order.
        // An ID (not ">") reads our pending entries after it: the cursor moves past each batch.
        got = read_entries(command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT", count, "STREAMS",
                                    stream_, pending_cursor_}),
                           out, /*autoclaim=*/false);
        if (got > 0) pending_cursor_ = handed_out_.back().second;
        if (ctx_ == nullptr) continue;
        if (got == 0) own_pending_read_ = true;
      } else if (std::chrono::steady_clock::now() >= next_claim_) {
        next_claim_ = std::chrono::steady_clock::now() + std::max(claim_after_ / 2, std::chrono::milliseconds(50));
        got = read_entries(command({"XAUTOCLAIM", stream_, group_, consumer_, std::to_string(claim_after_.count()),
                                    claim_cursor_, "COUNT", count}),
                           out, /*autoclaim=*/true);
        if (ctx_ == nullptr) continue;
      }
      if (got == 0) {
        // Short blocks, so that stop() is seen within 100 ms.
        const auto block = std::clamp<std::int64_t>(left.count(), 1, 100);
        got = read_entries(command({"XREADGROUP", "GROUP", group_, consumer_, "COUNT", count, "BLOCK",
                                    std::to_string(block), "STREAMS", stream_, ">"}),
                           out, /*autoclaim=*/false);
      }
      if (got > 0) return got;
      if (left.count() <= 0) return 0;
    }
    return 0;
  }

  void commit(std::uint64_t position) override {
    // The entries leave the list only once XACK succeeded, so that a retried commit() sends them.
    std::vector<std::string> args = {"XACK", stream_, group_};
    std::uint64_t last = committed_;
    std::size_t covered = 0;
    for (const auto& [handed_position, id] : handed_out_) {
      if (handed_position > position) break;
      args.push_back(id);
      last = handed_position + 1;
      ++covered;
    }
    if (covered == 0) return;
    if (ctx_ == nullptr && !connect()) throw std::runtime_error("redis commit on " + stream_ + ": " + error_);
    Reply reply = command(args);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
      throw std::runtime_error("redis XACK on " + stream_ + ": " + (reply ? std::string(reply->str, reply->len) : error_));
    }
    committed_ = last;
    handed_out_.erase(handed_out_.begin(), handed_out_.begin() + static_cast<std::ptrdiff_t>(covered));
  }

  std::uint64_t committed() const noexcept override { return committed_; }

  void stop() noexcept override { stopped_.store(true, std::memory_order_release); }

  std::string unreachable() const override { return ctx_ == nullptr ? "redis: " + error_ : std::string(); }

  // XINFO GROUPS: the group's `lag` (entries not yet delivered to it; Redis 7) and `pending`
  // (delivered, not acknowledged). nullopt when Redis cannot tell (down, or the lag is unknown
  // after a deletion inside the stream).
  std::optional<std::uint64_t> lag() override {
    if (ctx_ == nullptr) return std::nullopt;
    Reply reply = command({"XINFO", "GROUPS", stream_});
    if (!reply || reply->type != REDIS_REPLY_ARRAY) return std::nullopt;
    for (std::size_t g = 0; g < reply->elements; ++g) {
      const redisReply* group = reply->element[g];
      if (group->type != REDIS_REPLY_ARRAY) continue;
      std::optional<std::uint64_t> lag;
      std::optional<std::uint64_t> pending;
      bool ours = false;
      for (std::size_t i = 0; i + 1 < group->elements; i += 2) {
        const std::string_view key(group->element[i]->str, group->element[i]->len);
        const redisReply* value = group->element[i + 1];
        if (key == "name" && value->type == REDIS_REPLY_STRING) ours = std::string_view(value->str, value->len) == group_;
        if (key == "lag" && value->type == REDIS_REPLY_INTEGER) lag = static_cast<std::uint64_t>(value->integer);
        if (key == "pending" && value->type == REDIS_REPLY_INTEGER) pending = static_cast<std::uint64_t>(value->integer);
      }
      if (ours && lag && pending) return *lag + *pending;
    }
    return std::nullopt;
  }

 private:
  bool connect() {
    ctx_ = connect_redis(address_, std::chrono::milliseconds(5000), error_);
    if (ctx_ == nullptr) {
      warn("redis_consumer_unavailable", error_);
      return false;
    }
    Reply created = command({"XGROUP", "CREATE", stream_, group_, "0", "MKSTREAM"});
    if (created && created->type == REDIS_REPLY_ERROR && std::string_view(created->str, created->len).rfind("BUSYGROUP", 0) != 0) {
      warn("redis_consumer_group_failed", std::string(created->str, created->len));
    }
    own_pending_read_ = false;  // what we had handed out may never have been acknowledged
    pending_cursor_ = "0";
    return ctx_ != nullptr;
  }

  Reply command(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (reply == nullptr) {
      error_ = ctx_->errstr;
      warn("redis_consumer_unavailable", error_);
      redisFree(ctx_);
      ctx_ = nullptr;
    }
    return Reply(reply, &freeReplyObject);
  }

  // XREADGROUP: [[stream, [entry...]]] or nil; XAUTOCLAIM: [cursor, [entry...], [deleted ids]].
  // An entry is [id, [field, value, ...]]; a nil field list is an entry trimmed before it was read.
  std::size_t read_entries(const Reply& reply, std::vector<ConsumedMessage>& out, bool autoclaim) {
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return 0;
    const redisReply* entries = nullptr;
    if (autoclaim) {
      if (reply->elements < 2) return 0;
      // Where the next claim goes on; "0-0" once the whole pending list was scanned.
      if (reply->element[0]->type == REDIS_REPLY_STRING) claim_cursor_.assign(reply->element[0]->str, reply->element[0]->len);
      entries = reply->element[1];
    } else {
      const redisReply* stream = reply->element[0];
      if (stream->type != REDIS_REPLY_ARRAY || stream->elements < 2) return 0;
      entries = stream->element[1];
    }
    if (entries->type != REDIS_REPLY_ARRAY) return 0;
    std::size_t got = 0;
    for (std::size_t i = 0; i < entries->elements; ++i) {
      const redisReply* entry = entries->element[i];
      if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2) continue;
      const std::string id(entry->element[0]->str, entry->element[0]->len);
      // A claim also takes our own entries idle past claim_after (a slow node): those are in
      // flight here already, and handing them out twice would only duplicate work.
      if (autoclaim && std::any_of(handed_out_.begin(), handed_out_.end(),
                                   [&](const auto& handed) { return handed.second == id; })) {
        continue;
      }
      const redisReply* fields = entry->element[1];
      if (fields->type != REDIS_REPLY_ARRAY) {
        // MAXLEN trimmed it before anyone read it: nothing to hand out. Said, never silent.
        warn("redis_entry_trimmed", id);
        command({"XACK", stream_, group_, id});
        continue;
      }
      ConsumedMessage message;
      message.position = next_position_++;
      std::vector<AttributeField> attributes;
      for (std::size_t f = 0; f + 1 < fields->elements; f += 2) {
        const std::string_view name(fields->element[f]->str, fields->element[f]->len);
        const std::string_view value(fields->element[f + 1]->str, fields->element[f + 1]->len);
        if (name == "body") {
          message.body.assign(value);
        } else {
          attributes.push_back({name, value});
        }
      }
      append_attributes_json(message.attributes, attributes);
      handed_out_.emplace_back(message.position, id);
      out.push_back(std::move(message));
      ++got;
    }
    return got;
  }

  void warn(std::string_view event, const std::string& reason) {
    if (throttle_.allow()) log_warn(event, {{"stream", stream_}, {"group", group_}, {"reason", reason}});
  }

  std::string stream_;
  std::string group_;
  std::string consumer_;
  std::chrono::milliseconds claim_after_;
  RedisAddress address_;
  redisContext* ctx_ = nullptr;
  std::string error_;
  bool own_pending_read_ = false;
  std::string pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  std::chrono::steady_clock::time_point next_claim_{};
  std::deque<std::pair<std::uint64_t, std::string>> handed_out_;
  std::uint64_t next_position_ = 0;
  std::uint64_t committed_ = 0;
  std::atomic<bool> stopped_{false};
  LogThrottle throttle_;
};

}  // namespace

std::unique_ptr<Consumer> open_redis_consumer(const RedisQueueOptions& queue,
                                              const RedisConsumerOptions& options) {
  if (options.group.empty()) throw std::invalid_argument("redis consumer: the group is required");
  return std::make_unique<RedisConsumer>(queue, options);
}

}  // namespace inlet::runtime
