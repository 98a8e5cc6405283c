#include "runtime/queue/redis_queue.h"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <deque>
#include <span>
#include <thread>

#include "codecs/handoff_list.h"
#include "codecs/thread_name.h"
#include "runtime/log.h"

namespace inlet::runtime {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return !text.empty() && ec == std::errc() && ptr == end;
}

class RedisQueue final : public Queue {
 public:
  RedisQueue(const RedisQueueOptions& options, RedisAddress address)
      : options_(options),
        address_(std::move(address)),
        maxlen_(std::to_string(options.maxlen)),
        budget_ns_(std::int64_t{options.retry_budget_ms} * 1000000) {
    writer_ = std::thread([this] { run(); });
  }

  ~RedisQueue() override { close(); }

  void store(const Message& message, StoreCallback& callback) override {
    if (!available_.load(std::memory_order_acquire)) {
      callback.on_stored(StoreStatus::kUnavailable);
      return;
    }
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= options_.max_in_flight) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      callback.on_stored(StoreStatus::kFull);
      return;
    }
    auto* node = new Pending{nullptr, &message, &callback, now_ns()};
    pushed_list_.push(*node);
    pushed_.fetch_add(1, std::memory_order_release);
    pushed_.notify_one();
  }

  void close() override {
    if (closed_.exchange(true)) return;
    stop_.store(true, std::memory_order_release);
    pushed_.fetch_add(1, std::memory_order_release);
    pushed_.notify_all();
    if (writer_.joinable()) writer_.join();
    if (ctx_ != nullptr) redisFree(ctx_);
    ctx_ = nullptr;
  }

  bool ready() const noexcept override { return available_.load(std::memory_order_relaxed); }
  std::string_view type() const noexcept override { return "redis"; }

 private:
  struct Pending {
    Pending* next;
    const Message* message;
    StoreCallback* callback;
    std::int64_t enqueued_ns;
  };

  static constexpr std::size_t kBatch = 256;

  void finish(Pending* pending, StoreStatus status) {
    StoreCallback* callback = pending->callback;
    delete pending;
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    callback->on_stored(status);
  }

  // Moves everything pushed so far to the back of `waiting_`, oldest first.
  void take_pushed() {
    for (Pending* p = pushed_list_.take_all(); p != nullptr; p = p->next) waiting_.push_back(p);
  }

  void run() {
    codecs::name_this_thread("inlet-redis");
    // hiredis writes with write(): once Redis has gone, that raises SIGPIPE, which kills a process
    // that has not ignored it (the unit tests died of it under load). Blocked here, it stays
    // pending on this thread and write() answers EPIPE, which drops the connection as it should.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    std::chrono::milliseconds backoff{50};
    while (true) {
      const std::uint64_t observed = pushed_.load(std::memory_order_acquire);
      take_pushed();
      const bool stopping = stop_.load(std::memory_order_acquire);
      if (ctx_ != nullptr && !connection_alive()) drop_connection("connection closed by Redis");
      if (ctx_ == nullptr) {
        if (waiting_.empty() && stopping) break;
        if (connect()) {
          backoff = std::chrono::milliseconds{50};
          continue;
        }
        mark_down();
        expire_waiting();
        if (waiting_.empty() && stopping) break;
        sleep_unless_stopping(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds{1000});
        continue;
      }
      if (waiting_.empty()) {
        if (stopping) break;
        pushed_.wait(observed, std::memory_order_acquire);
        continue;
      }
      send_batch(std::min(kBatch, waiting_.size()));
    }
  }

  void sleep_unless_stopping(std::chrono::milliseconds total) {
    const auto until = Clock::now() + total;
    while (Clock::now() < until && !(stop_.load(std::memory_order_acquire) && waiting_.empty())) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
      take_pushed();
      mark_down();
      expire_waiting();
    }
  }

  // An idle connection that is readable has been closed (or reset) by the server: reconnect before
  // sending, so a Redis restart does not fail a batch that was never executed.
  bool connection_alive() {
    pollfd pfd{ctx_->fd, POLLIN, 0};
    if (::poll(&pfd, 1, 0) <= 0) return true;
    return (pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0;
  }

  bool connect() {
    const int timeout_ms =
        static_cast<int>(std::max<std::uint32_t>(options_.retry_budget_ms, 1000));
    redisContext* ctx = connect_redis(address_, std::chrono::milliseconds(timeout_ms), last_error_);
    if (ctx == nullptr) return false;
    ctx_ = ctx;
    if (down_since_ns_ != 0) log_info("redis_reconnected", {{"stream", options_.stream}});
    down_since_ns_ = 0;
    available_.store(true, std::memory_order_release);
    return true;
  }

  void mark_down() {
    const std::int64_t now = now_ns();
    if (down_since_ns_ == 0) {
      down_since_ns_ = now;
      log_warn("redis_unavailable", {{"stream", options_.stream}, {"reason", last_error_}});
    }
    if (now - down_since_ns_ >= budget_ns_ && available_.load(std::memory_order_relaxed)) {
      available_.store(false, std::memory_order_release);
      log_warn("redis_down_past_retry_budget", {{"stream", options_.stream}});
    }
  }

  void drop_connection(const char* reason) {
    last_error_ = reason;
    redisFree(ctx_);
    ctx_ = nullptr;
    mark_down();
  }

  void expire_waiting() {
    const std::int64_t deadline = now_ns() - budget_ns_;
    while (!waiting_.empty() && waiting_.front()->enqueued_ns <= deadline) {
      Pending* pending = waiting_.front();
      waiting_.pop_front();
      finish(pending, StoreStatus::kUnavailable);
    }
  }

  void append_xadd(const Message& m) {
    constexpr std::size_t kMaxArgs = 8 + 2 * (std::size(kTextAttributes) + std::size(kListAttributes));
    const char* argv[kMaxArgs];
    std::size_t lens[kMaxArgs];
    int argc = 0;
    auto arg = [&](std::string_view text) {
      argv[argc] = text.data();
      lens[argc] = text.size();
      ++argc;
    };
    auto field = [&](std::string_view name, std::string_view value) {
      arg(name);
      arg(value);
    };
    arg("XADD");
    arg(options_.stream);
    if (options_.maxlen != 0) {
      arg("MAXLEN");
      arg("~");
      arg(maxlen_);
    }
    arg("*");
    for_each_text_attribute(m, field);
    std::size_t lists_used = 0;
    for_each_list_attribute(m, [&](std::string_view name, std::span<const std::string> list) {
      std::string& text = lists_[lists_used++];
      text.clear();
      append_scopes_json(text, list);
      field(name, text);
    });
    field("body", m.body);
    // Copies the arguments into hiredis' output buffer, so lists_ may be reused.
    redisAppendCommandArgv(ctx_, argc, argv, lens);
  }

  void send_batch(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) append_xadd(*waiting_[i]->message);
    std::size_t answered = 0;
    for (; answered < count; ++answered) {
      void* raw = nullptr;
      if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) break;
      auto* reply = static_cast<redisReply*>(raw);
      const bool stored = reply->type == REDIS_REPLY_STRING;
      if (!stored) log_reply_error(reply);
      freeReplyObject(reply);
      Pending* pending = waiting_.front();
      waiting_.pop_front();
      finish(pending, stored ? StoreStatus::kStored : StoreStatus::kUnavailable);
    }
    if (answered == count) return;
    // Sent but unanswered: the XADD may or may not have run, so the client must retry.
    const std::string reason = ctx_->errstr;
    for (; answered < count; ++answered) {
      Pending* pending = waiting_.front();
      waiting_.pop_front();
      finish(pending, StoreStatus::kUnavailable);
    }
    drop_connection(reason.c_str());
  }

  void log_reply_error(const redisReply* reply) {
    const std::int64_t now = now_ns() / 1000000000;
    if (now == last_reply_error_s_) return;
    last_reply_error_s_ = now;
    const std::string_view text = reply->type == REDIS_REPLY_ERROR
                                      ? std::string_view(reply->str, reply->len)
                                      : "unexpected reply type";
    log_warn("redis_xadd_failed", {{"stream", options_.stream}, {"reason", text}});
  }

  const RedisQueueOptions options_;
  const RedisAddress address_;
  const std::string maxlen_;
  const std::int64_t budget_ns_;
  codecs::HandoffList<Pending, &Pending::next> pushed_list_;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<bool> available_{true};
  std::atomic<bool> stop_{false};
  std::atomic<bool> closed_{false};
  std::thread writer_;
  // Writer thread only.
  redisContext* ctx_ = nullptr;
  std::deque<Pending*> waiting_;
  std::int64_t down_since_ns_ = 0;
  std::int64_t last_reply_error_s_ = 0;
  std::string last_error_;
  std::string lists_[std::size(kListAttributes)];
};

}  // namespace

redisContext* connect_redis(const RedisAddress& address, std::chrono::milliseconds io_timeout,
                           std::string& error) {
  const timeval connect_timeout{1, 0};
  const auto ms = io_timeout.count();
  const timeval timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
  redisContext* ctx = address.unix_path.empty()
                          ? redisConnectWithTimeout(address.host.c_str(), address.port, connect_timeout)
                          : redisConnectUnixWithTimeout(address.unix_path.c_str(), connect_timeout);
  if (ctx == nullptr) {
    error = "cannot allocate a Redis connection";
    return nullptr;
  }
  if (ctx->err != 0) {
    error = ctx->errstr;
    redisFree(ctx);
    return nullptr;
  }
  redisSetTimeout(ctx, timeout);
  if (address.unix_path.empty()) redisEnableKeepAlive(ctx);
  auto command_ok = [&](redisReply* reply) {
    const bool ok = reply != nullptr && reply->type != REDIS_REPLY_ERROR;
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) error.assign(reply->str, reply->len);
    if (reply == nullptr) error = ctx->errstr;
    if (reply != nullptr) freeReplyObject(reply);
    return ok;
  };
  bool ok = true;
  if (!address.password.empty()) {
    ok = address.user.empty()
             ? command_ok(static_cast<redisReply*>(redisCommand(ctx, "AUTH %s", address.password.c_str())))
             : command_ok(static_cast<redisReply*>(
                   redisCommand(ctx, "AUTH %s %s", address.user.c_str(), address.password.c_str())));
  }
  if (ok && address.db != 0) {
    ok = command_ok(static_cast<redisReply*>(redisCommand(ctx, "SELECT %d", address.db)));
  }
  if (ok) ok = command_ok(static_cast<redisReply*>(redisCommand(ctx, "PING")));
  if (!ok) {
    redisFree(ctx);
    return nullptr;
  }
  return ctx;
}

std::optional<RedisAddress> parse_redis_url(const std::string& url, std::string& reason) {
  RedisAddress address;
  std::string_view rest = url;
  if (rest.starts_with("unix://")) {
    rest.remove_prefix(7);
    const std::size_t query = rest.find('?');
    address.unix_path = std::string(rest.substr(0, query));
    if (address.unix_path.empty() || address.unix_path[0] != '/') {
      reason = "unix socket URL needs an absolute path: unix:///path/to/redis.sock";
      return std::nullopt;
    }
    if (query != std::string_view::npos) {
      const std::string_view params = rest.substr(query + 1);
      if (!params.starts_with("db=") || !parse_number(params.substr(3), address.db) ||
          address.db < 0) {
        reason = "the only unix socket URL parameter is db=N";
        return std::nullopt;
      }
    }
    return address;
  }
  if (rest.starts_with("rediss://")) {
    reason = "TLS (rediss://) is not supported";
    return std::nullopt;
  }
  if (!rest.starts_with("redis://")) {
    reason = "must be redis://host[:port][/db] or unix:///path";
    return std::nullopt;
  }
  rest.remove_prefix(8);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!parse_number(db, address.db) || address.db < 0)) {
      reason = "the database after '/' must be a non-negative integer";
      return std::nullopt;
    }
  }
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      address.password = std::string(userinfo);
    } else {
      address.user = std::string(userinfo.substr(0, colon));
      address.password = std::string(userinfo.substr(colon + 1));
    }
  }
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      reason = "unterminated IPv6 address";
      return std::nullopt;
    }
    address.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (authority.starts_with(':')) port = authority.substr(1);
  } else {
    const std::size_t colon = authority.rfind(':');
    address.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (address.host.empty()) {
    reason = "the host is missing";
    return std::nullopt;
  }
  if (!port.empty() && (!parse_number(port, address.port) || address.port == 0)) {
    reason = "the port must be between 1 and 65535";
    return std::nullopt;
  }
  return address;
}

std::unique_ptr<Queue> open_redis_queue(const RedisQueueOptions& options) {
  std::string reason;
  std::optional<RedisAddress> address = parse_redis_url(options.url, reason);
  if (!address) throw std::runtime_error("redis url " + options.url + ": " + reason);
  return std::make_unique<RedisQueue>(options, std::move(*address));
}

}  // namespace inlet::runtime
